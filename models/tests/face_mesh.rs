//! The canonical face mesh and the 468-point face landmarker on real photos: the mesh's eyes,
//! nose and mouth corners land on RetinaFace's 5 landmarks, the presence score tells faces from
//! non-faces, batches give what single runs give, and broken files give errors naming them.
//!
//! Both files come from `scripts/setup-train.sh` (not run in CI): tests that need them print why
//! they skip when they are absent.

use std::path::{Path, PathBuf};

use sgpn_kernels::image::RgbImage;
use sgpn_models::face_mesh::{
    CROP_TEMPLATE, CanonicalMesh, CanonicalMeshError, FaceMesh, FaceMeshLandmarker, FaceRegion,
    MESH_TRIANGLES, MESH_VERTICES, NOSE_TIP, crop_template,
};
use sgpn_models::onnx::{Attribute, Dim, ElemType, GraphBuilder, OPSET, write_model};
use sgpn_models::{FaceDetector, ModelError, SessionConfig};

mod support;
use support::load_working_copy;

fn deps() -> PathBuf {
    std::env::var_os("SGPN_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps"))
}

fn cfg() -> SessionConfig {
    SessionConfig {
        intra_threads: 2,
        ..Default::default()
    }
}

/// The file at `.deps/models/<name>`, or `None` with the reason printed.
fn setup_train_file(name: &str) -> Option<PathBuf> {
    let path = deps().join("models").join(name);
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "skipped: {} is absent (it comes from ./scripts/setup-train.sh)",
            path.display()
        );
        None
    }
}

