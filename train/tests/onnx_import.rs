//! Reading an exported generator back into burn (`export::import`) loses nothing: a random tiny
//! network of either variant exports, imports and exports again to the same bytes and computes
//! what it computed; the shipped generators import to networks whose export holds exactly their
//! generator tensors (their colour offset and gate left behind), and the imported default
//! computes in burn what its export computes in ONNX Runtime. A file of another configuration,
//! with a tensor of the wrong shape or without one, is refused naming it.
//! `sgpn-train train --init-from-onnx` starts a new run from the file's weights, which train.

mod support;

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use clap::Parser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sgpn_models::onnx::{ModelProto, encode_model};
use sgpn_train::calibrate::graph::OFFSET_NAME;
use sgpn_train::export::cli::{ExportArgs, export};
use sgpn_train::export::import::{import_generator, read_generator};
use sgpn_train::export::onnx_run::{cpu_session, run_generator};
use sgpn_train::export::{AffbExport, write_generator};
use sgpn_train::model::init::normal_vec;
use sgpn_train::model::{Config, Generator, Upsample, Variant};
use sgpn_train::train::checkpoint::{self, GeneratorWeights, load_generator};
use sgpn_train::train::cli::{TrainArgs, train};
use support::{images, max_rel_err, tmp};

/// Adds N(0, 0.1) to every parameter, so that no bias is zero (and no two tensors are equal)
/// and the lr-multiplied biases of the mapping are exercised.
struct Perturb(ChaCha8Rng);

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dims = param.dims();
        let n = dims.iter().product();
        let noise: Vec<f32> = normal_vec(&mut self.0, n)
            .into_iter()
            .map(|v| v * 0.1)
            .collect();
        param.map(|t| {
            let device = t.device();
            t + Tensor::from_data(TensorData::new(noise, dims), &device)
        })
    }
}

fn tiny(variant: Variant, perturbed: bool) -> Generator {
    generator(&Config::tiny(variant), perturbed)
}

fn generator(cfg: &Config, perturbed: bool) -> Generator {
    let g = Generator::new(cfg, 3, &Device::flex()).unwrap();
    if perturbed {
        g.map(&mut Perturb(ChaCha8Rng::seed_from_u64(4)))
    } else {
        g
    }
}

fn restore(g: &Generator, n: usize, seed: u64) -> Vec<f32> {
    let s = g.config.size;
    let device = Device::flex();
    let to_t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [n, 3, s, s]), &device);
    let render = g
        .config
        .variant
        .has_render()
        .then(|| to_t(images(n, s, seed + 1)));
    g.restore(to_t(images(n, s, seed)), render)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Export → import → export gives the same bytes, and the imported network computes what the
/// original computes (noise off, as exported); the noise strengths it cannot know are 0.
fn round_trip(g: &Generator, affb: AffbExport, what: &str) {
    let exported = g.export_onnx_with(affb);
    let imported = import_generator(&exported, &g.config, &Device::flex())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        encode_model(&imported.export_onnx_with(affb)) == encode_model(&exported),
        "{what}: the re-export differs from the export"
    );
    let diff = max_abs_diff(&restore(&imported, 2, 11), &restore(g, 2, 11));
    println!("{what}: imported against original, max |difference| {diff:e}");
    assert!(diff <= 1e-5, "{what}: outputs differ by {diff}");
    for layer in &imported.decoder.layers {
        let strength = layer.conv.noise_strength.val().into_data();
        assert_eq!(
            strength.try_into_vec_as::<f32>().unwrap(),
            [0.0],
            "{what}: noise strength"
        );
    }
}

#[test]
fn a_tiny_generator_comes_back_exactly() {
    for variant in [Variant::No3d, Variant::Full] {
        // A new network's zero biases share one initializer (`OnnxGraph::weight`).
        round_trip(
            &tiny(variant, false),
            AffbExport::StandardOps,
            &format!("new {variant:?}"),
        );
        round_trip(
            &tiny(variant, true),
            AffbExport::StandardOps,
            &format!("perturbed {variant:?}"),
        );
        round_trip(
            &tiny(variant, true),
            AffbExport::CustomOp,
            &format!("perturbed {variant:?}, fused AFFB"),
        );
    }
    // The other upsampling and the input skip, which only the metadata records.
    let cfg = Config {
        upsample: Upsample::Nearest,
        residual: true,
        ..Config::tiny(Variant::No3d)
    };
    round_trip(
        &generator(&cfg, true),
        AffbExport::StandardOps,
        "nearest, input skip",
    );
}

