//! Training data: aligned face crops from the photo set (`prepare`), the paper's degradation
//! model that makes their low-quality twins (`degrade`, Eq. 16), and the pixel conversions between
//! them and the network tensors (`pixels`).
//!
//! Region images here are `image::Rgb32FImage` holding interleaved RGB `f32` on the 0..255 scale
//! (the project's `RgbImage` convention, docs/architecture.md), never the 0..1 scale the `image`
//! crate otherwise assumes for float pixels; [`pixels`] converts to and from `u8` and tensors.

pub mod blur;
pub mod cli;
pub mod degrade;
pub mod grid;
pub mod pixels;
pub mod prepare;
pub mod resize;
