//! The differentiable renderer against what its users check: the forward pass equals the CPU
//! reference, batches equal single runs, gradients equal finite differences, bad input gives
//! typed errors.

mod errors;
pub(crate) mod fixtures;
mod forward;
mod gradients;
mod timing;