fn expect_error(model: &ModelProto, cfg: &Config, needles: &[&str]) {
    let error = import_generator(model, cfg, &Device::flex())
        .expect_err("the import must fail")
        .to_string();
    println!("refused: {error}");
    for needle in needles {
        assert!(error.contains(needle), "{error:?} does not say {needle:?}");
    }
}

fn without_metadata(model: &ModelProto, key: &str) -> ModelProto {
    let mut model = model.clone();
    model.metadata_props.retain(|p| p.key != key);
    model
}

#[test]
fn a_file_of_another_shape_is_refused_naming_the_tensor() {
    let g = tiny(Variant::No3d, true);
    let model = g.export_onnx();
    let cfg = g.config.clone();

    expect_error(
        &model,
        &Config::small256(Variant::No3d),
        &["sgpn.size", "32", "256"],
    );
    expect_error(
        &model,
        &Config::tiny(Variant::Full),
        &["sgpn.variant", "no3d", "full"],
    );
    let skip = Config {
        residual: true,
        ..cfg.clone()
    };
    expect_error(&model, &skip, &["\"residual\":false", "\"residual\":true"]);

    // Without the config in the metadata, the shapes tell other widths.
    let wider = Config {
        channels: vec![16, 16, 8, 16],
        ..cfg.clone()
    };
    expect_error(
        &without_metadata(&model, "sgpn.config"),
        &wider,
        &["encoder.from_rgb.weight", "[8, 3, 1, 1]", "[16, 3, 1, 1]"],
    );

    let tensor = "decoder.layers.1.conv.conv.weight";
    let mut reshaped = model.clone();
    let mut gr = reshaped.graph.take().unwrap();
    let t = gr
        .initializer
        .iter_mut()
        .find(|t| t.name == tensor)
        .unwrap();
    assert_eq!(t.dims, [16, 32, 3, 3]);
    t.dims = vec![16, 32, 1, 9];
    reshaped.graph = Some(gr);
    expect_error(
        &reshaped,
        &cfg,
        &[tensor, "[16, 32, 1, 9]", "[16, 32, 3, 3]"],
    );

    let tensor = "mapping.layers.0.weight";
    let mut missing = model.clone();
    let mut gr = missing.graph.take().unwrap();
    gr.initializer.retain(|t| t.name != tensor);
    missing.graph = Some(gr);
    expect_error(&missing, &cfg, &[tensor]);

    let mut no_node = model.clone();
    let mut gr = no_node.graph.take().unwrap();
    gr.node
        .retain(|n| !n.output.iter().any(|o| o == "mapping.layers.1/matmul"));
    no_node.graph = Some(gr);
    expect_error(
        &no_node,
        &cfg,
        &["mapping.layers.1/matmul", "mapping.layers.1.weight"],
    );
}

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(file)
}

fn decode(path: &Path) -> ModelProto {
    use prost::Message;
    ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap()
}

/// Whether an initializer belongs to what `calibrate-colour` and `fit-gate` add.
fn is_rewrite(name: &str) -> bool {
    name == OFFSET_NAME || name.starts_with("change_gate/")
}

/// The shipped generators import to networks whose export holds exactly the file's generator
/// initializers, name, shape and bytes; what the file has besides is the colour offset and the
/// gate. Returns the imported network.
fn check_shipped(file: &str, variant: Variant) -> Generator {
    let path = shipped(file);
    let model = decode(&path);
    let g = read_generator(&path, &Config::small256(variant), &Device::flex())
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let reexport = g.export_onnx();
    let inits = |m: &ModelProto| m.graph.clone().unwrap().initializer;
    let (file_inits, new_inits) = (inits(&model), inits(&reexport));
    for t in &new_inits {
        let f = file_inits
            .iter()
            .find(|f| f.name == t.name)
            .unwrap_or_else(|| panic!("{file} has no {}", t.name));
        assert!(f == t, "{file}: {} differs in the re-export", t.name);
    }
    let rest: Vec<&str> = file_inits
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !new_inits.iter().any(|t| t.name == *n))
        .collect();
    assert!(
        !rest.is_empty() && rest.iter().all(|n| is_rewrite(n)),
        "{file}: initializers besides the generator's: {rest:?}"
    );
    println!(
        "{file}: {} generator initializers identical, {} of calibration and gate left behind",
        new_inits.len(),
        rest.len()
    );
    g
}

