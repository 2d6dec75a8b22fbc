//! Colour calibration of an exported generator (`sgpn-train calibrate-colour`).
//!
//! A generator trained with Adam at β1 = 0 (StyleGAN2's setting) and L1 moves its global colour
//! by several grey levels from one step to the next; a raw snapshot keeps the colour of its step,
//! a tint shared by every face it restores. This module measures
//! that tint on degraded *training* faces, exactly as `eval` measures it on held-out faces
//! ([`crate::eval::colour`]), and removes it with a constant added to the output
//! ([`graph::add_colour_offset`]). The constant is the least-squares fix of a global offset; it
//! cannot remove a tint that differs from face to face, so the command also reports the spread.

pub mod cli;
pub mod graph;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sgpn_face::shape::ShapePrior;
use sgpn_models::generator::Generator;

use crate::data::degrade::pair_seed;
use crate::eval::colour::{ColourShift, colour_shift};
use crate::eval::run::{degrade_and_restore, eval_degradation, mean_and_sd, read_crop};

/// The colour shift of a generator over a set of faces.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftEstimate {
    pub faces: usize,
    /// Mean over faces of each face's shift (grey levels, R G B).
    pub mean: ColourShift,
    /// Standard deviation over faces: how much of the tint is *not* shared.
    pub spread: ColourShift,
}

impl ShiftEstimate {
    /// Standard error of the mean, per channel.
    pub fn std_err(&self) -> ColourShift {
        self.spread.map(|s| s / (self.faces as f64).sqrt())
    }

    /// The offset that removes the mean shift, in grey levels.
    pub fn correction(&self) -> [f32; 3] {
        self.mean.map(|m| -m as f32)
    }
}

impl std::fmt::Display for ShiftEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let se = self.std_err();
        for (c, name) in ["R", "G", "B"].iter().enumerate() {
            write!(
                f,
                "{}{name} {:+.2} ± {:.2} (per face σ {:.2})",
                if c > 0 { ", " } else { "" },
                self.mean[c],
                se[c],
                self.spread[c]
            )?;
        }
        write!(f, " grey levels over {} faces", self.faces)
    }
}

/// Degrades each aligned HQ crop as `eval` does (face `i` seeded by `pair_seed(seed, 0, i)`),
/// restores it with `generator` (and `shape` for a `full` one) and measures the restored face's
/// colour shift against the HQ. The output is not rounded to 8 bits as `eval` rounds it: rounding
/// is unbiased for a network's output, but not for an output that is the integer input plus a
/// constant, and the offset must be the network's own.
pub fn measure_colour_shift(
    generator: &mut Generator,
    mut shape: Option<&mut ShapePrior>,
    crops: &[PathBuf],
    seed: u64,
    mut progress: impl FnMut(usize),
) -> Result<ShiftEstimate> {
    if crops.len() < 2 {
        bail!(
            "colour calibration needs at least 2 faces, got {}",
            crops.len()
        );
    }
    let cfg = eval_degradation(generator.info.size);
    let mut shifts = Vec::with_capacity(crops.len());
    for (i, crop) in crops.iter().enumerate() {
        let hq = read_crop(crop)?;
        let (_, face) = degrade_and_restore(
            generator,
            shape.as_deref_mut(),
            &hq,
            &cfg,
            pair_seed(seed, 0, i as u64),
        )
        .with_context(|| format!("face {}", crop.display()))?;
        shifts.push(colour_shift(&face.restored, &face.hq));
        progress(i + 1);
    }
    let channel = |c: usize| {
        let v: Vec<f64> = shifts.iter().map(|s| s[c]).collect();
        mean_and_sd(&v).expect("at least two faces, checked above")
    };
    let per_channel = [channel(0), channel(1), channel(2)];
    Ok(ShiftEstimate {
        faces: shifts.len(),
        mean: per_channel.map(|(m, _)| m),
        spread: per_channel.map(|(_, sd)| sd),
    })
}
