//! `sgpn-batch [OPTIONS] INPUT... --output DIR`: restores every face of every video under the
//! inputs into a mirrored tree under DIR. See `pipelines/README.md`.
//!
//! Exit status: 0 when every input of this shard is restored (or was already), 1 when some
//! failed (the others are done; the report says which and why), 2 for a usage or set-up error
//! before any file was opened, 130 when interrupted (Ctrl-C or SIGTERM).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use sgpn_batch::element::ElementSettings;
use sgpn_batch::inputs::{self, Input};
use sgpn_batch::journal::{Entry, Journal, partial_path};
use sgpn_batch::preset::Preset;
use sgpn_batch::progress::Bars;
use sgpn_batch::report::{FileReport, RunReport, Status};
use sgpn_batch::shard::Shard;
use sgpn_batch::transcode::{self, Interrupted, Scale, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "sgpn-batch",
    version,
    about = "Restore every face in a collection of videos with sgpnrestore"
)]
struct Cli {
    /// Video files and folders (searched recursively for video files by extension).
    #[arg(required_unless_present = "manifest")]
    inputs: Vec<PathBuf>,
    /// A text file listing inputs, one per line (repeatable).
    #[arg(long)]
    manifest: Vec<PathBuf>,
    /// The output folder: the inputs' tree is mirrored under it.
    #[arg(long, short)]
    output: PathBuf,
    /// archive: FFV1 in Matroska; mezzanine: ProRes 422 HQ / 4444 in MOV; access: H.264 in MP4;
    /// access-hevc: H.265 in MP4.
    #[arg(long, value_enum, default_value = "archive")]
    preset: Preset,
    /// This task's share of the batch, INDEX/COUNT (default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX and SGPN_SHARD_COUNT; else the whole).
    #[arg(long)]
    shard: Option<Shard>,
    /// Write a JSON report of the run here (rewritten after every file).
    #[arg(long)]
    report: Option<PathBuf>,
    /// A property of sgpnrestore, e.g. --set blend=0.8 (repeatable).
    #[arg(long = "set", value_name = "PROPERTY=VALUE")]
    set: Vec<String>,
    /// Scale every frame before restoring: a height (1080) or a frame (1920x1080, letterboxed).
    #[arg(long)]
    scale: Option<Scale>,
    /// Fail a file that restores no frame for this many seconds.
    #[arg(long, default_value_t = 600)]
    stall_timeout: u64,
    /// List what this shard would restore and skip, and stop.
    #[arg(long)]
    dry_run: bool,
}

/// glibc gives every thread that allocates its own malloc arena, up to 8 per core, and frees
/// little of them back. Each file's pipeline starts fresh streaming and ONNX Runtime threads, so
/// over a long batch the resident memory crept up by about 7 MiB per file (`pipelines/soak.sh`:
/// 334 → 600 MiB between files over 37 files); two arenas keep it flat.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in `main`, before any other thread exists; mallopt only sets a
    // tuning parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sgpn-batch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The output of an input: its mirrored path with the preset's extension.