#[test]
fn the_shipped_generators_import_without_loss() {
    check_shipped("sgpn-small256-full.onnx", Variant::Full);
    let g = check_shipped("sgpn-small256-no3d.onnx", Variant::No3d);
    let ort = Path::new(env!("ORT_DYLIB_PATH"));
    if !ort.is_file() {
        eprintln!(
            "skipped the ONNX Runtime comparison: {} is absent (./scripts/setup.sh fetches it)",
            ort.display()
        );
        return;
    }
    let path = tmp("imported_no3d.onnx");
    write_generator(&g, &path).unwrap();
    let mut session = cpu_session(&path, 2).unwrap();
    let (n, s) = (2, g.config.size);
    let want = restore(&g, n, 21);
    let got = run_generator(&mut session, n, s, &images(n, s, 21), None).unwrap();
    let err = max_rel_err(&got, &want);
    println!("imported default: burn against ONNX Runtime, relative error {err:e}");
    assert!(err <= 1e-4, "relative error {err}");
    // Not trivially the input: the network changes the faces it is given.
    let change = max_abs_diff(&want, &images(n, s, 21));
    assert!(change > 1e-3, "the network returns its input ({change})");
}

#[derive(Parser)]
enum Command {
    Train(Box<TrainArgs>),
    Export(ExportArgs),
}

fn sgpn_train(argv: &[&str]) -> anyhow::Result<()> {
    match Command::try_parse_from(std::iter::once("sgpn-train").chain(argv.iter().copied()))? {
        Command::Train(args) => train(*args),
        Command::Export(args) => export(args),
    }
}

/// `train --init-from-onnx` starts at step 0 with the file's generator as generator and as
/// average (their export is the file), the generator trains from there, and the flag excludes
/// `--resume` and `--init-from`.
#[test]
fn a_run_starts_from_an_exported_generator() {
    let dir = tmp("init_from_onnx");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("start.onnx");
    write_generator(&tiny(Variant::No3d, true), &file).unwrap();
    let (run, file_s) = (dir.join("run"), file.to_str().unwrap());
    let run_s = run.to_str().unwrap();
    let base = [
        "train",
        "--synthetic",
        "--preset",
        "tiny",
        "--batch",
        "2",
        "--quiet",
        "--out",
        run_s,
    ];
    fn joined<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
        [a, b].concat()
    }
    sgpn_train(&joined(
        &base,
        &["--init-from-onnx", file_s, "--steps", "0"],
    ))
    .unwrap();
    let ckpt = run.join("checkpoint");
    let ckpt_s = ckpt.to_str().unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap();
    for (flags, what) in [
        (&[][..], "generator average"),
        (&["--raw-generator"], "generator"),
    ] {
        let out = dir.join(format!("{what}.onnx"));
        let argv = [
            &[
                "export",
                "--checkpoint",
                ckpt_s,
                "--out",
                out.to_str().unwrap(),
            ][..],
            flags,
        ]
        .concat();
        sgpn_train(&argv).unwrap();
        assert!(
            read(&out) == read(&file),
            "the run's {what} is not the file's"
        );
    }

    sgpn_train(&joined(&base, &["--resume", "--steps", "1"])).unwrap();
    let trained = load_generator(&ckpt, &Device::flex(), GeneratorWeights::Raw).unwrap();
    assert!(
        encode_model(&trained.export_onnx()) != read(&file),
        "a step left the generator as it was: its parameters see no gradient"
    );
    assert!(checkpoint::exists(&ckpt));

    for other in [&["--resume"][..], &["--init-from", ckpt_s]] {
        let argv = joined(&base, &[&["--init-from-onnx", file_s][..], other].concat());
        let error = sgpn_train(&argv).unwrap_err().to_string();
        assert!(error.contains("cannot be used with"), "{error}");
    }
    let full_run = dir.join("full");
    let argv = [
        &base[..base.len() - 1],
        &[full_run.to_str().unwrap(), "--init-from-onnx", file_s],
        &["--variant", "full"],
    ]
    .concat();
    let error = sgpn_train(&argv).unwrap_err().to_string();
    assert!(
        error.contains("--morphable, --regressor and --data"),
        "{error}"
    );
}
