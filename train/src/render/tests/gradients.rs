//! Gradients against central finite differences of the same forward pass.
//!
//! Visibility has no gradient by design (nvdiffrast without antialiasing), so the function the
//! gradient describes is the image with each pixel's visible triangle held fixed. To compare
//! against it, every check renders at x − h·u, x and x + h·u and keeps in the loss only the
//! pixels whose visible triangle (read from the reference z-buffer on each render's own screen
//! positions) is the same in all three: a pixel centre that an edge crosses between x − h·u and
//! x + h·u is a step, not a slope. The steps are kept small (≈0.006 px of screen motion) so that
//! such pixels are rare; the test asserts they are under 3 % of the covered pixels, so the
//! comparison always covers the face. The loss is a fixed random ±1 weighting of the image,
//! summed in f64.

use super::fixtures::{
    Scene, batch, covered, device, face_field, renderer, uv_sphere, values, visible_triangles,
};
use crate::render::{FaceBatch, FaceRenderer};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sgpn_kernels::render::NO_TRIANGLE;

/// Largest accepted |finite difference − gradient| relative to |gradient|.
const RELATIVE_TOLERANCE: f64 = 1e-2;

#[derive(Clone, Copy, Debug)]
enum Input {
    Vertices,
    Albedo,
    Angles,
    Translation,
    Gamma,
}

impl Input {
    fn len(self, scene: &Scene) -> usize {
        match self {
            Input::Vertices | Input::Albedo => 3 * scene.vertices.len(),
            Input::Angles | Input::Translation => 3,
            Input::Gamma => scene.gamma.len(),
        }
    }

    /// `scene` with this input moved by `step · direction`.
    fn moved(self, scene: &Scene, direction: &[f32], step: f32) -> Scene {
        let mut s = scene.clone();
        let shift = |values: &mut [f32]| {
            for (x, d) in values.iter_mut().zip(direction) {
                *x += step * d;
            }
        };
        match self {
            Input::Vertices => shift(s.vertices.as_flattened_mut()),
            Input::Albedo => shift(s.albedo.as_flattened_mut()),
            Input::Angles => shift(&mut s.angles),
            Input::Translation => shift(&mut s.translation),
            Input::Gamma => shift(&mut s.gamma),
        }
        s
    }

    fn grad(self, faces: &FaceBatch, grads: &burn::tensor::Gradients) -> Vec<f32> {
        let g = match self {
            Input::Vertices => faces.vertices.grad(grads).map(|g| values(&g)),
            Input::Albedo => faces.albedo.grad(grads).map(|g| values(&g)),
            Input::Angles => faces.angles.grad(grads).map(|g| values(&g)),
            Input::Translation => faces.translation.grad(grads).map(|g| values(&g)),
            Input::Gamma => faces.gamma.grad(grads).map(|g| values(&g)),
        };
        g.unwrap_or_else(|| panic!("no gradient reached {self:?}"))
    }
}

/// Renders `scene` and returns the image values and each pixel's visible triangle.
fn render(r: &FaceRenderer, scene: &Scene) -> (Vec<f32>, Vec<u32>) {
    let out = r
        .render(&batch(std::slice::from_ref(scene), &device()))
        .unwrap();
    (values(&out.image), visible_triangles(r, &out))
}

