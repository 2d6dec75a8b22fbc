//! Progress on a terminal: one bar for the batch (bytes of input done, so that the ETA weighs
//! long files as they are) and one for the file being restored (frames, fps, faces, ETA). Off a
//! terminal (a cluster job's log) there are no bars, one line per finished file instead.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::transcode::Progress;

pub struct Bars {
    multi: MultiProgress,
    batch: ProgressBar,
    file: Option<(ProgressBar, Instant)>,
    terminal: bool,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Bars {
    pub fn new(files: usize, bytes: u64) -> Bars {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let batch = multi.add(ProgressBar::new(bytes));
        batch.set_style(style("batch [{bar:30}] {percent:>3}% {msg} ETA {eta}"));
        batch.set_message(format!("0/{files} files"));
        Bars {
            multi,
            batch,
            file: None,
            terminal,
        }
    }

    pub fn start_file(&mut self, name: &str) {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(style(
            "{prefix} [{bar:30}] {pos}/{len} frames {msg} ETA {eta}",
        ));
        bar.set_prefix(name.to_owned());
        self.file = Some((bar, Instant::now()));
    }

    pub fn update(&self, progress: Progress) {
        let Some((bar, started)) = &self.file else {
            return;
        };
        if let Some(total) = progress.expected_frames {
            bar.set_length(total.max(progress.frames));
        }
        bar.set_position(progress.frames);
        let fps = progress.frames as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{fps:.1} fps, {} faces", progress.faces));
    }

    /// Ends the file's bar and prints its outcome line; `bytes` of the batch are done.
    pub fn finish_file(&mut self, line: &str, bytes: u64, done: usize, files: usize) {
        if let Some((bar, _)) = self.file.take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.batch.inc(bytes);
        self.batch.set_message(format!("{done}/{files} files"));
        self.println(line);
    }

    pub fn println(&self, line: &str) {
        if self.terminal {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        self.batch.finish_and_clear();
    }
}
