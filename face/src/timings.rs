//! Per-stage wall time of the face pipeline, for the benchmark and the element's debug log.

use std::time::{Duration, Instant};

/// Milliseconds spent in each step for the last frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    pub detect: f64,
    pub track: f64,
    pub align_warp: f64,
    /// Shape step: the crops resized to 224 and the 3DMM regressor's batched run.
    pub regress: f64,
    /// Shape step: 3DMM shape and albedo and the rendered faces (and, in the render output
    /// mode, their composite over the crops).
    pub render: f64,
    pub restore: f64,
    pub paste: f64,
}

impl StageTimings {
    /// Everything but the generator, which the speed targets count apart.
    pub fn without_restore(&self) -> f64 {
        self.detect + self.track + self.align_warp + self.shape() + self.paste
    }

    /// The shape step (paper Sec. 3.1): regressor and render.
    pub fn shape(&self) -> f64 {
        self.regress + self.render
    }

    pub fn total(&self) -> f64 {
        self.without_restore() + self.restore
    }
}

/// Runs `f` and adds its wall time in milliseconds to `slot`.
pub(crate) fn timed<T>(slot: &mut f64, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    *slot += ms(start.elapsed());
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
