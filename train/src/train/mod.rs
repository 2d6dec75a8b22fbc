//! Training (paper Sec. 3.3 / 4.1): losses, the GAN step, checkpoints, the loop and its loss
//! curve. Written against [`source::PairSource`]; [`shape`] adds the shape branch of the full
//! variant and its losses (L_lm, L_mesh).

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod curve;
pub mod losses;
pub mod prepared;
pub mod regressor_check;
pub mod regressor_fit;
pub mod run;
pub mod shape;
pub mod source;
pub mod trainer;
pub mod warm_start;

pub use run::{RunOptions, RunSummary, StopReason, run};
pub use source::{PairBatch, PairOrigin, PairSource, SyntheticSource};
pub use trainer::{StepLosses, TrainConfig, Trainer};

/// The device training runs on: burn's pure-Rust CPU backend with autodiff.
pub fn training_device() -> burn::prelude::Device {
    burn::prelude::Device::flex().autodiff()
}
