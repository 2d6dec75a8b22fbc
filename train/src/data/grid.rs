//! `sgpn-train degrade-grid`: a contact sheet of HQ | LQ pairs made by the training degradation
//! (Eq. 16), for a person to compare with real degraded faces.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::{Rgb32FImage, RgbImage};

use super::degrade::{Degradation, DegradationConfig, degrade_with_seed, pair_seed};
use super::pixels::{f32_to_rgb8, rgb8_to_f32};
use super::resize::to_square;

/// Pairs per row of the sheet (each pair is two tiles wide).
const PAIRS_PER_ROW: usize = 4;
/// Gap between tiles, in pixels, filled with white.
const GAP: u32 = 4;

/// The image files (`.jpg`, `.jpeg`, `.png`, any case) directly inside `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list images in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads an image, takes its centred square and resizes that to `size` (bicubic): prepared crops
/// pass through unchanged, raw portraits get a usable face-centred square.
pub fn load_square(path: &Path, size: u32) -> Result<Rgb32FImage> {
    let img = image::open(path)
        .with_context(|| format!("cannot decode {}", path.display()))?
        .to_rgb8();
    let side = img.width().min(img.height());
    let (x0, y0) = ((img.width() - side) / 2, (img.height() - side) / 2);
    let square = image::imageops::crop_imm(&img, x0, y0, side, side).to_image();
    Ok(to_square(rgb8_to_f32(&square), size))
}

/// Writes the sheet: `count` images picked evenly across `input`, each degraded with
/// `pair_seed(seed, 0, i)`. Returns the sampled degradations in sheet order.
pub fn degrade_grid(
    input: &Path,
    out: &Path,
    count: usize,
    seed: u64,
    size: u32,
    cfg: &DegradationConfig,
) -> Result<Vec<(PathBuf, Degradation)>> {
    let files = list_images(input)?;
    if files.is_empty() {
        bail!("no .jpg/.png images in {}", input.display());
    }
    if count == 0 || size == 0 {
        bail!("--count and --size must be positive");
    }
    let count = count.min(files.len());
    let picked: Vec<&PathBuf> = (0..count)
        .map(|i| &files[i * files.len() / count])
        .collect();
    let rows = count.div_ceil(PAIRS_PER_ROW);
    let cols = (2 * PAIRS_PER_ROW.min(count)) as u32;
    let tile = size + GAP;
    let mut sheet = RgbImage::from_pixel(
        cols * tile + GAP,
        rows as u32 * tile + GAP,
        image::Rgb([255; 3]),
    );
    let mut report = Vec::with_capacity(count);
    for (i, path) in picked.into_iter().enumerate() {
        let hq = load_square(path, size)?;
        let (hq, lq, d) = degrade_with_seed(&hq, cfg, pair_seed(seed, 0, i as u64))?;
        let (row, col) = ((i / PAIRS_PER_ROW) as u32, (2 * (i % PAIRS_PER_ROW)) as u32);
        for (k, img) in [hq, lq].iter().enumerate() {
            let x = GAP + (col + k as u32) * tile;
            let y = GAP + row * tile;
            image::imageops::replace(&mut sheet, &f32_to_rgb8(img), i64::from(x), i64::from(y));
        }
        report.push((path.clone(), d));
    }
    sheet
        .save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_has_one_hq_lq_pair_per_image() {
        let root = std::env::temp_dir().join(format!("sgpn-grid-test-{}", std::process::id()));
        let dir = root.join("in");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = DegradationConfig::for_size(32);
        assert!(degrade_grid(&dir, &root.join("g.png"), 4, 1, 32, &cfg).is_err());
        for (i, (w, h)) in [(40, 40), (50, 30), (32, 32)].into_iter().enumerate() {
            RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 7) as u8, 100]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
        let out = root.join("grid.png");
        let report = degrade_grid(&dir, &out, 16, 1, 32, &cfg).unwrap();
        assert_eq!(report.len(), 3, "count is capped by the images available");
        let sheet = image::open(&out).unwrap().to_rgb8();
        // 3 pairs in one row: 6 tiles of 32 px with 4 px gaps.
        assert_eq!(sheet.dimensions(), (6 * 36 + 4, 36 + 4));
        // Same seed, same sheet.
        let again = root.join("again.png");
        degrade_grid(&dir, &again, 16, 1, 32, &cfg).unwrap();
        assert!(image::open(&again).unwrap().to_rgb8().as_raw() == sheet.as_raw());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
