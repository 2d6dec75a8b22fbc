//! Small models for tests, written with the project's own ONNX writer ([`crate::onnx`]): a
//! contract-satisfying identity generator, a `full` generator with a known use of its rendered
//! face, a shape regressor with known coefficients, a synthetic 3DMM, and deliberately broken
//! files for error tests. Never a stand-in for a trained model.

pub mod mat_writer;

use std::io;
use std::path::Path;

use crate::contract::{
    INPUT_LQ, INPUT_RENDER, META_SIZE, META_TEMPLATE, META_VARIANT, OUTPUT_RESTORED, Template,
    Variant,
};
use crate::morphable::{Basis, CameraParams, MorphableModel};
use crate::onnx::{
    Attribute, Dim, ElemType, GraphBuilder, ModelProto, OPSET, encode_model, write_model,
};

/// Ways a generator file can break the contract or not be a model at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokenGenerator {
    /// The input is called `x` instead of `lq`.
    WrongInputName,
    /// The input is rank 3 `[N,3,S·S]` instead of `[N,3,S,S]`.
    WrongRank,
    /// The input is int64.
    WrongDtype,
    /// No `sgpn.size` metadata.
    MissingSize,
    /// `sgpn.template` is not one of the known templates.
    UnknownTemplate,
    /// A valid identity generator cut in half.
    Truncated,
    /// A text file with an `.onnx` name.
    NotOnnx,
}

fn face_dims(size: usize) -> [Dim; 4] {
    let s = size as i64;
    [Dim::named("N"), Dim::Fixed(3), Dim::Fixed(s), Dim::Fixed(s)]
}

fn metadata(size: usize, template: Template) -> [(String, String); 3] {
    variant_metadata(size, template, Variant::No3d)
}

fn variant_metadata(size: usize, template: Template, variant: Variant) -> [(String, String); 3] {
    [
        (META_TEMPLATE.to_owned(), template.to_string()),
        (META_SIZE.to_owned(), size.to_string()),
        (META_VARIANT.to_owned(), variant.to_string()),
    ]
}

fn finish(g: GraphBuilder, meta: &[(String, String)]) -> ModelProto {
    let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    g.finish(OPSET, &meta)
}

fn identity_model(size: usize, template: Template) -> ModelProto {
    let mut g = GraphBuilder::new("identity_generator");
    g.input(INPUT_LQ, ElemType::F32, &face_dims(size));
    g.node("Identity", &[INPUT_LQ], &[OUTPUT_RESTORED], vec![]);
    g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
    finish(g, &metadata(size, template))
}

/// A generator that satisfies the contract and returns its input (`restored = lq`), with a
/// dynamic batch, `sgpn.variant = no3d`.
pub fn write_identity_generator(path: &Path, size: usize, template: Template) -> io::Result<()> {
    write_model(path, &identity_model(size, template))
}

/// A contract-satisfying generator computing `restored = clamp(scale·lq + offset, -1, 1)`: a
/// visible, exactly predictable change for pipeline tests (e.g. `scale = -1` inverts the face).
pub fn write_affine_generator(
    path: &Path,
    size: usize,
    template: Template,
    scale: f32,
    offset: f32,
) -> io::Result<()> {
    let mut g = GraphBuilder::new("affine_generator");
    g.input(INPUT_LQ, ElemType::F32, &face_dims(size));
    let scale = g.initializer("scale", &[], &[scale]);
    let offset = g.initializer("offset", &[], &[offset]);
    let lo = g.initializer("lo", &[], &[-1.0]);
    let hi = g.initializer("hi", &[], &[1.0]);
    let scaled = g.fresh("scaled");
    g.node("Mul", &[INPUT_LQ, &scale], &[&scaled], vec![]);
    let shifted = g.fresh("shifted");
    g.node("Add", &[&scaled, &offset], &[&shifted], vec![]);
    g.node("Clip", &[&shifted, &lo, &hi], &[OUTPUT_RESTORED], vec![]);
    g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
    write_model(path, &finish(g, &metadata(size, template)))
}

