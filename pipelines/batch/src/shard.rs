//! Sharding a batch over the tasks of a cluster job: every input goes to exactly one shard, and
//! the shards carry about the same number of bytes.
//!
//! The split is a pure function of the input list (paths and sizes), so the tasks of a Slurm job
//! array or a Kubernetes Indexed Job, each listing the same folders, agree on it without talking
//! to each other. Inputs are taken largest first and each goes to the shard with the fewest bytes
//! so far (longest-processing-time scheduling), ties to the lower index.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: usize, count: usize) -> anyhow::Result<Shard> {
        if count == 0 {
            bail!("a shard count must be at least 1");
        }
        if index >= count {
            bail!(
                "shard index {index} is out of range for {count} shards (indices 0 to {})",
                count - 1
            );
        }
        Ok(Shard { index, count })
    }

    /// The shard a cluster task runs, from its environment:
    /// - Slurm job arrays: `SLURM_ARRAY_TASK_ID` relative to `SLURM_ARRAY_TASK_MIN` (arrays may
    ///   start at 1), of `SLURM_ARRAY_TASK_COUNT`;
    /// - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`, of `SGPN_SHARD_COUNT` (Kubernetes does
    ///   not pass the number of completions to the pod: set it to the Job's `completions`).
    ///
    /// `None` when neither is set.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Shard>> {
        let number = |name: &str| -> anyhow::Result<Option<usize>> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .with_context(|| format!("{name}={v:?} is not a non-negative integer"))
                })
                .transpose()
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .context("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).with_context(|| {
                format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
            })?;
            return Shard::new(index, count)
                .context("the Slurm array does not map onto contiguous shards (use --array=0-N or 1-N, or pass --shard)")
                .map(Some);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number("SGPN_SHARD_COUNT")?.context(
                "JOB_COMPLETION_INDEX is set but SGPN_SHARD_COUNT is not: set it to the Job's completions",
            )?;
            return Shard::new(index, count).map(Some);
        }
        Ok(None)
    }

    /// For each input (by its size in bytes, in the batch's order), the shard it belongs to.
    pub fn assign(sizes: &[u64], count: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        // Largest first; equal sizes keep the batch's (sorted) order, so the split is stable.
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
        let mut load = vec![0u64; count.max(1)];
        let mut shard_of = vec![0; sizes.len()];
        for i in order {
            let lightest = (0..load.len()).min_by_key(|&s| (load[s], s)).unwrap_or(0);
            load[lightest] += sizes[i];
            shard_of[i] = lightest;
        }
        shard_of
    }

    /// The positions of the inputs this shard restores.
    pub fn select(&self, sizes: &[u64]) -> Vec<usize> {
        Shard::assign(sizes, self.count)
            .into_iter()
            .enumerate()
            .filter(|&(_, s)| s == self.index)
            .map(|(i, _)| i)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    /// `INDEX/COUNT`, e.g. `0/4` for the first of four shards.
    fn from_str(s: &str) -> anyhow::Result<Shard> {
        let (index, count) = s
            .split_once('/')
            .with_context(|| format!("--shard {s:?}: expected INDEX/COUNT, e.g. 0/4"))?;
        let parse = |v: &str, what: &str| {
            v.trim().parse::<usize>().with_context(|| {
                format!("--shard {s:?}: {what} {v:?} is not a non-negative integer")
            })
        };
        Shard::new(parse(index, "index")?, parse(count, "count")?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_input_lands_in_exactly_one_shard() {
        // Sizes spread over four orders of magnitude, with ties.
        let sizes: Vec<u64> = (0..97u64)
            .map(|i| (i * 7919 % 1013 + 1) * 10u64.pow((i % 4) as u32))
            .collect();
        for count in 1..=9 {
            let mut seen = vec![0; sizes.len()];
            let mut loads = Vec::new();
            for index in 0..count {
                let picked = Shard::new(index, count).unwrap().select(&sizes);
                loads.push(picked.iter().map(|&i| sizes[i]).sum::<u64>());
                for i in picked {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{count} shards: {seen:?}");
            // Greedy largest-first: no shard exceeds another by more than the largest input.
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            assert!(
                hi - lo <= *sizes.iter().max().unwrap(),
                "{count} shards: loads {loads:?}"
            );
        }
    }

    #[test]
    fn the_split_balances_bytes_not_file_counts() {
        // One big file and four small ones: the big one alone on a shard.
        let sizes = [100, 10, 10, 10, 10];
        assert_eq!(Shard::assign(&sizes, 2), vec![0, 1, 1, 1, 1]);
    }

    #[test]
    fn the_split_is_the_same_in_every_task() {
        let sizes = [5, 5, 5, 3, 9, 1];
        assert_eq!(Shard::assign(&sizes, 3), Shard::assign(&sizes, 3));
        assert_eq!(Shard::assign(&sizes, 3), vec![1, 2, 1, 2, 0, 2]);
    }

    #[test]
    fn shard_arguments_are_checked() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2"] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("shard"), "{bad}: {err}");
        }
    }

    #[test]
    fn cluster_environments_give_the_shard() {
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            Shard::from_env(slurm).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), ("SGPN_SHARD_COUNT", "5")]);
        assert_eq!(
            Shard::from_env(k8s).unwrap(),
            Some(Shard { index: 0, count: 5 })
        );
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        let err = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).unwrap_err();
        assert!(err.to_string().contains("SGPN_SHARD_COUNT"), "{err}");
        // A sparse array (--array=0,4,8) cannot be mapped onto shards.
        let sparse = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert!(Shard::from_env(sparse).is_err());
    }
}
