//! Checkpoints: a folder with both networks, the generator's EMA (StyleGAN2 / GFPGAN
//! `net_g_ema`) and both optimizer states (burnpack files, which keep the parameter ids that the
//! Adam state is keyed by), and `trainer.json` with the configs, the step, the exact position of
//! the noise RNG and the loss history. `trainer.json` is written last, so a folder with it is
//! complete. Checkpoints written before the EMA existed (no `generator_ema.bpk`) load with the
//! EMA initialised from the generator.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use burn::prelude::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::shape::ShapeTeacher;
use super::trainer::{ShapeSettings, ShapeState, StepLosses, TrainConfig, Trainer};
use crate::model::Config;
use crate::model::regressor::ShapeRegressor;

pub const GENERATOR_FILE: &str = "generator.bpk";
pub const GENERATOR_EMA_FILE: &str = "generator_ema.bpk";
pub const DISCRIMINATOR_FILE: &str = "discriminator.bpk";
pub const G_OPTIM_FILE: &str = "g_optim.bpk";
pub const D_OPTIM_FILE: &str = "d_optim.bpk";
pub const STATE_FILE: &str = "trainer.json";
/// Full variant: the jointly trained regressor, its frozen copy (for L_lm) and its optimizer.
pub const REGRESSOR_DIR: &str = "regressor";
pub const FROZEN_REGRESSOR_DIR: &str = "regressor_frozen";
pub const R_OPTIM_FILE: &str = "r_optim.bpk";

/// ChaCha8 position: seed, stream and word position (u128 as a decimal string for JSON).
#[derive(Serialize, Deserialize)]
struct RngState {
    seed: [u8; 32],
    stream: u64,
    word_pos: String,
}

#[derive(Serialize, Deserialize)]
struct TrainerState {
    model: Config,
    train: TrainConfig,
    step: u64,
    rng: RngState,
    history: Vec<StepLosses>,
    /// The full variant's shape branch settings (absent for no3d and older checkpoints).
    #[serde(default)]
    shape: Option<ShapeSettings>,
}