/// Compares the directional derivative along `direction` of a weighted image sum with its
/// central finite difference (step `h`); returns (finite difference, gradient).
fn directional(
    r: &FaceRenderer,
    scene: &Scene,
    input: Input,
    direction: &[f32],
    h: f32,
) -> (f64, f64) {
    let size = r.camera().size;
    let plane = size * size;
    let (_, ids) = render(r, scene);
    let (plus, ids_plus) = render(r, &input.moved(scene, direction, h));
    let (minus, ids_minus) = render(r, &input.moved(scene, direction, -h));
    let stable: Vec<bool> = (0..plane)
        .map(|p| ids[p] == ids_plus[p] && ids[p] == ids_minus[p])
        .collect();
    let flipped = stable.iter().filter(|s| !**s).count();
    assert!(
        flipped * 100 < 3 * covered(&ids),
        "{input:?}: {flipped} of {} pixels change triangle; step too large",
        covered(&ids)
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let weights: Vec<f32> = (0..3 * plane)
        .map(|i| {
            let w = if rng.random::<bool>() { 1.0 } else { -1.0 };
            if stable[i % plane] { w } else { 0.0 }
        })
        .collect();
    let fd = weights
        .iter()
        .zip(plus.iter().zip(&minus))
        .map(|(&w, (&a, &b))| f64::from(w) * (f64::from(a) - f64::from(b)))
        .sum::<f64>()
        / (2.0 * f64::from(h));

    let leaves = batch(std::slice::from_ref(scene), &device());
    let faces = FaceBatch {
        vertices: leaves.vertices.require_grad(),
        albedo: leaves.albedo.require_grad(),
        angles: leaves.angles.require_grad(),
        translation: leaves.translation.require_grad(),
        gamma: leaves.gamma.require_grad(),
    };
    let out = r.render(&faces).unwrap();
    let w = Tensor::<4>::from_data(TensorData::new(weights, [1, 3, size, size]), &device());
    let grads = (out.image * w).sum().backward();
    let grad = input.grad(&faces, &grads);
    let ad = grad
        .iter()
        .zip(direction)
        .map(|(&g, &d)| f64::from(g) * f64::from(d))
        .sum::<f64>();
    (fd, ad)
}

fn assert_close(what: &str, (fd, ad): (f64, f64)) {
    println!("{what}: finite difference {fd:.6}, gradient {ad:.6}");
    assert!(
        ad.abs() > 1e-3,
        "{what}: gradient {ad} is too small to check"
    );
    let err = (fd - ad).abs() / ad.abs();
    assert!(
        err < RELATIVE_TOLERANCE,
        "{what}: finite difference {fd} vs gradient {ad} (relative error {err:.2e})"
    );
}

fn random_direction(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| 2.0 * rng.random::<f32>() - 1.0).collect()
}

fn unit(len: usize, k: usize) -> Vec<f32> {
    (0..len).map(|i| if i == k { 1.0 } else { 0.0 }).collect()
}

/// The vertex whose screen position is nearest the image centre, among those some pixel sees.
fn central_vertex(r: &FaceRenderer, scene: &Scene) -> usize {
    let out = r
        .render(&batch(std::slice::from_ref(scene), &device()))
        .unwrap();
    let ids = visible_triangles(r, &out);
    let seen: std::collections::BTreeSet<u32> = ids
        .iter()
        .filter(|&&t| t != NO_TRIANGLE)
        .flat_map(|&t| r.mesh().triangles()[t as usize])
        .collect();
    let screen = values(&out.screen);
    let centre = r.camera().center;
    let dist = |i: u32| {
        let p = &screen[3 * i as usize..];
        (p[0] - centre).hypot(p[1] - centre)
    };
    seen.into_iter()
        .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
        .expect("something is visible") as usize
}

/// Every input group of one scene: random directions for the large ones, each axis of the pose,
/// and one vertex's three coordinates alone.
fn check_scene(name: &str, scene: &Scene, triangles: &[[u32; 3]], size: usize) {
    let r = renderer(triangles, scene.vertices.len(), size);
    // World-space steps of 3e-4 move screen points by ≈ f/z · 3e-4 ≈ 0.006 px at 40–48 px:
    // few pixel centres change triangle, and the curvature of the weights in the sphere's thin
    // silhouette triangles stays below the tolerance (at 1e-3 it reached 3.6 %).
    let h_pose = 3e-4;
    let h_linear = 1e-2;
    for (input, seed, h) in [
        (Input::Vertices, 11, h_pose),
        (Input::Albedo, 12, h_linear),
        (Input::Gamma, 13, h_linear),
    ] {
        let dir = random_direction(input.len(scene), seed);
        assert_close(
            &format!("{name} {input:?} (random direction)"),
            directional(&r, scene, input, &dir, h),
        );
    }
    for input in [Input::Angles, Input::Translation] {
        for k in 0..3 {
            let dir = unit(3, k);
            assert_close(
                &format!("{name} {input:?}[{k}]"),
                directional(&r, scene, input, &dir, h_pose),
            );
        }
    }
    let v = central_vertex(&r, scene);
    for k in 0..3 {
        let dir = unit(3 * scene.vertices.len(), 3 * v + k);
        assert_close(
            &format!("{name} vertex {v} axis {k}"),
            directional(&r, scene, Input::Vertices, &dir, h_pose),
        );
    }
}

#[test]
fn gradients_match_finite_differences_on_a_sphere() {
    let (vertices, triangles) = uv_sphere(1.0, 12, 24);
    let scene = Scene::lit(vertices, [0.2, -0.3, 0.1], [0.1, -0.1, 0.4], 21);
    check_scene("sphere", &scene, &triangles, 40);
}

#[test]
fn gradients_match_finite_differences_on_a_face_field() {
    let (vertices, triangles) = face_field(14, 12);
    let scene = Scene::lit(vertices, [-0.15, 0.25, 0.05], [0.0, 0.05, 0.3], 22);
    check_scene("face field", &scene, &triangles, 48);
}
