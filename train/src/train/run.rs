//! The training loop: steps from a [`PairSource`] until the step target or the time budget is
//! reached, with a progress bar (losses, ETA), checkpoints every N steps and at exit, and the
//! loss curve. A run resumed from its checkpoint continues exactly where it stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::curve;
use super::source::PairSource;
use super::trainer::Trainer;

/// Sub-folder of the run folder that holds the checkpoint.
pub const CHECKPOINT_DIR: &str = "checkpoint";

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Run folder: `checkpoint/`, `losses.csv`, `losses.png`.
    pub out: PathBuf,
    /// Train until this many steps are done in total.
    pub steps: u64,
    /// Stop cleanly (with a checkpoint) after this long.
    pub max_time: Option<Duration>,
    pub checkpoint_every: u64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    StepsDone,
    TimeBudget,
}

#[derive(Clone, Debug)]
pub struct RunSummary {
    pub steps_done: u64,
    pub step: u64,
    pub seconds: f64,
    pub stop: StopReason,
}

pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join(CHECKPOINT_DIR)
}

fn save_all(trainer: &Trainer, out: &Path) -> anyhow::Result<()> {
    trainer.save(&checkpoint_dir(out))?;
    curve::write_csv(&trainer.history, &out.join("losses.csv"))?;
    curve::write_png(&trainer.history, &out.join("losses.png"))
}

/// The training progress bar (elapsed, steps, rate, ETA, a message) at `pos` of `len`, drawn on
/// stderr when `visible`.
pub fn progress_bar(len: u64, pos: u64, visible: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_position(pos);
    bar
}

pub fn run(
    trainer: &mut Trainer,
    source: &mut dyn PairSource,
    opts: &RunOptions,
) -> anyhow::Result<RunSummary> {
    anyhow::ensure!(
        source.size() == trainer.model().size,
        "the data source gives {} px pairs but the model is {} px",
        source.size(),
        trainer.model().size
    );
    let start = Instant::now();
    let first = trainer.step;
    let bar = progress_bar(opts.steps, first, opts.progress);
    let mut stop = StopReason::StepsDone;
    while trainer.step < opts.steps {
        if opts.max_time.is_some_and(|t| start.elapsed() >= t) {
            stop = StopReason::TimeBudget;
            break;
        }
        let batch = source.batch(trainer.step, trainer.train.batch)?;
        let l = trainer.step(&batch)?;
        bar.set_message(format!(
            "l1 {:.4} g_adv {:.3} d {:.3}{}{}",
            l.l1,
            l.g_adv,
            l.d_loss,
            l.r1.map(|r| format!(" r1 {r:.3}")).unwrap_or_default(),
            l.identity
                .map(|i| format!(" id {i:.4}"))
                .unwrap_or_default()
        ));
        bar.set_position(trainer.step);
        if opts.checkpoint_every > 0 && trainer.step.is_multiple_of(opts.checkpoint_every) {
            save_all(trainer, &opts.out)?;
        }
    }
    save_all(trainer, &opts.out)?;
    bar.finish();
    Ok(RunSummary {
        steps_done: trainer.step - first,
        step: trainer.step,
        seconds: start.elapsed().as_secs_f64(),
        stop,
    })
}
