//! The forward pass against the CPU reference: image, mask, pose, normals, landmarks; batches.

use super::fixtures::{
    Scene, batch, covered, device, face_field, flat, renderer, uv_sphere, values, visible_triangles,
};
use crate::render::normals::vertex_normals;
use crate::render::pose::rotation;
use burn::prelude::*;
use sgpn_kernels::render::{Camera, render_face, rotate};

/// Renders `scene` with both renderers and returns (largest |difference|, mean |difference|,
/// largest |value|, covered pixels), after asserting that the masks are identical.
fn compare_with_reference(
    scene: &Scene,
    triangles: &[[u32; 3]],
    size: usize,
) -> (f32, f32, f32, usize) {
    let camera = Camera::scaled(size);
    let reference = render_face(
        &scene.vertices,
        triangles,
        &scene.albedo,
        scene.angles,
        scene.translation,
        &scene.gamma,
        &camera,
    )
    .unwrap();
    let r = renderer(triangles, scene.vertices.len(), size);
    let out = r
        .render(&batch(std::slice::from_ref(scene), &device()))
        .unwrap();
    assert_eq!(out.image.dims(), [1, 3, size, size]);
    assert_eq!(out.mask.dims(), [1, 1, size, size]);
    assert_eq!(
        values(&out.mask),
        reference.mask,
        "coverage differs from the reference"
    );
    let image = values(&out.image);
    let plane = size * size;
    let mut worst = 0.0f32;
    let mut largest = 0.0f32;
    let mut sum = 0.0f64;
    for p in 0..plane {
        for c in 0..3 {
            let want = reference.image.data[3 * p + c];
            let diff = (image[c * plane + p] - want).abs();
            worst = worst.max(diff);
            sum += f64::from(diff);
            largest = largest.max(want.abs());
        }
    }
    (
        worst,
        (sum / (3 * plane) as f64) as f32,
        largest,
        reference.mask.iter().filter(|&&m| m == 1.0).count(),
    )
}

#[test]
fn forward_pass_equals_the_cpu_reference() {
    // A sphere (its far half hidden by the z-buffer) and a face-like height field, posed and lit.
    let (ball, ball_triangles) = uv_sphere(1.2, 16, 32);
    let (field, field_triangles) = face_field(26, 18);
    let cases = [
        (
            Scene::lit(ball, [0.3, -0.4, 0.2], [0.2, -0.1, 0.5], 1),
            ball_triangles,
            64,
        ),
        (
            Scene::lit(field, [-0.1, 0.35, -0.05], [0.0, 0.1, 0.0], 2),
            field_triangles,
            96,
        ),
    ];
    for (scene, triangles, size) in &cases {
        let (worst, mean, largest, pixels) = compare_with_reference(scene, triangles, *size);
        println!("{size} px: largest difference {worst}, mean {mean}, values up to {largest}");
        assert!(pixels > size * size / 5, "only {pixels} pixels covered");
        // The reference snaps vertices to 1/256 px; the smooth weights here do not, which moves
        // a colour by that snap relative to the triangle's size: largest in the sphere's thin
        // silhouette triangles (measured 3.5e-3 of the range), tiny on average.
        assert!(
            worst < 1e-2 * largest,
            "image differs by {worst} (values up to {largest})"
        );
        assert!(mean < 1e-4 * largest, "mean difference {mean}");
    }
}

#[test]
fn a_batch_of_two_faces_equals_two_single_runs() {
    let (vertices, triangles) = face_field(20, 14);
    let mut other = vertices.clone();
    for p in &mut other {
        p[2] *= 1.3;
    }
    let scenes = [
        Scene::lit(vertices, [0.1, 0.2, 0.0], [0.05, 0.0, 0.2], 3),
        Scene::lit(other, [-0.2, -0.3, 0.1], [-0.1, 0.1, -0.3], 4),
    ];
    let size = 48;
    let r = renderer(&triangles, scenes[0].vertices.len(), size);
    let both = r.render(&batch(&scenes, &device())).unwrap();
    let (image, mask) = (values(&both.image), values(&both.mask));
    let (screen, plane) = (values(&both.screen), size * size);
    let v = scenes[0].vertices.len();
    for (k, scene) in scenes.iter().enumerate() {
        let one = r
            .render(&batch(std::slice::from_ref(scene), &device()))
            .unwrap();
        assert_eq!(
            values(&one.mask),
            mask[k * plane..(k + 1) * plane],
            "face {k} mask"
        );
        let single = values(&one.image);
        let batched = &image[k * 3 * plane..(k + 1) * 3 * plane];
        let worst = single
            .iter()
            .zip(batched)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "face {k}: image differs by {worst}");
        let single = values(&one.screen);
        let batched = &screen[k * 3 * v..(k + 1) * 3 * v];
        let worst = single
            .iter()
            .zip(batched)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-4,
            "face {k}: screen positions differ by {worst} px"
        );
    }
    // The two faces differ, so the comparison is not vacuous.
    assert_ne!(mask[..plane], mask[plane..]);
}

