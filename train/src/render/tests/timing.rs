//! Forward + backward time at the small256 training size (468 vertices, 850 triangles, 256 px,
//! batch 4). Ignored by default: it measures, the other tests check. Run with
//! `cargo test -p sgpn-train --lib render::tests::timing -- --ignored --nocapture`.

use super::fixtures::{Scene, batch, device, face_field, renderer, values};
use crate::render::FaceBatch;
use std::time::Instant;

#[test]
#[ignore = "timing, run by hand"]
fn forward_and_backward_at_256_px_batch_4() {
    let (vertices, triangles) = face_field(26, 18);
    assert_eq!((vertices.len(), triangles.len()), (468, 850));
    let scenes: Vec<Scene> = (0..4)
        .map(|k| {
            Scene::lit(
                vertices.clone(),
                [0.05 * k as f32, -0.1, 0.0],
                [0.0, 0.0, 0.5],
                k,
            )
        })
        .collect();
    let r = renderer(&triangles, vertices.len(), 256);
    let mut times = Vec::new();
    for _ in 0..6 {
        let leaves = batch(&scenes, &device());
        let faces = FaceBatch {
            vertices: leaves.vertices.require_grad(),
            albedo: leaves.albedo.require_grad(),
            angles: leaves.angles.require_grad(),
            translation: leaves.translation.require_grad(),
            gamma: leaves.gamma.require_grad(),
        };
        let start = Instant::now();
        let out = r.render(&faces).unwrap();
        let forward = start.elapsed();
        let grads = out.image.mean().backward();
        let grad = values(&faces.vertices.grad(&grads).unwrap());
        let total = start.elapsed();
        assert!(grad.iter().all(|g| g.is_finite()) && grad.iter().any(|&g| g != 0.0));
        times.push((forward.as_secs_f64() * 1e3, total.as_secs_f64() * 1e3));
    }
    // The first run pays for allocation warm-up.
    let runs = &times[1..];
    let mean = |f: fn(&(f64, f64)) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    println!(
        "render 4 × 256 px, 468 vertices / 850 triangles: forward {:.1} ms, forward + backward {:.1} ms (mean of {})",
        mean(|t| t.0),
        mean(|t| t.1),
        runs.len()
    );
}
