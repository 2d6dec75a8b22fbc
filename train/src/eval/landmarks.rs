//! Shape fidelity: the mean distance between the 5 landmarks the detector finds on the restored
//! face and on the ground truth, divided by the ground truth's inter-ocular distance (the usual
//! normalised mean error of landmark benchmarks, here with the detector as the measuring device).

/// Normalised mean error: mean over the 5 points of `|restored_i − hq_i|`, divided by the
/// distance between the HQ eyes (points 0 and 1). `None` when the HQ eyes coincide.
pub fn normalized_landmark_error(hq: &[[f32; 2]; 5], restored: &[[f32; 2]; 5]) -> Option<f64> {
    let d = |a: [f32; 2], b: [f32; 2]| {
        (f64::from(a[0] - b[0]).powi(2) + f64::from(a[1] - b[1]).powi(2)).sqrt()
    };
    let iod = d(hq[0], hq[1]);
    if iod <= f64::EPSILON {
        return None;
    }
    let mean = hq.iter().zip(restored).map(|(a, b)| d(*a, *b)).sum::<f64>() / 5.0;
    Some(mean / iod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_mean_distance_over_eye_distance() {
        let hq = [
            [10.0, 10.0],
            [30.0, 10.0],
            [20.0, 20.0],
            [12.0, 30.0],
            [28.0, 30.0],
        ];
        assert_eq!(normalized_landmark_error(&hq, &hq), Some(0.0));
        // Every point moved by (3, 4): distance 5, eye distance 20 → 0.25.
        let moved = hq.map(|p| [p[0] + 3.0, p[1] + 4.0]);
        assert!((normalized_landmark_error(&hq, &moved).unwrap() - 0.25).abs() < 1e-9);
        // Only the nose moved by 10: mean 2 → 0.1.
        let mut nose = hq;
        nose[2][0] += 10.0;
        assert!((normalized_landmark_error(&hq, &nose).unwrap() - 0.1).abs() < 1e-9);
        let degenerate = [[0.0; 2]; 5];
        assert_eq!(normalized_landmark_error(&degenerate, &hq), None);
    }
}
