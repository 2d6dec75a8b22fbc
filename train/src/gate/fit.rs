//! The gate's form, `α = max · sigmoid(w·f + b)`, and its fit: the weights that maximise the mean
//! PSNR gain over bicubic of the training faces, which is the number `eval` reports per stratum.
//! The mean of per-face dB gains (not the MSE over all faces) is what makes a nearly pristine
//! face count: a change of one grey level costs it more than a dB, while it barely moves the
//! summed squared error of a set dominated by blurred faces.

use super::stats::{FEATURE_NAMES, FEATURES, FaceStats};

/// The fitted gate.
#[derive(Clone, Debug, PartialEq)]
pub struct GateParams {
    pub weights: [f32; FEATURES],
    pub bias: f32,
    /// The largest gate value: 1 keeps the change at most as the network made it.
    pub max: f32,
}

impl GateParams {
    /// The gate value for one face's statistics.
    pub fn alpha(&self, features: &[f64; FEATURES]) -> f64 {
        let z = self.bias as f64
            + self
                .weights
                .iter()
                .zip(features)
                .map(|(&w, &f)| w as f64 * f)
                .sum::<f64>();
        self.max as f64 * sigmoid(z)
    }

    /// The text recorded in the model's metadata: every parameter, the weights named by their
    /// features.
    pub fn text(&self) -> String {
        let weights: Vec<String> = FEATURE_NAMES
            .iter()
            .zip(self.weights)
            .map(|(name, w)| format!("{name} {w}"))
            .collect();
        format!(
            "max {} bias {} weights: {}",
            self.max,
            self.bias,
            weights.join(", ")
        )
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The mean gain in dB of `faces` under `gate`.
pub fn mean_gain(faces: &[FaceStats], gate: impl Fn(&FaceStats) -> f64) -> f64 {
    faces.iter().map(|f| f.gain_db(gate(f))).sum::<f64>() / faces.len() as f64
}

/// Adam steps of the fit: the objective is smooth in six parameters, and the standardised
/// features make one learning rate fit all of them.
const STEPS: usize = 4000;
const LEARNING_RATE: f64 = 0.02;

/// Fits the gate to `faces` (scorable ones, at least two) with gate values up to `max`. Starts
/// from the ungated network (α = 1 where `max` allows it) and climbs the mean gain.
pub fn fit_gate(faces: &[FaceStats], max: f64) -> GateParams {
    let n = faces.len() as f64;
    // Standardise the features so one step size suits every weight.
    let mean: [f64; FEATURES] =
        std::array::from_fn(|k| faces.iter().map(|f| f.features[k]).sum::<f64>() / n);
    // A feature that does not vary over the faces says nothing about them: it gets no weight
    // (standardising it would blow rounding noise up into a weight).
    let sd: [Option<f64>; FEATURES] = std::array::from_fn(|k| {
        let v = faces
            .iter()
            .map(|f| (f.features[k] - mean[k]).powi(2))
            .sum::<f64>()
            / n;
        (v.sqrt() > 1e-6 * (1.0 + mean[k].abs())).then(|| v.sqrt())
    });
    let standard: Vec<[f64; FEATURES]> = faces
        .iter()
        .map(|f| std::array::from_fn(|k| sd[k].map_or(0.0, |sd| (f.features[k] - mean[k]) / sd)))
        .collect();
    // θ = (w_1..w_F, b); start where the gate is 1 (or as close as `max` allows).
    let start = (1.0 / max).clamp(0.01, 0.99);
    let mut theta = [0.0f64; FEATURES + 1];
    theta[FEATURES] = (start / (1.0 - start)).ln();
    let (mut m, mut v) = ([0.0f64; FEATURES + 1], [0.0f64; FEATURES + 1]);
    let (beta1, beta2) = (0.9f64, 0.999f64);
    let db = 10.0 / std::f64::consts::LN_10;
    for step in 1..=STEPS {
        let mut grad = [0.0f64; FEATURES + 1];
        for (face, f) in faces.iter().zip(&standard) {
            let z = theta[FEATURES] + (0..FEATURES).map(|k| theta[k] * f[k]).sum::<f64>();
            let s = sigmoid(z);
            let alpha = max * s;
            let gated = face.input_error + 2.0 * alpha * face.cross + alpha * alpha * face.change;
            // d gain / d α, then through the sigmoid.
            let dgain =
                -db * (2.0 * face.cross + 2.0 * alpha * face.change) / gated.max(f64::MIN_POSITIVE);
            let dz = dgain * max * s * (1.0 - s) / n;
            for k in 0..FEATURES {
                grad[k] += dz * f[k];
            }
            grad[FEATURES] += dz;
        }
        for k in 0..=FEATURES {
            // Ascent: the gain is maximised.
            m[k] = beta1 * m[k] + (1.0 - beta1) * grad[k];
            v[k] = beta2 * v[k] + (1.0 - beta2) * grad[k] * grad[k];
            let m_hat = m[k] / (1.0 - beta1.powi(step as i32));
            let v_hat = v[k] / (1.0 - beta2.powi(step as i32));
            theta[k] += LEARNING_RATE * m_hat / (v_hat.sqrt() + 1e-12);
        }
    }
    // Fold the standardisation back: w·(f − μ)/σ + b = (w/σ)·f + (b − Σ w μ/σ).
    let weights: [f64; FEATURES] = std::array::from_fn(|k| sd[k].map_or(0.0, |sd| theta[k] / sd));
    let bias = theta[FEATURES] - (0..FEATURES).map(|k| weights[k] * mean[k]).sum::<f64>();
    GateParams {
        weights: weights.map(|w| w as f32),
        bias: bias as f32,
        max: max as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::degrade::Severity;

    /// A face whose best gate is `best`, with the first feature telling it: sharp inputs
    /// (feature 1) should not be changed, blurred ones (feature 0) fully.
    fn face(sharp: bool) -> FaceStats {
        let (input_error, cross, change) = if sharp {
            // The change only adds error: best α 0.
            (1.0, 0.2, 0.5)
        } else {
            // The change removes most of the error: best α 1.
            (10.0, -4.0, 4.0)
        };
        FaceStats {
            severity: Severity::Moderate,
            features: [if sharp { 1.0 } else { 0.0 }, 0.3, -0.2, 0.1, 0.0],
            change,
            cross,
            input_error,
        }
    }

    #[test]
    fn the_fit_learns_to_leave_sharp_faces_alone_and_keep_the_change_elsewhere() {
        let faces: Vec<FaceStats> = (0..40).map(|i| face(i % 3 == 0)).collect();
        let ungated = mean_gain(&faces, |_| 1.0);
        let gate = fit_gate(&faces, 1.0);
        let fitted = mean_gain(&faces, |f| gate.alpha(&f.features));
        let oracle = mean_gain(&faces, |f| f.best_alpha(1.0));
        assert!(fitted > ungated + 0.5, "{fitted} vs ungated {ungated}");
        assert!(oracle - fitted < 0.05, "{fitted} vs oracle {oracle}");
        assert!(gate.alpha(&face(true).features) < 0.1);
        assert!(gate.alpha(&face(false).features) > 0.9);
    }
}
