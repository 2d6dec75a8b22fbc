//! Where NIQE prefers the HQ faces (docs/realism.md, session 8): NIQE of the bicubic baseline,
//! the restoration and the HQ face, on the whole crop or on its centre only, with `eval`'s
//! degradations (seed 7), paired against bicubic.
//!
//! ```sh
//! # aligned 256-px crops as `eval` caches them, and a generator:
//! cargo run --release -p sgpn-train --example niqe_regions -- \
//!     runs/eval/shipped/aligned/aaf-val-256-sgpn 24 models/sgpn-small256-no3d.onnx
//! # the hq512 photos at their own 512 px, no generator:
//! cargo run --release -p sgpn-train --example niqe_regions -- ../shared/data/eval/hq512 96
//! ```
//! Arguments: a folder of square crops (a prepared folder with `results.jsonl`, or plain
//! images), the margin in pixels cut from each side before scoring, and optionally a generator
//! ONNX file whose size matches the crops.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use image::Rgb32FImage;
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_train::data::cli::deps_file;
use sgpn_train::data::degrade::pair_seed;
use sgpn_train::data::grid::list_images;
use sgpn_train::data::pixels::luma_bt601;
use sgpn_train::data::prepare::prepared_crops;
use sgpn_train::eval::niqe::NiqeModel;
use sgpn_train::eval::run::{
    PairedDifference, degrade_and_restore, degrade_face, eval_degradation, mean_and_sd, quantized,
    read_crop,
};

/// The luma of `img` without `margin` pixels on each side.
fn centre_luma(img: &Rgb32FImage, margin: usize) -> (Vec<f32>, usize) {
    let size = img.width() as usize;
    let y = luma_bt601(img);
    let s = size.saturating_sub(2 * margin);
    let rows = (margin..margin + s).flat_map(|r| &y[r * size + margin..r * size + margin + s]);
    (rows.copied().collect(), s)
}

fn crops(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("results.jsonl").is_file() {
        prepared_crops(dir)
    } else {
        list_images(dir)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, margin) = match args.as_slice() {
        [dir, margin, ..] => (PathBuf::from(dir), margin.parse::<usize>()?),
        _ => bail!("usage: niqe_regions CROPS_DIR MARGIN [GENERATOR.onnx]"),
    };
    let mut generator = args
        .get(2)
        .map(|m| Generator::load(Path::new(m), &SessionConfig::default()))
        .transpose()?;
    let niqe = NiqeModel::load(&deps_file("data/niqe_image_params.mat"))?;
    // Scores per method: bicubic, restored, HQ.
    let mut scores: [Vec<f64>; 3] = Default::default();
    for (i, path) in crops(&dir)?.iter().enumerate() {
        let hq = read_crop(path)?;
        let size = hq.width();
        if hq.height() != size {
            continue;
        }
        let (cfg, seed) = (eval_degradation(size as usize), pair_seed(7, 0, i as u64));
        let (hq, bicubic, restored) = match generator.as_mut() {
            Some(g) => {
                let (_, face) = degrade_and_restore(g, None, &hq, &cfg, seed)?;
                // Rounded to 8 bits, as `eval` scores it.
                let restored = quantized(&face.restored);
                (face.hq, face.bicubic, Some(restored))
            }
            None => {
                let (_, hq, _, bicubic) = degrade_face(&hq, &cfg, seed)?;
                (hq, bicubic, None)
            }
        };
        let score = |img: &Rgb32FImage| {
            let (y, s) = centre_luma(img, margin);
            niqe.score(&y, s, s).ok()
        };
        let (b, h) = (score(&bicubic), score(&hq));
        let r = restored.as_ref().map(score);
        if let (Some(b), Some(h), Some(r)) = (b, h, r.unwrap_or(Some(f64::NAN))) {
            scores[0].push(b);
            scores[1].push(r);
            scores[2].push(h);
        }
    }
    if scores[0].len() < 2 {
        bail!("fewer than two faces scored in {}", dir.display());
    }
    let paired = |k: usize| -> Vec<f64> {
        scores[k]
            .iter()
            .zip(&scores[0])
            .map(|(x, b)| x - b)
            .collect()
    };
    let mean = |k: usize| mean_and_sd(&scores[k]).map_or(f64::NAN, |(m, _)| m);
    let report = |name: &str, k: usize| match PairedDifference::of(&paired(k)) {
        Some(d) => format!("{name} {:.2} ({:+.2} ± {:.2})", mean(k), d.mean, d.std_err),
        None => format!("{name} n/a"),
    };
    println!(
        "{} faces, margin {margin}: bicubic {:.2}; {}HQ {} (paired against bicubic)",
        scores[0].len(),
        mean(0),
        if generator.is_some() {
            report("restored", 1) + "; "
        } else {
            String::new()
        },
        report("", 2).trim_start()
    );
    Ok(())
}