fn landmarker() -> Option<FaceMeshLandmarker> {
    let path = setup_train_file("face_landmark.onnx")?;
    Some(FaceMeshLandmarker::load(&path, &cfg()).unwrap())
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("face_mesh");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Largest distance between the mesh's 5 landmarks and RetinaFace's, over the inter-ocular
/// distance, per landmark.
fn landmark_errors(mesh: &FaceMesh, retina: &[[f32; 2]; 5]) -> [f32; 5] {
    let iod = distance(retina[0], retina[1]);
    let ours = mesh.five_landmarks();
    std::array::from_fn(|k| distance(ours[k], retina[k]) / iod)
}

#[test]
fn canonical_mesh_has_mediapipes_topology() {
    let Some(path) = setup_train_file("canonical_face_mesh.binarypb") else {
        return;
    };
    let mesh = CanonicalMesh::load(&path).unwrap();
    assert_eq!(mesh.vertices.len(), MESH_VERTICES);
    assert_eq!(mesh.uv.len(), MESH_VERTICES);
    assert_eq!(mesh.triangles.len(), MESH_TRIANGLES);
    assert!(
        mesh.triangles
            .iter()
            .flatten()
            .all(|&i| (i as usize) < MESH_VERTICES)
    );
    assert!(mesh.uv.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    // Every vertex is used by some triangle.
    let mut used = vec![false; MESH_VERTICES];
    mesh.triangles
        .iter()
        .flatten()
        .for_each(|&i| used[i as usize] = true);
    assert!(used.iter().all(|&u| u));

    // Consistent winding: in an orientable mesh whose triangles agree, each directed edge occurs
    // once, and an inner edge occurs once in each direction.
    let mut edges = std::collections::HashMap::new();
    for t in &mesh.triangles {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            *edges.entry((a, b)).or_insert(0) += 1;
        }
    }
    assert!(edges.values().all(|&n| n == 1), "a directed edge repeats");
    let paired = edges
        .keys()
        .filter(|(a, b)| edges.contains_key(&(*b, *a)))
        .count();
    assert!(
        paired * 100 > edges.len() * 95,
        "{paired} of {} edges paired",
        edges.len()
    );
    // ... and counter-clockwise seen from the camera (+z): the normals face the viewer.
    let facing = mesh
        .triangles
        .iter()
        .filter(|t| {
            let [a, b, c] = t.map(|i| mesh.vertices[i as usize]);
            let (u, v) = ([b[0] - a[0], b[1] - a[1]], [c[0] - a[0], c[1] - a[1]]);
            u[0] * v[1] - u[1] * v[0] > 0.0
        })
        .count();
    assert!(facing * 100 > MESH_TRIANGLES * 95, "{facing} face +z");

    // Mirror-symmetric, image-left eye at negative x, nose tip closest to the camera.
    let v = &mesh.vertices;
    assert!(v[33][0] < 0.0 && (v[33][0] + v[263][0]).abs() < 1e-4);
    assert!((v[33][1] - v[263][1]).abs() < 1e-4);
    let front = v.iter().map(|p| p[2]).fold(f32::MIN, f32::max);
    assert!(
        v[NOSE_TIP][2] > front - 0.2,
        "nose tip z {} vs {front}",
        v[NOSE_TIP][2]
    );
    assert!(!mesh.procrustes_weights.is_empty());

    // The landmarker's crop template is what the file says.
    for (got, want) in crop_template(&mesh).iter().zip(CROP_TEMPLATE) {
        assert!(distance(*got, want) < 2e-3, "{got:?} vs {want:?}");
    }
}

#[test]
fn broken_canonical_mesh_files_name_the_problem() {
    let missing = deps().join("models/no_such_mesh.binarypb");
    let err = CanonicalMesh::load(&missing).unwrap_err();
    assert!(matches!(err, CanonicalMeshError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("no_such_mesh.binarypb"), "{err}");

    // 0xff 0xff...: an unterminated varint key.
    let garbage = scratch("garbage.binarypb", &[0xff; 32]);
    let err = CanonicalMesh::load(&garbage).unwrap_err();
    assert!(matches!(err, CanonicalMeshError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("garbage.binarypb"), "{err}");

    // A well-formed message with one x-y-z-u-v vertex (field 1 { field 3: 5 fixed32 floats }).
    let mut mesh = Vec::new();
    for v in [0.0f32, 1.0, 2.0, 0.5, 0.5] {
        mesh.push(0x1d);
        mesh.extend_from_slice(&v.to_le_bytes());
    }
    let mut file = vec![0x0a, mesh.len() as u8];
    file.extend_from_slice(&mesh);
    let one_vertex = scratch("one_vertex.binarypb", &file);
    let err = CanonicalMesh::load(&one_vertex).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CanonicalMeshError::Layout { .. }), "{text}");
    assert!(
        text.contains("one_vertex.binarypb")
            && text.contains("2340 floats")
            && text.contains("found 5"),
        "{text}"
    );

    // No canonical mesh at all.
    let empty = scratch("empty.binarypb", &[]);
    let err = CanonicalMesh::load(&empty).unwrap_err();
    assert!(err.to_string().contains("canonical_mesh"), "{err}");
}

#[test]
fn mesh_lands_on_retinaface_landmarks_in_white_house_portraits() {
    let Some(mut lmk) = landmarker() else {
        return;
    };
    let mut det =
        FaceDetector::load(&deps().join("models/retinaface_mnet025.onnx"), &cfg()).unwrap();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let img = load_working_copy(&deps().join("data/whitehouse").join(name), 640);
        let faces = det.detect(&img, 0.8, 0.4).unwrap();
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let f = &faces[0];
        // Both framings in one batch: from the 5 landmarks, and from the box alone.
        let meshes = lmk
            .landmarks(
                &img,
                &[FaceRegion::Landmarks(f.landmarks), FaceRegion::Box(f.bbox)],
            )
            .unwrap();
        assert_eq!(meshes.len(), 2);
        for (mesh, framing) in meshes.iter().zip(["landmarks", "box"]) {
            assert_eq!(mesh.points.len(), MESH_VERTICES);
            let err = landmark_errors(mesh, &f.landmarks);
            println!(
                "{name} ({framing}): presence {:.2}, errors / IOD {err:.3?}",
                mesh.presence
            );
            assert!(
                mesh.presence_probability() > 0.9,
                "{name} {framing}: {mesh:?}"
            );
            // Eyes within 10 % of the inter-ocular distance, nose and mouth corners within 15 %.
            // Measured: eyes 2–9 %, nose 4–11 %, mouth corners 2–13 % (faces 80–200 px wide in
            // the 640 working copy, where 5 % is 2–5 px; RetinaFace's eye is the pupil, the
            // mesh's the mean of the eye corners, and the two place an open mouth's corners
            // differently).
            assert!(
                err[0] < 0.10 && err[1] < 0.10,
                "{name} {framing}: eyes {err:?}"
            );
            assert!(
                err[2..].iter().all(|&e| e < 0.15),
                "{name} {framing}: {err:?}"
            );
            // The nose tip is nearer the camera than the eye corners.
            let z = |i: usize| mesh.points[i][2];
            assert!(z(NOSE_TIP) < z(33).min(z(263)), "{name} {framing}");
        }
    }
}