fn read_state(dir: &Path) -> anyhow::Result<TrainerState> {
    let state_path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&state_path).with_context(|| {
        format!(
            "reading checkpoint state {} (is this a checkpoint folder?)",
            state_path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", state_path.display()))
}

fn record_err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("checkpoint file {}: {e}", path.display())
}

/// Whether `dir` holds a complete checkpoint.
pub fn exists(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file()
}

impl Trainer {
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating checkpoint folder {}", dir.display()))?;
        // The state file marks a complete checkpoint: drop it first, write it last.
        let state_path = dir.join(STATE_FILE);
        if state_path.exists() {
            std::fs::remove_file(&state_path)
                .with_context(|| format!("removing {}", state_path.display()))?;
        }
        let p = dir.join(GENERATOR_FILE);
        self.generator
            .clone()
            .save_file(&p)
            .map_err(|e| record_err(&p, e))?;
        let p = dir.join(GENERATOR_EMA_FILE);
        self.generator_ema
            .clone()
            .save_file(&p)
            .map_err(|e| record_err(&p, e))?;
        let p = dir.join(DISCRIMINATOR_FILE);
        self.discriminator
            .clone()
            .save_file(&p)
            .map_err(|e| record_err(&p, e))?;
        let p = dir.join(G_OPTIM_FILE);
        self.g_optim.save(&p).map_err(|e| record_err(&p, e))?;
        let p = dir.join(D_OPTIM_FILE);
        self.d_optim.save(&p).map_err(|e| record_err(&p, e))?;
        if let Some(shape) = &self.shape {
            shape.regressor.save(&dir.join(REGRESSOR_DIR))?;
            shape.frozen.save(&dir.join(FROZEN_REGRESSOR_DIR))?;
            let p = dir.join(R_OPTIM_FILE);
            shape.optim.save(&p).map_err(|e| record_err(&p, e))?;
        }
        let state = TrainerState {
            model: self.model().clone(),
            train: self.train.clone(),
            step: self.step,
            rng: RngState {
                seed: self.rng.get_seed(),
                stream: self.rng.get_stream(),
                word_pos: self.rng.get_word_pos().to_string(),
            },
            history: self.history.clone(),
            shape: self.shape.as_ref().map(|s| s.settings.clone()),
        };
        let json = serde_json::to_vec_pretty(&state)?;
        let tmp = dir.join(format!("{STATE_FILE}.part"));
        std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &state_path)
            .with_context(|| format!("writing {}", state_path.display()))?;
        Ok(())
    }

    /// Restores a trainer saved by [`Trainer::save`] onto `device` (autodiff). A full-variant
    /// checkpoint also needs its shape branch: [`Trainer::load_shape`].
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let state_path = dir.join(STATE_FILE);
        let state = read_state(dir)?;
        let mut t = Trainer::new(state.model, state.train, device)?;
        let p = dir.join(GENERATOR_FILE);
        t.generator = t
            .generator
            .try_load_file(&p)
            .map_err(|e| record_err(&p, e))?;
        let p = dir.join(GENERATOR_EMA_FILE);
        t.generator_ema = if p.is_file() {
            t.generator
                .valid()
                .try_load_file(&p)
                .map_err(|e| record_err(&p, e))?
        } else {
            t.generator.valid()
        };
        let p = dir.join(DISCRIMINATOR_FILE);
        t.discriminator = t
            .discriminator
            .try_load_file(&p)
            .map_err(|e| record_err(&p, e))?;
        let p = dir.join(G_OPTIM_FILE);
        t.g_optim = t.g_optim.load(&p).map_err(|e| record_err(&p, e))?;
        let p = dir.join(D_OPTIM_FILE);
        t.d_optim = t.d_optim.load(&p).map_err(|e| record_err(&p, e))?;
        let word_pos: u128 = state
            .rng
            .word_pos
            .parse()
            .with_context(|| format!("bad rng position in {}", state_path.display()))?;
        t.rng = ChaCha8Rng::from_seed(state.rng.seed);
        t.rng.set_stream(state.rng.stream);
        t.rng.set_word_pos(word_pos);
        t.step = state.step;
        t.history = state.history;
        Ok(t)
    }

    /// Restores the full variant's shape branch of the checkpoint in `dir`, with the teacher of
    /// the prepared cache `data`. The 3DMM file must still be the one the run started with.
    pub fn load_shape(&mut self, dir: &Path, data: &Path) -> anyhow::Result<()> {
        let Some(settings) = read_state(dir)?.shape else {
            anyhow::bail!("{} holds no shape branch (a no3d run)", dir.display());
        };
        let teacher =
            ShapeTeacher::open(data, &settings.morphable, self.model().size, &self.device)?;
        anyhow::ensure!(
            teacher.morphable_sha256() == settings.morphable_sha256,
            "{}: the 3DMM {} changed since the run started (SHA-256 {} then, {} now)",
            dir.display(),
            settings.morphable.display(),
            settings.morphable_sha256,
            teacher.morphable_sha256()
        );
        let frozen = ShapeRegressor::load(&dir.join(FROZEN_REGRESSOR_DIR), &self.device)?;
        let mut shape = ShapeState::new(settings, teacher, frozen);
        shape.regressor = ShapeRegressor::load(&dir.join(REGRESSOR_DIR), &self.device)?
            .freeze()
            .set_require_grad(true);
        let p = dir.join(R_OPTIM_FILE);
        shape.optim = shape.optim.load(&p).map_err(|e| record_err(&p, e))?;
        self.shape = Some(shape);
        Ok(())
    }
}

/// Which generator weights to take from a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorWeights {
    /// The exponential moving average (what StyleGAN2 and GFPGAN evaluate and ship); a
    /// checkpoint written before the EMA existed gives the generator itself.
    Ema,
    /// The trained generator itself, as the optimizer left it.
    Raw,
}

/// The file in `dir` that holds `weights`: the EMA file when asked for and present, else the
/// generator's.
pub fn generator_file(dir: &Path, weights: GeneratorWeights) -> PathBuf {
    let ema = dir.join(GENERATOR_EMA_FILE);
    match weights {
        GeneratorWeights::Ema if ema.is_file() => ema,
        _ => dir.join(GENERATOR_FILE),
    }
}

/// Loads just the generator (for export and evaluation) on `device`: the weights
/// [`generator_file`] picks.
pub fn load_generator(
    dir: &Path,
    device: &Device,
    weights: GeneratorWeights,
) -> anyhow::Result<crate::model::Generator> {
    let state = read_state(dir)?;
    let g = crate::model::Generator::new(&state.model, 0, device)?;
    let p = generator_file(dir, weights);
    g.try_load_file(&p).map_err(|e| record_err(&p, e))
}