/// A contract-satisfying generator that smooths its input with a 3×3 box filter (the border
/// replicated by `Pad` in `edge` mode), ending in a clip to [-1, 1] as the exporter's graphs do. It helps a noisy face and harms a sharp one, which is what
/// a per-face gate has to tell apart.
pub fn write_smoothing_generator(path: &Path, size: usize, template: Template) -> io::Result<()> {
    let mut g = GraphBuilder::new("smoothing_generator");
    g.input(INPUT_LQ, ElemType::F32, &face_dims(size));
    let pads = g.initializer_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]);
    let kernel = g.initializer("box", &[3, 1, 3, 3], &[1.0 / 9.0; 27]);
    let lo = g.initializer("lo", &[], &[-1.0]);
    let hi = g.initializer("hi", &[], &[1.0]);
    let padded = g.fresh("padded");
    g.node(
        "Pad",
        &[INPUT_LQ, &pads],
        &[&padded],
        vec![Attribute::string("mode", "edge")],
    );
    let smoothed = g.fresh("smoothed");
    g.node(
        "Conv",
        &[&padded, &kernel],
        &[&smoothed],
        vec![
            Attribute::int("group", 3),
            Attribute::ints("kernel_shape", &[3, 3]),
        ],
    );
    g.node("Clip", &[&smoothed, &lo, &hi], &[OUTPUT_RESTORED], vec![]);
    g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
    write_model(path, &finish(g, &metadata(size, template)))
}

/// A `full` generator (inputs `lq` and `render`) computing `restored = (lq + render) / 2`, so a
/// test can see exactly where and how the rendered 3D face reached the output.
pub fn write_render_blend_generator(
    path: &Path,
    size: usize,
    template: Template,
) -> io::Result<()> {
    let mut g = GraphBuilder::new("render_blend_generator");
    g.input(INPUT_LQ, ElemType::F32, &face_dims(size));
    g.input(INPUT_RENDER, ElemType::F32, &face_dims(size));
    let half = g.initializer("half", &[], &[0.5]);
    let sum = g.fresh("sum");
    g.node("Add", &[INPUT_LQ, INPUT_RENDER], &[&sum], vec![]);
    g.node("Mul", &[&sum, &half], &[OUTPUT_RESTORED], vec![]);
    g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
    let meta = variant_metadata(size, template, Variant::Full);
    write_model(path, &finish(g, &meta))
}

/// What a [`write_constant_regressor`] file declares and returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantRegressor<'a> {
    pub template: Template,
    /// The coefficient vector returned for every face (its length is `sgpn.coefficients`).
    pub coefficients: &'a [f32],
    /// `sgpn.morphable`: the 3DMM file name.
    pub morphable_name: &'a str,
    /// `sgpn.morphable.sha256`: the 3DMM file's hex SHA-256.
    pub morphable_sha256: &'a str,
}

/// A shape regressor that satisfies its contract (`crate::shape_regressor`) and returns the
/// same coefficient vector for every face of a batch (e.g. a frontal mean face placed by the
/// test): `coeffs = 0·ΣReduceSum(face) + c`, so the batch dimension follows the input.
pub fn write_constant_regressor(path: &Path, spec: &ConstantRegressor<'_>) -> io::Result<()> {
    use crate::shape_regressor::{
        INPUT_FACE, INPUT_SIZE, META_COEFFICIENTS, META_MORPHABLE, META_MORPHABLE_SHA256,
        OUTPUT_COEFFS,
    };
    let k = spec.coefficients.len();
    let mut g = GraphBuilder::new("constant_regressor");
    g.input(INPUT_FACE, ElemType::F32, &face_dims(INPUT_SIZE));
    let axes = g.initializer_i64("axes", &[3], &[1, 2, 3]);
    let zero = g.initializer("zero", &[], &[0.0]);
    let constant = g.initializer("coefficients", &[1, k as i64], spec.coefficients);
    let sum = g.fresh("sum");
    g.node(
        "ReduceSum",
        &[INPUT_FACE, &axes],
        &[&sum],
        vec![Attribute::int("keepdims", 0)],
    );
    let column_axes = g.initializer_i64("column_axes", &[1], &[1]);
    let column = g.fresh("column");
    g.node("Unsqueeze", &[&sum, &column_axes], &[&column], vec![]);
    let zeros = g.fresh("zeros");
    g.node("Mul", &[&column, &zero], &[&zeros], vec![]);
    g.node("Add", &[&zeros, &constant], &[OUTPUT_COEFFS], vec![]);
    g.output(
        OUTPUT_COEFFS,
        ElemType::F32,
        &[Dim::named("N"), Dim::Fixed(k as i64)],
    );
    let meta = [
        (META_TEMPLATE.to_owned(), spec.template.to_string()),
        (
            META_MORPHABLE_SHA256.to_owned(),
            spec.morphable_sha256.to_owned(),
        ),
        (META_MORPHABLE.to_owned(), spec.morphable_name.to_owned()),
        (META_COEFFICIENTS.to_owned(), k.to_string()),
    ];
    write_model(path, &finish(g, &meta))
}

