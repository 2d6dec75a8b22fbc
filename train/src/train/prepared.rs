//! [`PairSource`] over a prepared cache (`sgpn-train prepare`: `crops/*.png` + `results.jsonl`)
//! with the Eq. 16 degradation of `crate::data::degrade` applied on the fly (paper Sec. 4.1).
//!
//! Sample `i = step · batch + b` is crop `perm_e[i mod len]` of epoch `e = i / len`, where
//! `perm_e` is a shuffle seeded by `(seed, e)`, degraded with `pair_seed(seed, e, i mod len)`:
//! a pure function of the step, so a resumed run sees the same pairs. The ranges come from the
//! run's [`TrainingDegradation`]: the paper's, or a mix of the severity strata.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::source::{PairBatch, PairOrigin, PairSource};
use crate::data::degrade::{TrainingDegradation, make_training_pair, pair_seed};
use crate::data::pixels::rgb8_to_f32;
use crate::data::prepare::prepared_crops;
use crate::data::resize::to_square;

pub struct PreparedFaces {
    crops: Vec<PathBuf>,
    size: usize,
    seed: u64,
    degradation: TrainingDegradation,
    /// Shuffle of the epoch last used (epoch, order).
    order: Option<(u64, Vec<usize>)>,
}

impl PreparedFaces {
    /// All accepted crops of `cache`, served at `size` px with the paper's degradation.
    pub fn open(cache: &Path, size: usize, seed: u64) -> anyhow::Result<Self> {
        let crops = prepared_crops(cache)
            .with_context(|| format!("reading the prepared cache {}", cache.display()))?;
        anyhow::ensure!(
            !crops.is_empty(),
            "prepared cache {} has no accepted crops (run `sgpn-train prepare` first)",
            cache.display()
        );
        Ok(Self {
            crops,
            size,
            seed,
            // The paper's ranges are for 512-px faces; scaled to the crop size, so that training
            // sees the same degradations as `sgpn-train eval`'s heavy stratum (r = 20 at 256 px
            // would leave a 13-px face).
            degradation: TrainingDegradation::Paper,
            order: None,
        })
    }

    /// The same crops with `degradation`'s ranges.
    pub fn with_degradation(self, degradation: TrainingDegradation) -> Self {
        Self {
            degradation,
            ..self
        }
    }

    pub fn len(&self) -> usize {
        self.crops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.crops.is_empty()
    }

    fn crop_index(&mut self, epoch: u64, j: usize) -> usize {
        let fresh = !matches!(&self.order, Some((e, _)) if *e == epoch);
        if fresh {
            let mut order: Vec<usize> = (0..self.crops.len()).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(pair_seed(
                self.seed,
                epoch,
                u64::MAX,
            )));
            self.order = Some((epoch, order));
        }
        self.order.as_ref().map(|(_, o)| o[j]).unwrap_or(j)
    }
}

impl PairSource for PreparedFaces {
    fn size(&self) -> usize {
        self.size
    }

    fn batch(&mut self, step: u64, n: usize) -> anyhow::Result<PairBatch> {
        let len = self.crops.len() as u64;
        let mut batch = PairBatch {
            n,
            size: self.size,
            hq: Vec::with_capacity(n * 3 * self.size * self.size),
            lq: Vec::with_capacity(n * 3 * self.size * self.size),
            origins: Vec::with_capacity(n),
        };
        for b in 0..n as u64 {
            let i = step * n as u64 + b;
            let (epoch, j) = (i / len, (i % len) as usize);
            let k = self.crop_index(epoch, j);
            let path = self.crops[k].clone();
            let img = image::open(&path)
                .with_context(|| format!("reading crop {}", path.display()))?
                .to_rgb8();
            let s = self.size as u32;
            let hq = to_square(rgb8_to_f32(&img), s);
            let seed = pair_seed(self.seed, epoch, j as u64);
            let (cfg, at) = self.degradation.plan_for_pair(s, seed);
            let pair = make_training_pair(&hq, &cfg, at, seed)
                .with_context(|| format!("degrading {}", path.display()))?;
            batch.hq.extend(pair.hq);
            batch.lq.extend(pair.lq);
            batch.origins.push(PairOrigin {
                crop: k,
                flipped: pair.degradation.flip,
            });
        }
        Ok(batch)
    }
}
