//! The shape branch against what full-variant training relies on: the 3DMM reconstruction is
//! the model's linear combination, flipped pairs get the mirrored teacher, `I_3d` follows the
//! render convention, the landmark loss vanishes only for identical faces, and `L_mesh` trains
//! the regressor.

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;
use sgpn_models::morphable::{Basis, CameraParams, MorphableModel};

use super::*;
use crate::model::regressor::{RegressorConfig, ShapeRegressor};
use crate::render::tests::fixtures::{device, face_field};

/// A symmetric face-like height field (26 × 18 grid, decimetre-ish units like BFM09) with one
/// identity direction (widen the face), one albedo direction (redden) and landmark vertices.
fn model() -> MorphableModel {
    let (vertices, triangles) = face_field(26, 18);
    let v = vertices.len();
    let mean_shape: Vec<f32> = vertices.iter().flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut widen = vec![0f32; 3 * v];
    let mut redden = vec![0f32; 3 * v];
    for (i, p) in vertices.iter().enumerate() {
        widen[3 * i] = 0.1 * p[0];
        redden[3 * i] = 0.1;
    }
    MorphableModel {
        source: "shape-branch test model".into(),
        mean_shape,
        id_basis: Basis {
            rows: 3 * v,
            components: 1,
            values: widen,
        },
        exp_basis: Basis {
            rows: 3 * v,
            components: 0,
            values: Vec::new(),
        },
        mean_albedo: vec![0.6; 3 * v],
        albedo_basis: Basis {
            rows: 3 * v,
            components: 1,
            values: redden,
        },
        triangles,
        landmarks: (0..v as u32).step_by(37).collect(),
        camera: CameraParams::D3DFR,
    }
}