/// A matching shape prior for pipeline tests: saves `model` to `morphable_path` and writes to
/// `regressor_path` a [`write_constant_regressor`] for it (its file name and SHA-256, template
/// `template`) that returns all-zero coefficients: the mean shape and albedo, frontal, at the
/// origin, lit by the ambient SH band alone (D3DFR adds 0.8 to it), so the render of every face
/// is known exactly.
pub fn write_frontal_shape_prior(
    model: &MorphableModel,
    morphable_path: &Path,
    regressor_path: &Path,
    template: Template,
) -> io::Result<()> {
    model
        .save_safetensors(morphable_path)
        .map_err(io::Error::other)?;
    let sha256 = crate::shape_regressor::sha256_file(morphable_path).map_err(io::Error::other)?;
    let name = morphable_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_constant_regressor(
        regressor_path,
        &ConstantRegressor {
            template,
            coefficients: &vec![0.0; model.coefficient_count()],
            morphable_name: &name,
            morphable_sha256: &sha256,
        },
    )
}

/// Vertices per side of [`ellipsoid_cap_morphable`]'s grid (21 × 21 = 441 vertices, about the
/// size of the project's MediaPipe 3DMM).
pub const CAP_GRID: usize = 21;

/// A synthetic 3DMM for tests of the shape step: an ellipsoidal cap facing the camera
/// (semi-axes 0.75 × 0.95 × 0.5, a face's size in BFM09's decimetres, so D3DFR's camera frames
/// it as a face), centred on its centroid, uniform mean albedo `albedo`, `k_id` identity and
/// `k_tex` albedo components with small fixed values, no expression basis, D3DFR's camera.
pub fn ellipsoid_cap_morphable(k_id: usize, k_tex: usize, albedo: [f32; 3]) -> MorphableModel {
    let n = CAP_GRID;
    let mut mean_shape = Vec::with_capacity(3 * n * n);
    for j in 0..n {
        for i in 0..n {
            let u = 2.0 * i as f32 / (n - 1) as f32 - 1.0;
            let v = 2.0 * j as f32 / (n - 1) as f32 - 1.0;
            // Square grid → disc, so that the grid's border is the cap's rim.
            let (p, q) = (
                u * (1.0 - v * v / 2.0).sqrt(),
                v * (1.0 - u * u / 2.0).sqrt(),
            );
            let z = (1.0 - p * p - q * q).max(0.0).sqrt();
            mean_shape.extend([0.75 * p, 0.95 * q, 0.5 * z]);
        }
    }
    for axis in 0..3 {
        let mean = mean_shape.iter().skip(axis).step_by(3).sum::<f32>() / (n * n) as f32;
        mean_shape
            .iter_mut()
            .skip(axis)
            .step_by(3)
            .for_each(|x| *x -= mean);
    }
    let mut triangles = Vec::with_capacity(2 * (n - 1) * (n - 1));
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let a = (j * n + i) as u32;
            let (b, c, d) = (a + 1, a + n as u32 + 1, a + n as u32);
            triangles.extend([[a, b, c], [a, c, d]]);
        }
    }
    let rows = mean_shape.len();
    let basis = |components: usize| Basis {
        rows,
        components,
        values: (0..rows * components)
            .map(|i| 0.01 * ((i % 7) as f32 - 3.0))
            .collect(),
    };
    MorphableModel {
        source: format!("ellipsoidal cap test fixture ({n}x{n} grid)"),
        mean_shape,
        id_basis: basis(k_id),
        exp_basis: basis(0),
        mean_albedo: albedo.repeat(n * n),
        albedo_basis: basis(k_tex),
        triangles,
        landmarks: vec![0, n as u32 / 2, (n * n / 2) as u32, (n * n - 1) as u32],
        camera: CameraParams::D3DFR,
    }
}

