//! Evaluation of a restoration generator on held-out faces: fidelity to the ground truth (PSNR,
//! SSIM), naturalness without reference (NIQE), identity preservation (cosine similarity of face
//! recognition embeddings) and shape (5-landmark error normalised by the inter-ocular distance),
//! each for the restored faces and for the bicubic baseline.

pub mod cli;
pub mod colour;
pub mod compare;
pub mod fidelity;
pub mod landmarks;
pub mod niqe;
pub mod real;
pub mod run;
