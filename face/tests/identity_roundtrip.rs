//! Geometry checks of the whole face path on real photos: detect → align → warp → restore →
//! paste back, with fixture generators written by the project's ONNX writer.
//!
//! - Identity generator, default (residual) paste: the frame comes out within ±3 levels (mean ≤ 0.5)
//!   of the input everywhere — a generator that changes nothing changes no pixel.
//! - Identity generator, replace paste (facexlib's): only the bilinear warp there and back
//!   separates output from input, so the face region stays above 36 dB; a misaligned paste (half a
//!   pixel off) falls far below that.
//! - A generator that brightens the crop by 10 levels: the centre of the face comes out 10 levels
//!   brighter and the frame far from the face is untouched, so the residual paste really pastes.

mod support;

use std::path::Path;

use sgpn_face::{FaceRestorer, OutputMode, PasteMode, RestoreParams, RestoredFace};
use sgpn_models::contract::Template;
use sgpn_models::fixtures::{write_affine_generator, write_identity_generator};
use support::{config, photo, process_rgb, temp_dir};

const PHOTOS: [(&str, f32); 3] = [("obama.jpg", 0.4), ("biden.jpg", 0.3), ("obama2.jpg", 0.5)];

fn restorer(generator: &Path) -> FaceRestorer {
    FaceRestorer::new(&config(generator, None, OutputMode::Restored)).unwrap()
}

/// Runs one RGB frame through the restorer without the colour fix (these generators change
/// nothing but colour, which it would take out); returns the output and the faces.
fn restore(
    generator: &Path,
    w: usize,
    h: usize,
    input: &[u8],
    mode: PasteMode,
) -> (Vec<u8>, Vec<RestoredFace>) {
    restore_with(
        generator,
        w,
        h,
        input,
        RestoreParams {
            paste_mode: mode,
            colour_fix: false,
            ..RestoreParams::default()
        },
    )
}

fn restore_with(
    generator: &Path,
    w: usize,
    h: usize,
    input: &[u8],
    params: RestoreParams,
) -> (Vec<u8>, Vec<RestoredFace>) {
    let mut pixels = input.to_vec();
    let faces = process_rgb(&mut restorer(generator), w, h, &mut pixels, &params).unwrap();
    (pixels, faces)
}

fn abs_diffs(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect()
}

#[test]
fn identity_generator_leaves_the_frame_within_three_levels() {
    let dir = temp_dir("identity");
    let generator = dir.join("identity512.onnx");
    write_identity_generator(&generator, 512, Template::Sgpn).unwrap();
    for (name, scale) in PHOTOS {
        let (w, h, original) = photo(name, scale);
        let (out, faces) = restore(&generator, w, h, &original, PasteMode::Residual);
        assert_eq!(faces.len(), 1, "{name}: one face expected, found {faces:?}");
        let diffs = abs_diffs(&original, &out);
        let max = *diffs.iter().max().unwrap();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        assert!(max <= 3, "{name}: max difference {max} levels");
        assert!(mean <= 0.5, "{name}: mean difference {mean:.3} levels");
    }
}

#[test]
fn replace_paste_of_an_identity_crop_is_only_resampled() {
    let dir = temp_dir("replace");
    let generator = dir.join("identity512.onnx");
    write_identity_generator(&generator, 512, Template::Sgpn).unwrap();
    for (name, scale) in PHOTOS {
        let (w, h, original) = photo(name, scale);
        let (out, faces) = restore(&generator, w, h, &original, PasteMode::Replace);
        assert_eq!(faces.len(), 1, "{name}");
        // PSNR over the pixels the paste touched.
        let touched: Vec<f64> = original
            .iter()
            .zip(&out)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .collect();
        assert!(
            touched.len() > 3 * 1000,
            "{name}: the face was pasted ({} values changed)",
            touched.len()
        );
        let diffs = abs_diffs(&original, &out);
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        // Measured over a face-sized box around the eyes, nose and mouth.
        let f = &faces[0];
        let (x0, x1) = (f.bbox[0].max(0.0) as usize, (f.bbox[2] as usize).min(w - 1));
        let (y0, y1) = (f.bbox[1].max(0.0) as usize, (f.bbox[3] as usize).min(h - 1));
        let mut se = 0.0;
        let mut n = 0usize;
        for y in y0..=y1 {
            for x in x0..=x1 {
                for c in 0..3 {
                    let i = (y * w + x) * 3 + c;
                    se += (f64::from(original[i]) - f64::from(out[i])).powi(2);
                    n += 1;
                }
            }
        }
        let psnr = 10.0 * (255.0f64.powi(2) / (se / n as f64)).log10();
        assert!(
            psnr >= 36.0,
            "{name}: face box PSNR {psnr:.1} dB after warp and paste"
        );
        assert!(mean <= 0.5, "{name}: mean difference {mean:.3} levels");
    }
}

/// The photo brightened: input and output, and per channel at the nose the input value and
/// its gain in levels.
struct Brightened {
    original: Vec<u8>,
    out: Vec<u8>,
    height: usize,
    nose: [(u8, i32); 3],
}

/// Runs the photo through a generator that brightens by +10.2 levels (+0.08 in [-1, 1]), with
/// or without the colour fix.
fn brighten(colour_fix: bool) -> Brightened {
    let dir = temp_dir(if colour_fix { "colour-fix" } else { "brighten" });
    let generator = dir.join("brighten256.onnx");
    write_affine_generator(&generator, 256, Template::Sgpn, 1.0, 0.08).unwrap();
    let (w, h, original) = photo("obama.jpg", 0.4);
    let params = RestoreParams {
        colour_fix,
        ..RestoreParams::default()
    };
    let (out, faces) = restore_with(&generator, w, h, &original, params);
    assert_eq!(faces.len(), 1);
    let nose = faces[0].landmarks[2];
    let (nx, ny) = (nose[0] as usize, nose[1] as usize);
    let nose = std::array::from_fn(|c| {
        let i = (ny * w + nx) * 3 + c;
        (original[i], i32::from(out[i]) - i32::from(original[i]))
    });
    Brightened {
        original,
        out,
        height: h,
        nose,
    }
}

#[test]
fn a_brightening_generator_brightens_only_the_face() {
    let Brightened {
        original,
        out,
        height,
        nose,
    } = brighten(false);
    for (c, (value, gain)) in nose.into_iter().enumerate() {
        if value < 240 {
            assert!((9..=11).contains(&gain), "nose channel {c}: +{gain} levels");
        }
    }
    // The bottom rows of the photo are far below the face.
    let far = original.len() - 10 * (original.len() / height);
    assert_eq!(
        &out[far..],
        &original[far..],
        "pixels far from the face are untouched"
    );
}

/// The colour fix keeps the input's coarse colour: a generator that only brightens leaves the
/// face as it was, to within rounding.
#[test]
fn the_colour_fix_undoes_a_brightening() {
    for (c, (_, gain)) in brighten(true).nose.into_iter().enumerate() {
        assert!(gain.abs() <= 1, "nose channel {c}: {gain:+} levels");
    }
}