#[test]
fn presence_is_low_where_there_is_no_face() {
    let Some(mut lmk) = landmarker() else {
        return;
    };
    let img = load_working_copy(&deps().join("data/whitehouse/obama.jpg"), 640);
    let mut grey = RgbImage::new(320, 320);
    grey.data.fill(128.0);
    // A flat grey image, and the photo's top-left corner (background, no face).
    let grey_mesh = &lmk
        .landmarks(&grey, &[FaceRegion::Box([100.0, 100.0, 220.0, 220.0])])
        .unwrap()[0];
    let background = &lmk
        .landmarks(&img, &[FaceRegion::Box([0.0, 0.0, 90.0, 90.0])])
        .unwrap()[0];
    println!(
        "presence: grey {}, background {}",
        grey_mesh.presence, background.presence
    );
    assert!(
        grey_mesh.presence_probability() < 0.1,
        "{}",
        grey_mesh.presence
    );
    assert!(
        background.presence_probability() < 0.1,
        "{}",
        background.presence
    );
}

#[test]
fn a_batch_gives_what_single_runs_give() {
    let Some(mut lmk) = landmarker() else {
        return;
    };
    let img = load_working_copy(&deps().join("data/whitehouse/biden.jpg"), 640);
    let mut det =
        FaceDetector::load(&deps().join("models/retinaface_mnet025.onnx"), &cfg()).unwrap();
    let f = det.detect(&img, 0.8, 0.4).unwrap().remove(0);
    // 18 regions: more than one batch of 16, each slightly shifted.
    let regions: Vec<FaceRegion> = (0..18)
        .map(|k| {
            let d = k as f32 * 0.7;
            FaceRegion::Landmarks(f.landmarks.map(|[x, y]| [x + d, y - d]))
        })
        .collect();
    let batched = lmk.landmarks(&img, &regions).unwrap();
    assert_eq!(batched.len(), regions.len());
    for (k, region) in regions.iter().enumerate() {
        let single = lmk
            .landmarks(&img, std::slice::from_ref(region))
            .unwrap()
            .remove(0);
        assert_eq!(single.crop_to_image, batched[k].crop_to_image);
        assert!(
            (single.presence - batched[k].presence).abs() < 1e-4,
            "face {k}"
        );
        let worst = single
            .points
            .iter()
            .zip(&batched[k].points)
            .flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "face {k}: {worst} px");
    }
    assert!(lmk.landmarks(&img, &[]).unwrap().is_empty());
}

