//! The 3D morphable model: the BFM09 loader on synthetic files in the `BFM_model_front.mat` layout
//! (same keys, orientations, mixed dtypes and 1-based indices as Deep3DFaceRecon's file, but 30
//! vertices), the formula it must reproduce, the safetensors round trip, the coefficient split, and
//! one clear error per kind of broken input. No real BFM file is available to CI.

use std::path::{Path, PathBuf};

use sgpn_models::mat::MatError;
use sgpn_models::morphable::{CameraParams, Coefficients, MorphableError, MorphableModel};

use sgpn_models::fixtures::mat_writer::{self, Array, Class};

/// Synthetic model size: a 6×5 vertex grid, the real file's basis widths and 68 keypoints.
const COLS: usize = 6;
const ROWS: usize = 5;
const V: usize = COLS * ROWS;
const K_ID: usize = 80;
const K_EXP: usize = 64;
const K_TEX: usize = 80;
const LANDMARKS: usize = 68;

/// Defining values of the synthetic file (dyadic fractions, exact in f32).
fn meanshape(r: usize) -> f64 {
    let (v, axis) = (r / 3, r % 3);
    let (col, row) = ((v % COLS) as f64, (v / COLS) as f64);
    [
        col * 0.5 + 1.0,
        row * 0.25 - 2.0,
        ((v % 3) as f64) * 0.125 + 3.0,
    ][axis]
}
fn id_base(r: usize, k: usize) -> f64 {
    ((r * 7 + k * 13) % 17) as f64 / 64.0 - 0.125
}
fn ex_base(r: usize, k: usize) -> f64 {
    ((r * 5 + k * 11) % 19) as f64 / 128.0 - 0.0625
}
fn meantex(r: usize) -> f64 {
    (100 + r * 37 % 101) as f64
}
fn tex_base(r: usize, k: usize) -> f64 {
    ((r * 3 + k * 7) % 23) as f64 - 11.0
}
/// 1-based triangles of the grid, two per cell.
fn grid_triangles() -> Vec<[usize; 3]> {
    let at = |col: usize, row: usize| row * COLS + col + 1;
    let mut t = Vec::new();
    for row in 0..ROWS - 1 {
        for col in 0..COLS - 1 {
            t.push([at(col, row), at(col, row + 1), at(col + 1, row)]);
            t.push([at(col + 1, row), at(col, row + 1), at(col + 1, row + 1)]);
        }
    }
    t
}
/// 1-based keypoints; BFM09 has 68, here they wrap around the 30 vertices.
fn keypoint(i: usize) -> usize {
    (i * 7) % V + 1
}

fn array(
    name: &str,
    rows: usize,
    cols: usize,
    class: Class,
    f: impl Fn(usize, usize) -> f64,
) -> Array {
    Array {
        name: name.to_string(),
        rows,
        cols,
        class,
        row_major: (0..rows * cols).map(|i| f(i / cols, i % cols)).collect(),
    }
}

/// The arrays of a `BFM_model_front.mat` as Deep3DFaceRecon's `transferBFM09` saves them:
/// means as 1×3V rows, bases 3V×K, 1-based `tri`, `keypoints`, `point_buf`, and the training
/// masks. Dtypes vary as in real files (single bases, a double expression basis, int32 indices).
fn bfm_arrays() -> Vec<Array> {
    let tri = grid_triangles();
    vec![
        array("meanshape", 1, 3 * V, Class::Single, |_, c| meanshape(c)),
        array("idBase", 3 * V, K_ID, Class::Single, id_base),
        array("exBase", 3 * V, K_EXP, Class::Double, ex_base),
        array("meantex", 1, 3 * V, Class::Single, |_, c| meantex(c)),
        array("texBase", 3 * V, K_TEX, Class::Single, tex_base),
        array("tri", tri.len(), 3, Class::Int32, |r, c| tri[r][c] as f64),
        array("keypoints", LANDMARKS, 1, Class::Double, |r, _| {
            keypoint(r) as f64
        }),
        array("point_buf", V, 8, Class::Int32, |r, c| {
            ((r + c) % tri.len() + 1) as f64
        }),
        array("tri_mask2", 2, 3, Class::Double, |r, c| tri[r][c] as f64),
        array("frontmask2_idx", V, 1, Class::Double, |r, _| (r + 1) as f64),
        array("skinmask", 1, V, Class::Uint8, |_, c| (c % 2) as f64),
    ]
}

