//! Bad input gives a typed error that names the problem, never a panic.

use super::fixtures::{Scene, batch, device, face_field, renderer};
use crate::render::{DiffRenderError, FaceRenderer, Mesh};
use burn::prelude::*;
use sgpn_kernels::render::{Camera, RenderError};

fn shape_error(
    result: Result<impl std::fmt::Debug, DiffRenderError>,
) -> (&'static str, String, Vec<usize>) {
    match result {
        Err(DiffRenderError::Shape {
            what,
            expected,
            found,
        }) => (what, expected, found),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn a_triangle_index_past_the_vertices_is_refused() {
    let err = Mesh::new(vec![[0, 1, 2], [2, 3, 4]], 4).unwrap_err();
    assert_eq!(
        err,
        DiffRenderError::Kernel(RenderError::TriangleIndex {
            triangle: 1,
            index: 4,
            vertices: 4
        })
    );
    assert!(
        err.to_string().contains("triangle 1 refers to vertex 4"),
        "{err}"
    );
}

#[test]
fn an_invalid_camera_is_refused() {
    let mesh = Mesh::new(vec![[0, 1, 2]], 3).unwrap();
    let camera = Camera {
        focal: 0.0,
        ..Camera::d3dfr()
    };
    assert!(matches!(
        FaceRenderer::new(mesh, camera),
        Err(DiffRenderError::Kernel(RenderError::Camera {
            field: "focal",
            ..
        }))
    ));
}

#[test]
fn mismatched_shapes_name_the_input_and_the_expected_shape() {
    let (vertices, triangles) = face_field(6, 5);
    let v = vertices.len();
    let r = renderer(&triangles, v, 32);
    let device = device();
    let good = batch(
        &[Scene::lit(vertices.clone(), [0.0; 3], [0.0; 3], 1)],
        &device,
    );

    // A mesh of another size than the renderer's.
    let (other, _) = face_field(5, 5);
    let wrong = batch(&[Scene::lit(other, [0.0; 3], [0.0; 3], 1)], &device);
    let (what, expected, found) = shape_error(r.render(&wrong));
    assert_eq!(
        (what, expected.as_str(), found),
        ("vertices", "[N, 30, 3]", vec![1, 25, 3])
    );

    let mut faces = good.clone();
    faces.albedo = Tensor::cat(vec![good.albedo.clone(), good.albedo.clone()], 0);
    let (what, expected, found) = shape_error(r.render(&faces));
    assert_eq!(
        (what, expected.as_str(), found),
        ("albedo", "[1, 30, 3]", vec![2, v, 3])
    );

    let mut faces = good.clone();
    faces.gamma = good.gamma.clone().narrow(1, 0, 26);
    let (what, expected, found) = shape_error(r.render(&faces));
    assert_eq!(
        (what, expected.as_str(), found),
        ("gamma", "[1, 27]", vec![1, 26])
    );

    let mut faces = good.clone();
    faces.angles = good.angles.clone().narrow(1, 0, 2);
    assert_eq!(shape_error(r.render(&faces)).0, "angles");

    let mut faces = good.clone();
    faces.translation = Tensor::cat(vec![good.translation.clone(), good.translation.clone()], 0);
    assert_eq!(shape_error(r.render(&faces)).0, "translation");

    let screen = Tensor::<3>::zeros([1, v + 1, 3], &device);
    assert_eq!(shape_error(r.landmarks(screen, &[0])).0, "screen");
}

#[test]
fn non_finite_inputs_and_out_of_range_landmarks_are_refused() {
    let (vertices, triangles) = face_field(6, 5);
    let v = vertices.len();
    let r = renderer(&triangles, v, 32);
    let device = device();
    let good = batch(
        &[Scene::lit(vertices.clone(), [0.0; 3], [0.0; 3], 1)],
        &device,
    );

    let mut faces = good.clone();
    faces.translation =
        Tensor::from_data(TensorData::new(vec![0.0, f32::NAN, 0.0], [1, 3]), &device);
    assert_eq!(
        r.render(&faces).unwrap_err(),
        DiffRenderError::NonFinite {
            what: "translation"
        }
    );

    let mut faces = good.clone();
    faces.gamma = good.gamma.clone().add_scalar(f32::INFINITY);
    assert_eq!(
        r.render(&faces).unwrap_err(),
        DiffRenderError::NonFinite { what: "gamma" }
    );

    // A vertex on the camera plane projects to 0/0: the rasteriser names it.
    let mut on_plane = vertices.clone();
    on_plane[3] = [0.0, 0.0, Camera::d3dfr().distance];
    let faces = batch(&[Scene::lit(on_plane, [0.0; 3], [0.0; 3], 1)], &device);
    assert!(matches!(
        r.render(&faces),
        Err(DiffRenderError::Kernel(RenderError::NonFinite {
            what: "screen",
            index: 3,
            ..
        }))
    ));

    let screen = r.render(&good).unwrap().screen;
    assert_eq!(
        r.landmarks(screen, &[0, v as u32]).unwrap_err(),
        DiffRenderError::LandmarkIndex {
            landmark: 1,
            index: v as u32,
            vertices: v
        }
    );
}
