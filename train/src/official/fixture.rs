//! Test fixtures in the official checkpoint format: every tensor of [`super::spec`] with the
//! official name and full shape, filled with a deterministic pattern (a hash of the name and the
//! index, scaled by the tensor's [`Role`]), written as `torch.save` writes a `state_dict` (a ZIP
//! archive holding `data.pkl`, a protocol-2 pickle of `{name: torch._utils._rebuild_tensor_v2(…)}`,
//! and one stored entry per tensor). `torch.load` reads these files, which is how the reference
//! outputs in `train/tests/official/` were made (`train/official/reference.py`).
//!
//! Not trained weights: the pattern exercises every tensor so that an import that swaps,
//! transposes or drops one gives different outputs.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sgpn_models::fixtures::ellipsoid_cap_morphable;
use sgpn_models::fixtures::mat_writer::{self, Array, Class};
use sgpn_models::morphable::Basis;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::spec::{Role, TensorSpec, blur_kernel, generator_spec, regressor_spec};

/// The values the fixture stores for `t` (the int64 counter as its f32 value).
pub fn values(t: &TensorSpec) -> Vec<f32> {
    let n: usize = t.shape.iter().product();
    let seed = fnv1a(t.name.as_bytes());
    let u = |i: usize| uniform(seed, i as u64);
    match t.role {
        Role::UnitWeight => (0..n).map(|i| 3f32.sqrt() * u(i)).collect(),
        Role::HeWeight { fan_in } => {
            let s = (6.0 / fan_in as f32).sqrt();
            (0..n).map(|i| s * u(i)).collect()
        }
        Role::Bias => (0..n).map(|i| 0.1 * u(i)).collect(),
        Role::ModulationBias => (0..n).map(|i| 1.0 + 0.1 * u(i)).collect(),
        Role::NoiseWeight => (0..n).map(|i| 0.3 + 0.1 * u(i)).collect(),
        Role::BlurKernel { gain } => blur_kernel(gain).to_vec(),
        Role::BnWeight => (0..n).map(|i| 1.0 + 0.1 * u(i)).collect(),
        Role::BnResidualWeight => (0..n).map(|i| 0.2 + 0.02 * u(i)).collect(),
        Role::BnMean => (0..n).map(|i| 0.1 * u(i)).collect(),
        Role::BnVar => (0..n).map(|i| 1.0 + 0.25 * (u(i) + 1.0)).collect(),
        Role::BnCount => vec![BN_COUNT as f32],
    }
}

/// The files of an imported fixture: both ONNX models and the 3DMM and landmarks they were
/// imported with.
pub struct ImportedFixture {
    pub generator: PathBuf,
    pub regressor: PathBuf,
    pub morphable: PathBuf,
    pub landmarks: PathBuf,
    pub generator_checkpoint: PathBuf,
    pub regressor_checkpoint: PathBuf,
}

/// Writes both official-format checkpoints, a synthetic 3DMM with D3DFR's coefficient layout
/// (80 id, 64 exp, 80 tex: the ellipsoidal cap of `sgpn_models::fixtures` with an expression
/// basis), a `similarity_Lm3D_all.mat` with 68 synthetic landmarks, and imports them, all in
/// `dir`.
pub fn write_imported_fixture(dir: &Path) -> Result<ImportedFixture, super::ImportError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| super::ImportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let generator_checkpoint = dir.join("sgpn.pth");
    write_checkpoint(&generator_checkpoint, &generator_spec())
        .map_err(write_err(&generator_checkpoint))?;
    let regressor_checkpoint = dir.join("d3dfr_finetune_ours.pth");
    write_checkpoint(&regressor_checkpoint, &regressor_spec())
        .map_err(write_err(&regressor_checkpoint))?;
    let morphable = dir.join("d3dfr-layout-3dmm.safetensors");
    let mut model = ellipsoid_cap_morphable(80, 80, [0.8, 0.6, 0.5]);
    model.exp_basis = Basis {
        rows: model.mean_shape.len(),
        components: 64,
        values: (0..model.mean_shape.len() * 64)
            .map(|i| 0.005 * ((i % 5) as f32 - 2.0))
            .collect(),
    };
    model
        .save_safetensors(&morphable)
        .map_err(|e| write_err(&morphable)(io::Error::other(e.to_string())))?;
    let landmarks = dir.join("similarity_Lm3D_all.mat");
    std::fs::write(&landmarks, landmarks_mat()).map_err(write_err(&landmarks))?;
    let (generator, regressor) = super::import_all(
        &generator_checkpoint,
        &regressor_checkpoint,
        &morphable,
        &landmarks,
        dir,
    )?;
    Ok(ImportedFixture {
        generator,
        regressor,
        morphable,
        landmarks,
        generator_checkpoint,
        regressor_checkpoint,
    })
}