fn output_path(root: &Path, input: &Input, preset: Preset) -> PathBuf {
    root.join(&input.relative)
        .with_extension(preset.extension())
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    sgpn_batch::init()?;
    let element = ElementSettings::parse(&cli.set)?;
    let settings = Settings {
        preset: cli.preset,
        element,
        scale: cli.scale,
        stall_timeout: Duration::from_secs(cli.stall_timeout.max(1)),
    };
    let fingerprint = format!(
        "preset={}; scale={:?}; {}",
        cli.preset.name(),
        cli.scale,
        settings.element.fingerprint()?
    );
    let shard = match cli.shard {
        Some(shard) => shard,
        None => Shard::from_env(|k| std::env::var(k).ok())?.unwrap_or(Shard::WHOLE),
    };
    let all = inputs::collect(&cli.inputs, &cli.manifest)?;
    anyhow::ensure!(!all.is_empty(), "no video files among the inputs");
    let sizes: Vec<u64> = all.iter().map(|i| i.size).collect();
    let mine: Vec<&Input> = shard.select(&sizes).into_iter().map(|i| &all[i]).collect();
    std::fs::create_dir_all(&cli.output)
        .with_context(|| format!("cannot create the output folder {}", cli.output.display()))?;
    let journal = Journal::open(&cli.output)?;

    if cli.dry_run {
        for input in &mine {
            let state = if journal.finished(input, &fingerprint).is_some() {
                "done   "
            } else {
                "restore"
            };
            println!(
                "{state} {} -> {}",
                input.path.display(),
                output_path(&cli.output, input, cli.preset).display()
            );
        }
        println!("shard {shard}: {} of {} inputs", mine.len(), all.len());
        return Ok(ExitCode::SUCCESS);
    }

    settings.element.preflight()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        // A second signal does not wait for the file to be wound up.
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C / SIGTERM handler")?;

    let started = Instant::now();
    let mut report = RunReport {
        preset: cli.preset.name(),
        shard: shard.to_string(),
        element: settings.element.pairs(),
        scale: cli.scale,
        inputs_in_batch: all.len(),
        seconds: 0.0,
        restored: 0,
        already_done: 0,
        failed: 0,
        interrupted: 0,
        files: Vec::new(),
    };
    let total_bytes = mine.iter().map(|i| i.size).sum();
    let mut bars = Bars::new(mine.len(), total_bytes);
    bars.println(&format!(
        "sgpn-batch: shard {shard}, {} of {} inputs, preset {}",
        mine.len(),
        all.len(),
        cli.preset.name()
    ));
    for (n, input) in mine.iter().enumerate() {
        let output = output_path(&cli.output, input, cli.preset);
        let file = restore_one(
            input,
            &output,
            &settings,
            &fingerprint,
            &journal,
            &cancel,
            &mut bars,
        );
        let line = match (&file.status, &file.error) {
            (Status::Failed, Some(e)) => format!("failed    {}: {e}", input.path.display()),
            (status, _) => format!(
                "{:<9} {} ({} frames, {} faces, {:.1} s)",
                status.label(),
                input.path.display(),
                file.frames,
                file.faces,
                file.seconds
            ),
        };
        bars.finish_file(&line, input.size, n + 1, mine.len());
        let interrupted = file.status == Status::Interrupted;
        report.files.push(file);
        report.seconds = started.elapsed().as_secs_f64();
        report.count();
        if let Some(path) = &cli.report {
            report.write(path)?;
        }
        if interrupted {
            break;
        }
    }
    bars.finish();
    eprintln!(
        "sgpn-batch: {} restored, {} already done, {} failed{} in {:.1} s",
        report.restored,
        report.already_done,
        report.failed,
        if report.interrupted > 0 {
            ", interrupted"
        } else {
            ""
        },
        report.seconds
    );
    Ok(if report.interrupted > 0 {
        ExitCode::from(130)
    } else if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Restores one input unless the journal has it, into its partial name first.
fn restore_one(
    input: &Input,
    output: &Path,
    settings: &Settings,
    fingerprint: &str,
    journal: &Journal,
    cancel: &AtomicBool,
    bars: &mut Bars,
) -> FileReport {
    let mut file = FileReport {
        input: input.path.clone(),
        output: output.to_path_buf(),
        status: Status::Failed,
        frames: 0,
        faces: 0,
        seconds: 0.0,
        first_pts_s: None,
        last_pts_s: None,
        error: None,
        notes: Vec::new(),
    };
    if let Some(entry) = journal.finished(input, fingerprint) {
        file.status = Status::AlreadyDone;
        (file.frames, file.faces, file.seconds) = (entry.frames, entry.faces, entry.seconds);
        return file;
    }
    let partial = partial_path(output);
    let started = Instant::now();
    bars.start_file(&input.relative.display().to_string());
    let result = output
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .with_context(|| format!("cannot create the folder of {}", output.display()))
        .and_then(|()| {
            transcode::restore(&input.path, &partial, settings, cancel, &mut |p| {
                bars.update(p)
            })
        })
        .and_then(|outcome| {
            std::fs::rename(&partial, output).with_context(|| {
                format!(
                    "cannot rename {} to {}",
                    partial.display(),
                    output.display()
                )
            })?;
            Ok(outcome)
        });
    file.seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(outcome) => {
            (file.frames, file.faces, file.notes) = (outcome.frames, outcome.faces, outcome.notes);
            file.first_pts_s = outcome.first_pts.map(|t| t as f64 * 1e-9);
            file.last_pts_s = outcome.last_pts.map(|t| t as f64 * 1e-9);
            let entry = Entry {
                input: input.path.clone(),
                input_size: input.size,
                input_mtime_ns: input.mtime_ns,
                settings: fingerprint.to_owned(),
                output: output.to_path_buf(),
                output_size: std::fs::metadata(output).map_or(0, |m| m.len()),
                frames: file.frames,
                faces: file.faces,
                seconds: file.seconds,
            };
            match journal.record(input, &entry) {
                Ok(()) => file.status = Status::Restored,
                Err(e) => file.error = Some(format!("{e:#}")),
            }
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            if e.is::<Interrupted>() {
                file.status = Status::Interrupted;
            } else {
                file.error = Some(format!("{e:#}"));
            }
        }
    }
    file
}