#[test]
fn bad_regions_and_images_are_errors_naming_the_face() {
    let Some(mut lmk) = landmarker() else {
        return;
    };
    let img = RgbImage::new(64, 64);
    let ok = FaceRegion::Box([10.0, 10.0, 50.0, 50.0]);
    let bad = FaceRegion::Landmarks([[5.0, 5.0]; 5]);
    let err = lmk.landmarks(&img, &[ok, bad]).unwrap_err();
    assert!(matches!(err, ModelError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("face 1"), "{err}");
    let empty = RgbImage::new(0, 0);
    let err = lmk.landmarks(&empty, &[ok]).unwrap_err();
    assert!(err.to_string().contains("0x0"), "{err}");
}

/// A graph with MediaPipe's tensor names whose input batch is fixed at `batch` (or symbolic)
/// and whose input is named `input`: mean over the crop, then 1×1 convolutions to both outputs.
fn write_landmarker_lookalike(path: &Path, input: &str, batch: Option<i64>) {
    let n = batch.map_or_else(|| Dim::named("N"), Dim::Fixed);
    let mut g = GraphBuilder::new("landmarker_lookalike");
    g.input(
        input,
        ElemType::F32,
        &[n.clone(), Dim::Fixed(3), Dim::Fixed(192), Dim::Fixed(192)],
    );
    let pooled = g.fresh("pooled");
    g.node(
        "ReduceMean",
        &[input],
        &[&pooled],
        vec![
            Attribute::ints("axes", &[2, 3]),
            Attribute::int("keepdims", 1),
        ],
    );
    for (name, channels) in [("conv2d_20", 1404), ("conv2d_30", 1)] {
        let w = g.initializer("w", &[channels, 3, 1, 1], &vec![0.1; 3 * channels as usize]);
        g.node("Conv", &[&pooled, &w], &[name], vec![]);
        g.output(
            name,
            ElemType::F32,
            &[
                n.clone(),
                Dim::Fixed(channels),
                Dim::Fixed(1),
                Dim::Fixed(1),
            ],
        );
    }
    write_model(path, &g.finish(OPSET, &[])).unwrap();
}

#[test]
fn broken_landmarker_files_name_the_file_and_the_problem() {
    let missing = deps().join("models/no_such_landmarker.onnx");
    let err = FaceMeshLandmarker::load(&missing, &cfg()).err().unwrap();
    assert!(matches!(err, ModelError::Missing { .. }), "{err}");

    let garbage = scratch("garbage_landmarker.onnx", b"not an onnx model at all");
    let err = FaceMeshLandmarker::load(&garbage, &cfg()).err().unwrap();
    assert!(matches!(err, ModelError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("garbage_landmarker.onnx"), "{err}");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("face_mesh");
    std::fs::create_dir_all(&dir).unwrap();
    let fixed = dir.join("fixed_batch_landmarker.onnx");
    write_landmarker_lookalike(&fixed, "input_1", Some(1));
    let err = FaceMeshLandmarker::load(&fixed, &cfg()).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, ModelError::Contract { .. }), "{text}");
    assert!(
        text.contains("fixed_batch_landmarker.onnx") && text.contains("symbolic batch"),
        "{text}"
    );

    let renamed = dir.join("renamed_input_landmarker.onnx");
    write_landmarker_lookalike(&renamed, "image", None);
    let err = FaceMeshLandmarker::load(&renamed, &cfg()).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("'input_1'") && text.contains("'image'"),
        "{text}"
    );

    // The same graph with the right names and a symbolic batch passes the contract and runs.
    let good = dir.join("lookalike_landmarker.onnx");
    write_landmarker_lookalike(&good, "input_1", None);
    let mut lmk = FaceMeshLandmarker::load(&good, &cfg()).unwrap();
    let mut white = RgbImage::new(200, 200);
    white.data.fill(255.0);
    let meshes = lmk
        .landmarks(&white, &[FaceRegion::Box([80.0, 80.0, 120.0, 120.0]); 2])
        .unwrap();
    // Mean input 1.0 on 3 channels × weight 0.1 = 0.3 per output.
    assert!(meshes.iter().all(|m| (m.presence - 0.3).abs() < 1e-5));
}
