//! The regressor's checkpoint files, next to the generator's in a checkpoint folder
//! (`train::checkpoint`): `regressor.bpk` (burnpack record: weights and BatchNorm running
//! statistics) and `regressor.json` (its [`RegressorConfig`] and K), written first and read
//! first so the record is loaded into a network of the right shape.

use std::path::Path;

use anyhow::Context;
use burn::module::Module;
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::{RegressorConfig, ShapeRegressor};

pub const REGRESSOR_FILE: &str = "regressor.bpk";
pub const REGRESSOR_CONFIG_FILE: &str = "regressor.json";

#[derive(Serialize, Deserialize)]
struct RegressorHeader {
    config: RegressorConfig,
    /// K, the 3DMM's coefficient count.
    coefficients: usize,
}

impl ShapeRegressor {
    /// Writes `regressor.json` and `regressor.bpk` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating checkpoint folder {}", dir.display()))?;
        let header = RegressorHeader {
            config: self.config.clone(),
            coefficients: self.coefficients(),
        };
        let p = dir.join(REGRESSOR_CONFIG_FILE);
        std::fs::write(&p, serde_json::to_vec_pretty(&header)?)
            .with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join(REGRESSOR_FILE);
        self.clone()
            .save_file(&p)
            .map_err(|e| anyhow::anyhow!("checkpoint file {}: {e}", p.display()))
    }

    /// Loads a regressor saved by [`ShapeRegressor::save`] onto `device`.
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let p = dir.join(REGRESSOR_CONFIG_FILE);
        let bytes = std::fs::read(&p).with_context(|| {
            format!(
                "reading {} (does this checkpoint hold a regressor?)",
                p.display()
            )
        })?;
        let header: RegressorHeader =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?;
        let model = ShapeRegressor::new(&header.config, header.coefficients, 0, device)?;
        let p = dir.join(REGRESSOR_FILE);
        model
            .try_load_file(&p)
            .map_err(|e| anyhow::anyhow!("checkpoint file {}: {e}", p.display()))
    }
}
