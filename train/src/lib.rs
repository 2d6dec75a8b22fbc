//! Training, export and evaluation of the SGPN networks (see docs/architecture.md).

pub mod calibrate;
pub mod data;
pub mod eval;
pub mod export;
pub mod gate;
pub mod identity;
pub mod linalg;
pub mod model;
pub mod morphable;
pub mod official;
pub mod render;
pub mod rewrite;
pub mod train;