/// A generator that loads and satisfies the contract but returns only the first face of a batch
/// (a Slice along N, which shape inference cannot pin down), so a run with two faces breaks the
/// contract at run time: for tests of run-time failures.
pub fn write_single_face_generator(path: &Path, size: usize, template: Template) -> io::Result<()> {
    let mut g = GraphBuilder::new("single_face_generator");
    g.input(INPUT_LQ, ElemType::F32, &face_dims(size));
    let starts = g.initializer_i64("starts", &[1], &[0]);
    let ends = g.initializer_i64("ends", &[1], &[1]);
    let axes = g.initializer_i64("axes", &[1], &[0]);
    g.node(
        "Slice",
        &[INPUT_LQ, &starts, &ends, &axes],
        &[OUTPUT_RESTORED],
        vec![],
    );
    g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
    write_model(path, &finish(g, &metadata(size, template)))
}

/// Writes a generator file broken in the way `kind` says (size 64, SGPN template otherwise).
pub fn write_broken_generator(path: &Path, kind: BrokenGenerator) -> io::Result<()> {
    let size = 64;
    let template = Template::Sgpn;
    match kind {
        BrokenGenerator::WrongInputName => {
            let mut g = GraphBuilder::new("wrong_input_name");
            g.input("x", ElemType::F32, &face_dims(size));
            g.node("Identity", &["x"], &[OUTPUT_RESTORED], vec![]);
            g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
            write_model(path, &finish(g, &metadata(size, template)))
        }
        BrokenGenerator::WrongRank => {
            let dims = [
                Dim::named("N"),
                Dim::Fixed(3),
                Dim::Fixed((size * size) as i64),
            ];
            let mut g = GraphBuilder::new("wrong_rank");
            g.input(INPUT_LQ, ElemType::F32, &dims);
            let shape = g.initializer_i64("shape", &[4], &[-1, 3, size as i64, size as i64]);
            g.node("Reshape", &[INPUT_LQ, &shape], &[OUTPUT_RESTORED], vec![]);
            g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
            write_model(path, &finish(g, &metadata(size, template)))
        }
        BrokenGenerator::WrongDtype => {
            let mut g = GraphBuilder::new("wrong_dtype");
            g.input(INPUT_LQ, ElemType::I64, &face_dims(size));
            g.node(
                "Cast",
                &[INPUT_LQ],
                &[OUTPUT_RESTORED],
                vec![Attribute::int("to", 1)],
            );
            g.output(OUTPUT_RESTORED, ElemType::F32, &face_dims(size));
            write_model(path, &finish(g, &metadata(size, template)))
        }
        BrokenGenerator::MissingSize => {
            let mut model = identity_model(size, template);
            model.metadata_props.retain(|e| e.key != META_SIZE);
            write_model(path, &model)
        }
        BrokenGenerator::UnknownTemplate => {
            let mut model = identity_model(size, template);
            for entry in &mut model.metadata_props {
                if entry.key == META_TEMPLATE {
                    entry.value = "arcface".to_owned();
                }
            }
            write_model(path, &model)
        }
        BrokenGenerator::Truncated => {
            let bytes = encode_model(&identity_model(size, template));
            std::fs::write(path, &bytes[..bytes.len() / 2])
        }
        BrokenGenerator::NotOnnx => std::fs::write(
            path,
            "This is a text file, not an ONNX model.\nIt has an .onnx name by mistake.\n",
        ),
    }
}
