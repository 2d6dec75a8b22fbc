//! Colour fix: the coarse part of each restored face's change (restored − the crop the generator
//! was given) is removed, so the face keeps the input's colour and shading and gains only the
//! generator's detail.
//!
//! The paper's degradation (blur, downscaling, zero-mean noise, JPEG; Eq. 16) keeps a face's
//! colour at coarse scales, so a faithful restoration keeps it too. A generator's colour error
//! differs from face to face and across the face (after `sgpn-train calibrate-colour` removed its
//! average, the shipped full model still tints the carphone face by U +3.3 V −1.9 levels), so
//! neither a global offset nor a per-face mean removes it. As the colour fixes of face restoration
//! tools do (StableSR's wavelet fix, SUPIR), the low frequencies come from the input: the change is
//! averaged over [`CELLS_PER_SIDE`]² cells and that average, interpolated bilinearly between cell
//! centres, is subtracted (`sgpn_kernels::colour`, with its CUDA twin).

/// Whether faces get the colour fix unless the caller says.
pub const DEFAULT_COLOUR_FIX: bool = true;

pub use sgpn_kernels::colour::{CELLS_PER_SIDE, match_coarse_colour};