/// Coefficients [N, K] (K = 1 id + 1 tex + 33), the face moved 2 units towards the camera;
/// each row gives (id, tex, yaw, x translation, red ambient light).
fn coefficients(rows: &[[f32; 5]], device: &Device) -> Tensor<2> {
    let mut values = Vec::new();
    for r in rows {
        let mut c = vec![0f32; 35];
        c[0] = r[0];
        c[1] = r[1];
        c[2 + 1] = r[2];
        c[2 + 3] = r[4];
        c[2 + 30] = r[3];
        c[2 + 32] = 2.0;
        values.extend(c);
    }
    Tensor::from_data(TensorData::new(values, [rows.len(), 35]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn reconstruction_is_the_linear_model() {
    let device = device();
    let m = model();
    let tensors = MorphableTensors::new(&m, &device);
    assert_eq!(tensors.coefficient_count(), m.coefficient_count());
    let faces = tensors.reconstruct(coefficients(
        &[[0.0; 5], [2.0, -1.0, 0.0, 0.0, 0.0]],
        &device,
    ));
    let shape = values(faces.vertices);
    let albedo = values(faces.albedo);
    let n = m.mean_shape.len();
    assert_eq!(&shape[..n], &m.mean_shape[..]);
    let expected = m.shape(&[2.0], &[]).unwrap();
    for (i, p) in expected.iter().enumerate() {
        for k in 0..3 {
            assert!((shape[n + 3 * i + k] - p[k]).abs() < 1e-6);
        }
    }
    let expected = m.albedo(&[-1.0]).unwrap();
    assert!((albedo[n] - expected[0][0]).abs() < 1e-6);
    assert!((albedo[n] - 0.5).abs() < 1e-6, "red of face 2 is 0.6 − 0.1");
}

#[test]
fn mirror_map_pairs_reflected_vertices() {
    let m = model();
    let mirror = mirror_map(&m);
    let cols = 26;
    for (i, &j) in mirror.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        assert_eq!(j as usize, r * cols + (cols - 1 - c), "vertex {i}");
        assert_eq!(mirror[j as usize] as usize, i, "the map is an involution");
    }
}

#[test]
fn flipped_pairs_get_the_mirrored_teacher() {
    let device = device();
    let m = model();
    let branch = ShapeBranch::new(&m, 64, &device).unwrap();
    let coeffs = coefficients(&[[1.0, 0.5, 0.2, 0.1, 0.3]; 2], &device);
    let t = branch.teacher_targets(coeffs, &[false, true]).unwrap();
    let shape = values(t.shape);
    let colours = values(t.colours);
    let screen = values(t.screen);
    let v = m.vertex_count();
    let mirror = mirror_map(&m);
    for (i, &j) in mirror.iter().enumerate() {
        let j = j as usize;
        let (a, b) = (3 * i, 3 * (v + j));
        assert!((shape[b] + shape[a]).abs() < 1e-5, "x is reflected");
        assert!((shape[b + 1] - shape[a + 1]).abs() < 1e-5);
        assert!((shape[b + 2] - shape[a + 2]).abs() < 1e-5);
        assert!((colours[b] - colours[a]).abs() < 1e-5);
        let (a, b) = (2 * i, 2 * (v + j));
        assert!(
            (screen[b] - (1.0 - screen[a])).abs() < 1e-5,
            "screen x is mirrored"
        );
        assert!((screen[b + 1] - screen[a + 1]).abs() < 1e-5);
    }
    // The yaw of 0.2 rad turns the face: the flipped face lands elsewhere on the screen.
    let differs = (0..2 * v).any(|k| (screen[k] - screen[2 * v + k]).abs() > 1e-3);
    assert!(differs);
}

#[test]
fn render_input_is_minus_one_off_the_face_and_in_range_on_it() {
    let device = device();
    let m = model();
    let branch = ShapeBranch::new(&m, 64, &device).unwrap();
    let faces = branch
        .morphable
        .reconstruct(coefficients(&[[0.0, 0.0, 0.0, 0.0, 0.0]], &device));
    let image = values(branch.render_input(&faces).unwrap());
    assert_eq!(image.len(), 3 * 64 * 64);
    assert!(image.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(image[0], -1.0, "the corner is background");
    let centre = 32 * 64 + 32;
    assert!(
        image[centre] > -0.9,
        "the face covers the centre: {}",
        image[centre]
    );
}

#[test]
fn landmark_loss_is_zero_for_the_same_face_and_reaches_the_restored_face() {
    let device = device();
    let m = model();
    let branch = ShapeBranch::new(&m, 64, &device).unwrap();
    let mut regressor =
        ShapeRegressor::new(&RegressorConfig::tiny(), m.coefficient_count(), 1, &device).unwrap();
    let bias = values(coefficients(&[[0.0; 5]], &device));
    regressor.set_output_bias(&bias).unwrap();
    // A trained regressor's last layer is not zero; small random weights stand in for it, so
    // the landmarks depend on the image.
    let [features, k] = regressor.fc_weight.dims();
    regressor.fc_weight = Param::from_tensor(Tensor::random(
        [features, k],
        burn::tensor::Distribution::Normal(0.0, 0.05),
        &device,
    ));
    let frozen = regressor.freeze();
    let hq = Tensor::<4>::random(
        [2, 3, 64, 64],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let same = branch
        .landmark_loss(&frozen, hq.clone(), hq.clone())
        .unwrap();
    assert!(values(same)[0] < 1e-5);
    let restored = hq.clone().flip([3]).require_grad();
    let loss = branch.landmark_loss(&frozen, restored.clone(), hq).unwrap();
    let loss_value = loss.clone();
    let grads = loss.backward();
    assert!(
        values(loss_value)[0] > 1e-4,
        "a mirrored face has other landmarks"
    );
    let g = restored
        .grad(&grads)
        .expect("the restored face gets a gradient");
    assert!(values(g.abs().sum())[0] > 0.0);
}

#[test]
fn mesh_loss_trains_the_regressor() {
    let device = device();
    let m = model();
    let branch = ShapeBranch::new(&m, 64, &device).unwrap();
    let regressor =
        ShapeRegressor::new(&RegressorConfig::tiny(), m.coefficient_count(), 1, &device).unwrap();
    let lq = Tensor::<4>::random(
        [2, 3, 64, 64],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let target = branch
        .teacher_targets(
            coefficients(&[[1.0, 0.5, 0.0, 0.0, 0.3]; 2], &device),
            &[false, false],
        )
        .unwrap()
        .detach();
    let seen = branch
        .mesh_targets(
            &branch
                .morphable
                .reconstruct(branch.regress(&regressor, lq).unwrap()),
        )
        .unwrap();
    let loss = seen.distance(&target, 1.0);
    assert!(values(loss.clone())[0] > 0.0);
    // The shape weight scales the shape term alone.
    let [shape, colours, screen] = seen.term_distances(&target).map(|t| values(t)[0]);
    assert!(shape > 0.0 && colours > 0.0 && screen > 0.0);
    let weighted = values(seen.distance(&target, 10.0))[0];
    let want = 10.0 * shape + colours + screen;
    assert!(
        (weighted - want).abs() <= 1e-5 * want,
        "{weighted} vs {want}"
    );
    let mut grads = loss.backward();
    let grads = GradientsParams::from_module(&mut grads, &regressor);
    assert!(
        !grads.is_empty(),
        "the regressor's parameters get gradients"
    );
}
