//! Timing shared by the kernel benches: median wall-clock and CPU milliseconds over a fixed
//! number of runs (CPU time stays meaningful on a machine shared with other processes).

use std::time::Instant;

/// Timed runs per measurement (after one warm-up run).
pub const ITERS: usize = 25;

/// CPU time of this process (all threads), in ms: robust to other processes on a shared machine.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_PROCESS_CPUTIME_ID exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6
}

/// Median wall-clock ms and median CPU ms (summed over threads) of `f`.
pub fn median_ms(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..ITERS)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_ms());
            f();
            (t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[ITERS / 2], cpu[ITERS / 2])
}