/// 68 landmarks as `similarity_Lm3D_all.mat` holds them (key `lm`, 68×3, decimetres, y up): the
/// seven the crop uses at a face's proportions, the rest on a ring round the face.
pub fn landmarks_mat() -> Vec<u8> {
    let mut lm: Vec<[f64; 3]> = (0..68)
        .map(|i| {
            let a = i as f64 / 68.0 * std::f64::consts::TAU;
            [0.8 * a.cos(), 0.9 * a.sin(), 0.0]
        })
        .collect();
    // 1-based: eye corners 37, 40, 43, 46; nose tip 31; mouth corners 49, 55.
    for (i, p) in [
        (37, [-0.45, 0.30, 0.10]),
        (40, [-0.15, 0.30, 0.15]),
        (43, [0.15, 0.30, 0.15]),
        (46, [0.45, 0.30, 0.10]),
        (31, [0.0, -0.05, 0.50]),
        (49, [-0.25, -0.40, 0.20]),
        (55, [0.25, -0.40, 0.20]),
    ] {
        lm[i - 1] = p;
    }
    let array = Array {
        name: "lm".into(),
        rows: 68,
        cols: 3,
        class: Class::Double,
        row_major: lm.iter().flatten().copied().collect(),
    };
    mat_writer::file(&[mat_writer::numeric(&array)], false)
}

/// What the fixture's batch-norm counters hold.
const BN_COUNT: i64 = 1000;

/// Writes `spec` as a PyTorch checkpoint at `path` (a changed spec makes a broken fixture).
pub fn write_checkpoint(path: &Path, spec: &[TensorSpec]) -> io::Result<()> {
    let mut zip = ZipWriter::new(BufWriter::new(File::create(path)?));
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true);
    let archive = "archive";
    zip.start_file(format!("{archive}/data.pkl"), stored)?;
    zip.write_all(&state_dict_pickle(spec))?;
    zip.start_file(format!("{archive}/byteorder"), stored)?;
    zip.write_all(b"little")?;
    for (key, t) in spec.iter().enumerate() {
        zip.start_file(format!("{archive}/data/{key}"), stored)?;
        if t.role == Role::BnCount {
            zip.write_all(&BN_COUNT.to_le_bytes())?;
        } else {
            let bytes: Vec<u8> = values(t).iter().flat_map(|v| v.to_le_bytes()).collect();
            zip.write_all(&bytes)?;
        }
    }
    zip.start_file(format!("{archive}/version"), stored)?;
    zip.write_all(b"3\n")?;
    zip.finish()?.flush()
}

/// The pickle `torch.save(state_dict)` writes (protocol 2), without memoisation: a dict from
/// each name to `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, the storage
/// a persistent id `('storage', torch.FloatStorage, '<key>', 'cpu', numel)`.
fn state_dict_pickle(spec: &[TensorSpec]) -> Vec<u8> {
    let mut p = Pickle(vec![0x80, 2]);
    p.op(b'}'); // EMPTY_DICT
    p.op(b'('); // MARK
    for (key, t) in spec.iter().enumerate() {
        p.unicode(&t.name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b'(');
        // The storage, as a persistent id.
        p.op(b'(');
        p.unicode("storage");
        let storage = if t.role == Role::BnCount {
            "LongStorage"
        } else {
            "FloatStorage"
        };
        p.global("torch", storage);
        p.unicode(&key.to_string());
        p.unicode("cpu");
        p.int(t.shape.iter().product::<usize>().max(1) as i64);
        p.op(b't'); // TUPLE
        p.op(b'Q'); // BINPERSID
        p.int(0);
        p.tuple(&t.shape);
        p.tuple(&contiguous_strides(&t.shape));
        p.op(0x89); // NEWFALSE
        p.global("collections", "OrderedDict");
        p.op(b')'); // EMPTY_TUPLE
        p.op(b'R'); // REDUCE
        p.op(b't');
        p.op(b'R');
    }
    p.op(b'u'); // SETITEMS
    p.op(b'.'); // STOP
    p.0
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, code: u8) {
        self.0.push(code);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn unicode(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        let v = i32::try_from(v).expect("fixture integers fit 32 bits");
        self.0.push(b'J'); // BININT
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn tuple(&mut self, values: &[usize]) {
        self.op(b'(');
        for &v in values {
            self.int(v as i64);
        }
        self.op(b't');
    }
}

/// FNV-1a of the tensor name: each tensor gets its own stream.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// SplitMix64 of (seed, index) as a uniform value in [-1, 1).
fn uniform(seed: u64, index: u64) -> f32 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::official::checkpoint::Checkpoint;

    #[test]
    fn the_pytorch_reader_reads_the_fixture_back() {
        let spec: Vec<TensorSpec> = generator_spec()
            .into_iter()
            .filter(|t| t.name.starts_with("netE.ecd0"))
            .collect();
        let dir = tempdir();
        let path = dir.join("small.pth");
        write_checkpoint(&path, &spec).unwrap();
        let mut ck = Checkpoint::open(&path, "test checkpoint", spec.clone()).unwrap();
        for t in &spec {
            assert_eq!(ck.f32(&t.name).unwrap(), values(t), "{}", t.name);
        }
        ck.finish().unwrap();
    }

    #[test]
    fn patterns_are_deterministic_and_spread() {
        let v: Vec<f32> = (0..10_000).map(|i| uniform(7, i)).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0 / 3.0).abs() < 0.01, "{var}");
        assert_eq!(uniform(7, 3), uniform(7, 3));
        assert_ne!(uniform(7, 3), uniform(8, 3));
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sgpn-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