fn encode(arrays: &[Array], compressed: bool) -> Vec<u8> {
    let mut elements: Vec<Vec<u8>> = arrays.iter().map(mat_writer::numeric).collect();
    elements.insert(1, mat_writer::text("note", "synthetic BFM09 front layout"));
    mat_writer::file(&elements, compressed)
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn synthetic_model(name: &str) -> (PathBuf, MorphableModel) {
    let path = scratch(name, &encode(&bfm_arrays(), false));
    let model = MorphableModel::load_bfm09_front(&path).unwrap();
    (path, model)
}

/// A 257-vector: α₀ = 2, α₇₉ = −0.5, β₃ = −1, δ₁ = 0.5, pose and light arbitrary.
fn coefficients() -> Vec<f32> {
    let mut c = vec![0.0f32; K_ID + K_EXP + K_TEX + 33];
    c[0] = 2.0;
    c[K_ID - 1] = -0.5;
    c[K_ID + 3] = -1.0;
    c[K_ID + K_EXP + 1] = 0.5;
    for (i, v) in c[K_ID + K_EXP + K_TEX..].iter_mut().enumerate() {
        *v = i as f32 * 0.01;
    }
    c
}

#[test]
fn bfm_front_file_gives_the_shape_and_albedo_of_the_formula() {
    let (_, model) = synthetic_model("front.mat");
    assert_eq!(model.vertex_count(), V);
    assert_eq!(
        (
            model.id_components(),
            model.exp_components(),
            model.tex_components()
        ),
        (K_ID, K_EXP, K_TEX)
    );
    assert_eq!(model.coefficient_count(), 257);
    assert_eq!(model.camera, CameraParams::D3DFR);
    assert_eq!(model.camera.focal, 1015.0);
    assert!(model.source.contains("front.mat"), "{}", model.source);

    let c = Coefficients::split(&coefficients(), &model).unwrap();
    let shape = model.shape(&c.id, &c.exp).unwrap();
    let albedo = model.albedo(&c.tex).unwrap();
    assert_eq!((shape.len(), albedo.len()), (V, V));

    // Hand check of vertex 7 (rows 21..24): recentred mean + 2·B_id[:,0] − 0.5·B_id[:,79]
    // − B_exp[:,3]; albedo (T̄ + 0.5·B_t[:,1]) / 255.
    let centroid: Vec<f64> = (0..3)
        .map(|axis| (0..V).map(|v| meanshape(3 * v + axis)).sum::<f64>() / V as f64)
        .collect();
    for axis in 0..3 {
        let r = 3 * 7 + axis;
        let expected = meanshape(r) - centroid[axis] + 2.0 * id_base(r, 0)
            - 0.5 * id_base(r, K_ID - 1)
            - ex_base(r, 3);
        assert!(
            (shape[7][axis] as f64 - expected).abs() < 1e-6,
            "vertex 7 axis {axis}: {} vs {expected}",
            shape[7][axis]
        );
        let expected_albedo = (meantex(r) + 0.5 * tex_base(r, 1)) / 255.0;
        assert!((albedo[7][axis] as f64 - expected_albedo).abs() < 1e-6);
    }
    // Vertex 7 in numbers: mean (1.5, −1.75, 3.125) minus the centroid (2.25, −1.5, 3.125).
    let mean = model.shape(&[0.0; K_ID], &[0.0; K_EXP]).unwrap();
    assert_eq!(mean[7], [-0.75, -0.25, 0.0]);
    // Recentred: the mean shape's centroid is the origin.
    for axis in 0..3 {
        let sum: f32 = mean.iter().map(|p| p[axis]).sum();
        assert!(sum.abs() < 1e-5, "axis {axis} sums to {sum}");
    }
    // Albedo of the mean face is the file's 0..255 values scaled to 0..1.
    let mean_albedo = model.albedo(&[0.0; K_TEX]).unwrap();
    let scaled = |level: f64| (level / 255.0) as f32;
    assert_eq!(
        mean_albedo[0],
        [scaled(100.0), scaled(137.0), scaled(174.0)]
    );

    // 1-based file indices are 0-based in the model.
    let tri = grid_triangles();
    assert_eq!(model.triangles.len(), tri.len());
    assert_eq!(model.triangles[0], [0, 6, 1]);
    assert_eq!(model.landmarks.len(), LANDMARKS);
    assert_eq!(model.landmarks[3], keypoint(3) as u32 - 1);
    let landmarks = model.landmark_positions(&shape).unwrap();
    assert_eq!(landmarks.len(), LANDMARKS);
    for (i, point) in landmarks.iter().enumerate() {
        assert_eq!(*point, shape[keypoint(i) - 1], "landmark {i}");
    }
}

#[test]
fn compressed_mat_v7_file_loads_the_same_model() {
    let (_, plain) = synthetic_model("front_plain.mat");
    let path = scratch("front_v7.mat", &encode(&bfm_arrays(), true));
    let compressed = MorphableModel::load(&path).unwrap();
    assert_eq!(compressed.mean_shape, plain.mean_shape);
    assert_eq!(compressed.id_basis, plain.id_basis);
    assert_eq!(compressed.exp_basis, plain.exp_basis);
    assert_eq!(compressed.albedo_basis, plain.albedo_basis);
    assert_eq!(compressed.triangles, plain.triangles);
    assert_eq!(compressed.landmarks, plain.landmarks);
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn safetensors_round_trip_is_bit_exact() {
    let (_, mut model) = synthetic_model("front_for_safetensors.mat");
    // Values whose text or sign would not survive a sloppy format.
    model.mean_shape[0] = -0.0;
    model.id_basis.values[5] = f32::MIN_POSITIVE / 3.0;
    model.camera = CameraParams {
        focal: 1_015.123_4,
        center: 111.5,
        distance: 10.000_001,
        image_size: 224,
    };
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable/model.safetensors");
    model.save_safetensors(&path).unwrap();

    for loaded in [
        MorphableModel::load_safetensors(&path).unwrap(),
        MorphableModel::load(&path).unwrap(),
    ] {
        assert_eq!(loaded.source, model.source);
        assert_eq!(bits(&loaded.mean_shape), bits(&model.mean_shape));
        assert_eq!(bits(&loaded.mean_albedo), bits(&model.mean_albedo));
        for (a, b) in [
            (&loaded.id_basis, &model.id_basis),
            (&loaded.exp_basis, &model.exp_basis),
            (&loaded.albedo_basis, &model.albedo_basis),
        ] {
            assert_eq!((a.rows, a.components), (b.rows, b.components));
            assert_eq!(bits(&a.values), bits(&b.values));
        }
        assert_eq!(loaded.triangles, model.triangles);
        assert_eq!(loaded.landmarks, model.landmarks);
        assert_eq!(loaded.camera.focal.to_bits(), model.camera.focal.to_bits());
        assert_eq!(
            loaded.camera.distance.to_bits(),
            model.camera.distance.to_bits()
        );
        assert_eq!(loaded.camera, model.camera);
    }
}

/// A shape regressor and a teacher cache are tied to the 3DMM file's SHA-256, so saving the
/// same model twice must give the same bytes (safetensors itself writes its metadata map in a
/// random order).
#[test]
fn saving_a_model_twice_gives_identical_bytes() {
    let (_, model) = synthetic_model("front_for_identical_bytes.mat");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable");
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let path = dir.join(format!("twice{i}.safetensors"));
            model.save_safetensors(&path).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect();
    assert!(files.windows(2).all(|w| w[0] == w[1]));
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header keeps safetensors' 8-byte alignment");
    let header = std::str::from_utf8(&files[0][8..8 + n]).unwrap();
    let keys = [
        "sgpn.morphable.camera.center",
        "sgpn.morphable.camera.distance",
    ];
    assert!(header.find(keys[0]).unwrap() < header.find(keys[1]).unwrap());
}

#[test]
fn coefficient_split_follows_the_d3dfr_order_and_checks_the_length() {
    let (_, model) = synthetic_model("front_for_split.mat");
    let values: Vec<f32> = (0..257).map(|i| i as f32).collect();
    let c = Coefficients::split(&values, &model).unwrap();
    assert_eq!((c.id[0], c.id.len()), (0.0, 80));
    assert_eq!((c.exp[0], c.exp.len()), (80.0, 64));
    assert_eq!((c.tex[0], c.tex.len()), (144.0, 80));
    assert_eq!(c.angles, [224.0, 225.0, 226.0]);
    assert_eq!((c.gamma[0], c.gamma[26]), (227.0, 253.0));
    assert_eq!(c.translation, [254.0, 255.0, 256.0]);
    assert_eq!(c.to_vec(), values);

    let err = Coefficients::split(&values[..256], &model).unwrap_err();
    let message = err.to_string();
    assert!(matches!(
        err,
        MorphableError::Coefficients { found: 256, .. }
    ));
    assert!(
        message.contains("257 = 80 id + 64 exp + 80 tex"),
        "{message}"
    );
    assert!(Coefficients::split(&[0.0; 258], &model).is_err());

    let err = model.shape(&[0.0; 79], &[0.0; K_EXP]).unwrap_err();
    assert!(err.to_string().contains("identity coefficients"), "{err}");
    assert!(model.albedo(&[0.0; 81]).is_err());
    assert!(model.landmark_positions(&[[0.0; 3]; V - 1]).is_err());
}

/// Loads the synthetic file after `edit`, expecting an error whose message names `needles`.
fn load_broken(name: &str, edit: impl FnOnce(&mut Vec<Array>)) -> MorphableError {
    let mut arrays = bfm_arrays();
    edit(&mut arrays);
    let path = scratch(name, &encode(&arrays, false));
    let err = MorphableModel::load(&path).unwrap_err();
    assert!(
        err.to_string().contains(path.to_str().unwrap()),
        "no path in: {err}"
    );
    err
}

fn named<'a>(arrays: &'a mut [Array], name: &str) -> &'a mut Array {
    arrays.iter_mut().find(|a| a.name == name).unwrap()
}

