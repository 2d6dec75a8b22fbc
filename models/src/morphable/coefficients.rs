//! The coefficient vector a 3DMM regressor outputs, in Deep3DFaceRecon's order (`split_coeff` in
//! `models/bfm.py`; paper Sec. 3.1): identity α, expression β, albedo δ, then 3 Euler angles
//! (x, y, z, radians), 27 spherical-harmonics lighting values γ (3 channels × 9 bands, channel
//! major) and 3 translation values. For BFM09 that is 80 + 64 + 80 + 3 + 27 + 3 = 257; models
//! with other basis sizes shift the boundaries accordingly.

use super::{MorphableError, MorphableModel};

/// One face's coefficients, split into their parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Coefficients {
    /// Identity α, `K_id` values.
    pub id: Vec<f32>,
    /// Expression β, `K_exp` values.
    pub exp: Vec<f32>,
    /// Albedo δ, `K_tex` values.
    pub tex: Vec<f32>,
    /// Rotation angles about x, y, z in radians (rotation `(Rz·Ry·Rx)ᵀ`).
    pub angles: [f32; 3],
    /// SH lighting, reshaped by Deep3DFaceRecon to [3 channels, 9 bands] (0.8 is added to each
    /// channel's first band when shading).
    pub gamma: [f32; 27],
    /// Translation in model units.
    pub translation: [f32; 3],
}

impl Coefficients {
    /// Values after the three bases: 3 angles, 27 SH values, 3 translation values.
    pub const POSE_AND_LIGHT: usize = 3 + 27 + 3;

    /// Splits a coefficient vector for `model`; its length must be `model.coefficient_count()`.
    pub fn split(values: &[f32], model: &MorphableModel) -> Result<Self, MorphableError> {
        let (k_id, k_exp, k_tex) = (
            model.id_components(),
            model.exp_components(),
            model.tex_components(),
        );
        if values.len() != model.coefficient_count() {
            return Err(MorphableError::Coefficients {
                origin: model.source.clone(),
                what: "the coefficient vector",
                expected: format!(
                    "{} = {k_id} id + {k_exp} exp + {k_tex} tex + 3 angles + 27 gamma + 3 translation",
                    model.coefficient_count()
                ),
                found: values.len(),
            });
        }
        let (id, rest) = values.split_at(k_id);
        let (exp, rest) = rest.split_at(k_exp);
        let (tex, rest) = rest.split_at(k_tex);
        let (angles, rest) = rest.split_at(3);
        let (gamma, translation) = rest.split_at(27);
        Ok(Self {
            id: id.to_vec(),
            exp: exp.to_vec(),
            tex: tex.to_vec(),
            angles: angles.try_into().expect("3 values after the length check"),
            gamma: gamma.try_into().expect("27 values after the length check"),
            translation: translation
                .try_into()
                .expect("3 values after the length check"),
        })
    }

    /// The flat vector again, in the same order (what a regressor's output layer holds).
    pub fn to_vec(&self) -> Vec<f32> {
        [
            &self.id[..],
            &self.exp,
            &self.tex,
            &self.angles,
            &self.gamma,
            &self.translation,
        ]
        .concat()
    }
}