#[test]
fn rotation_projection_and_landmarks_match_the_reference() {
    let (vertices, triangles) = uv_sphere(1.0, 8, 12);
    let angles = [[0.4, -0.7, 1.1], [-1.3, 0.2, -0.5]];
    let translation = [[0.3, -0.2, 0.6], [-0.1, 0.4, -0.8]];
    let device = device();
    let n = angles.len();
    let angle_tensor = Tensor::<2>::from_data(TensorData::new(flat(&angles), [n, 3]), &device);
    let rot = values(&rotation(angle_tensor.clone()));
    for (k, a) in angles.iter().enumerate() {
        let want = sgpn_kernels::render::rotation(*a);
        for i in 0..3 {
            for j in 0..3 {
                let got = rot[k * 9 + i * 3 + j];
                assert!(
                    (got - want[i][j]).abs() < 1e-6,
                    "face {k} rot[{i}][{j}]: {got} vs {}",
                    want[i][j]
                );
            }
        }
    }
    let r = renderer(&triangles, vertices.len(), 224);
    let v = vertices.len();
    let stacked: Vec<f32> = (0..n).flat_map(|_| flat(&vertices)).collect();
    let screen = r
        .project(
            Tensor::from_data(TensorData::new(stacked, [n, v, 3]), &device),
            angle_tensor,
            Tensor::from_data(TensorData::new(flat(&translation), [n, 3]), &device),
        )
        .unwrap();
    let picks = [0u32, 5, 17, v as u32 - 1];
    let landmarks = r.landmarks(screen, &picks).unwrap();
    assert_eq!(landmarks.dims(), [n, picks.len(), 2]);
    let got = values(&landmarks);
    let camera = Camera::d3dfr();
    for k in 0..n {
        let rot = sgpn_kernels::render::rotation(angles[k]);
        for (l, &i) in picks.iter().enumerate() {
            let moved = rotate(vertices[i as usize], &rot);
            let world = std::array::from_fn(|c| moved[c] + translation[k][c]);
            let want = camera.project(camera.to_camera(world));
            for c in 0..2 {
                let g = got[(k * picks.len() + l) * 2 + c];
                assert!(
                    (g - want[c]).abs() < 1e-3,
                    "face {k} landmark {l} axis {c}: {g} vs {}",
                    want[c]
                );
            }
        }
    }
}

#[test]
fn normals_match_the_reference_and_unused_vertices_get_zero() {
    let (mut vertices, mut triangles) = face_field(9, 7);
    vertices.push([3.0, 3.0, 3.0]); // used by no triangle
    triangles.reverse();
    let v = vertices.len();
    let device = device();
    let r = renderer(&triangles, v, 32);
    let tensor = Tensor::<3>::from_data(TensorData::new(flat(&vertices), [1, v, 3]), &device);
    let got = values(&vertex_normals(tensor, &r.mesh().corners(&device)));
    let want = sgpn_kernels::render::vertex_normals(&vertices, &triangles).unwrap();
    for (i, w) in want.iter().enumerate() {
        for c in 0..3 {
            assert!(
                (got[3 * i + c] - w[c]).abs() < 1e-5,
                "vertex {i} axis {c}: {} vs {}",
                got[3 * i + c],
                w[c]
            );
        }
    }
    assert_eq!(got[3 * (v - 1)..], [0.0; 3]);
}

#[test]
fn a_face_out_of_view_renders_black_with_an_empty_mask() {
    let (vertices, triangles) = uv_sphere(1.0, 6, 8);
    // Far to the side: every triangle lies outside the image.
    let scene = Scene::lit(vertices, [0.0; 3], [40.0, 0.0, 0.0], 5);
    let r = renderer(&triangles, scene.vertices.len(), 32);
    let out = r.render(&batch(&[scene], &device())).unwrap();
    assert_eq!(covered(&visible_triangles(&r, &out)), 0);
    assert!(values(&out.image).iter().all(|&x| x == 0.0));
    assert!(values(&out.mask).iter().all(|&x| x == 0.0));
}