#[test]
fn malformed_bfm_files_give_errors_naming_the_problem() {
    let err = load_broken("no_exbase.mat", |a| a.retain(|a| a.name != "exBase"));
    assert!(
        matches!(&err, MorphableError::Missing { key, .. } if key == "exBase"),
        "{err}"
    );

    let err = load_broken("short_idbase.mat", |a| {
        let id = named(a, "idBase");
        id.rows = 87;
        id.row_major.truncate(87 * K_ID);
    });
    assert!(matches!(err, MorphableError::Shape { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("idBase is 87×80, expected 90×K"),
        "{message}"
    );

    let err = load_broken("tri_out_of_range.mat", |a| {
        named(a, "tri").row_major[4] = 31.0
    });
    assert!(matches!(err, MorphableError::Index { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("tri[1, 1] is 31, expected a 1-based vertex index in 1..=30"),
        "{err}"
    );

    // Zero is out of range for a 1-based index (a file saved with 0-based indices).
    let err = load_broken("keypoint_zero.mat", |a| {
        named(a, "keypoints").row_major[2] = 0.0
    });
    assert!(err.to_string().contains("keypoints[2] is 0"), "{err}");

    let err = load_broken("meantex_short.mat", |a| {
        let tex = named(a, "meantex");
        tex.cols = 87;
        tex.row_major.truncate(87);
    });
    assert!(err.to_string().contains("meantex is 87 values"), "{err}");

    let err = load_broken("tri_transposed.mat", |a| {
        let tri = named(a, "tri");
        (tri.rows, tri.cols) = (tri.cols, tri.rows);
    });
    assert!(
        err.to_string().contains("tri is 3×40, expected F×3"),
        "{err}"
    );

    let err = load_broken("nan_shape.mat", |a| {
        named(a, "meanshape").row_major[4] = f64::NAN
    });
    assert!(
        matches!(
            err,
            MorphableError::NonFinite {
                what: "mean_shape",
                ..
            }
        ),
        "{err}"
    );
}

fn mat_error(err: &MorphableError) -> &MatError {
    match err {
        MorphableError::Mat { source, .. } => source,
        other => panic!("expected a MAT error, got {other}"),
    }
}

#[test]
fn files_that_are_not_mat_v5_give_errors_naming_the_problem() {
    let whole = encode(&bfm_arrays(), false);
    let path = scratch("truncated.mat", &whole[..whole.len() / 2]);
    let err = MorphableModel::load(&path).unwrap_err();
    assert!(
        matches!(mat_error(&err), MatError::Malformed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");

    // MATLAB -v7.3: text header in a 512-byte user block, then the HDF5 signature.
    let mut v73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".to_vec();
    v73.resize(512, 0);
    v73.extend(b"\x89HDF\r\n\x1a\n");
    v73.resize(4096, 0);
    let path = scratch("v73.mat", &v73);
    let err = MorphableModel::load(&path).unwrap_err();
    assert!(matches!(mat_error(&err), MatError::Hdf5), "{err}");
    assert!(err.to_string().contains("'-v7'"), "{err}");

    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = scratch("garbage.mat", &garbage);
    let err = MorphableModel::load(&path).unwrap_err();
    assert!(matches!(mat_error(&err), MatError::NotMatV5(_)), "{err}");

    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("morphable/absent.mat");
    let err = MorphableModel::load(&missing).unwrap_err();
    assert!(matches!(err, MorphableError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.mat"), "{err}");

    let err = MorphableModel::load(Path::new("model.obj")).unwrap_err();
    assert!(matches!(err, MorphableError::UnknownFormat { .. }), "{err}");
}

#[test]
fn broken_safetensors_files_give_errors_naming_the_problem() {
    let (_, model) = synthetic_model("front_for_broken_safetensors.mat");
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable/broken_source.safetensors");
    model.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let truncated = scratch("truncated.safetensors", &bytes[..bytes.len() - 10]);
    let err = MorphableModel::load(&truncated).unwrap_err();
    assert!(matches!(err, MorphableError::Safetensors { .. }), "{err}");
    assert!(err.to_string().contains("truncated.safetensors"), "{err}");

    // A future layout version is refused, not misread.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    assert!(
        header.contains("\"sgpn.morphable.version\":\"1\""),
        "{header}"
    );
    let mut future = bytes.clone();
    let at = 8 + header.find("\"sgpn.morphable.version\":\"1\"").unwrap() + 26;
    future[at] = b'9';
    let path = scratch("future.safetensors", &future);
    let err = MorphableModel::load(&path).unwrap_err();
    assert!(
        matches!(&err, MorphableError::Metadata { key, .. } if key == "sgpn.morphable.version"),
        "{err}"
    );

    // An in-memory model that breaks the rules is refused before anything is written.
    let mut bad = model.clone();
    bad.triangles[3][1] = V as u32;
    let err = bad.validate().unwrap_err();
    assert!(
        err.to_string()
            .contains("triangle 3 corner 1 is 30, expected a 0-based vertex index below 30"),
        "{err}"
    );
    let out =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable/never_written.safetensors");
    let _ = std::fs::remove_file(&out);
    assert!(bad.save_safetensors(&out).is_err());
    assert!(!out.exists());
}

/// The camera a 3DMM's coefficients are rendered with at the crop size: D3DFR's camera scaled
/// like the kernels' `Camera::scaled`, and another model's camera scaled by its own image size.
#[test]
fn camera_params_scale_to_the_render_size() {
    use sgpn_kernels::render::Camera;
    assert_eq!(CameraParams::D3DFR.at_size(512), Camera::scaled(512));
    assert_eq!(CameraParams::D3DFR.at_size(224), Camera::d3dfr());
    let other = CameraParams {
        focal: 800.0,
        center: 128.0,
        distance: 8.0,
        image_size: 256,
    };
    let c = other.at_size(512);
    assert_eq!(
        (c.focal, c.center, c.distance, c.size),
        (1600.0, 256.0, 8.0, 512)
    );
}
