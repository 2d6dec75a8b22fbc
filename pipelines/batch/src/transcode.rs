//! One input through `sgpnrestore` into one output file.
//!
//! ```text
//! filesrc ! parsebin ─ video ─ queue ! decodebin ! deinterlace ! videoconvert ! videoscale ! capsfilter
//!                   │           ! sgpnrestore ! videoconvert ! <preset's encoder> ! queue ! mux ! filesink
//!                   ├ audio ─── queue ! mux                (as it is, when the container takes it)
//!                   │       └── queue ! decodebin ! <preset's audio encoder> ! queue ! mux
//!                   └ subtitles and others ─ queue ! mux  (or dropped, with a note in the report)
//! ```
//!
//! `parsebin` exposes the streams of the container parsed but not decoded, so audio and
//! subtitles reach the new container bit for bit, and the container's tags travel downstream to
//! the muxer. Only the first video stream is restored. The video keeps its timestamps; its
//! size is fixed at the first frame's (or `--scale`'s), and a mid-file change of resolution is
//! scaled into it with borders rather than renegotiating the encoder and container.
//! The queues in front of the muxer hold audio without limit: the video lags by the encoder's
//! look-ahead and the restoration, and a bounded audio queue would block the demuxer's thread,
//! starving the video it waits for.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use gst::prelude::*;

use crate::element::ElementSettings;
use crate::preset::{Preset, make};
use crate::subtitles;

/// The size restored frames are scaled to before restoration (an SD archive brought to HD has
/// its faces restored at the output resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Scale {
    /// This height, the width from the display aspect ratio (even), square pixels.
    Height(u32),
    /// This frame, the picture letterboxed into it, square pixels.
    Size(u32, u32),
}

impl std::str::FromStr for Scale {
    type Err = anyhow::Error;

    /// `1080` (a height) or `1920x1080`.
    fn from_str(s: &str) -> anyhow::Result<Scale> {
        let number = |v: &str| -> anyhow::Result<u32> {
            let n: u32 = v
                .trim()
                .parse()
                .with_context(|| format!("--scale {s:?}: {v:?} is not a size in pixels"))?;
            anyhow::ensure!(
                (16..=16384).contains(&n),
                "--scale {s:?}: {n} is outside 16 to 16384 pixels"
            );
            Ok(n)
        };
        match s.split_once(['x', 'X']) {
            Some((w, h)) => Ok(Scale::Size(number(w)?, number(h)?)),
            None => Ok(Scale::Height(number(s)?)),
        }
    }
}

/// How a batch restores each file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preset: Preset,
    pub element: ElementSettings,
    pub scale: Option<Scale>,
    /// A file whose restoration makes no progress for this long fails (a stuck decoder or a
    /// source that never ends).
    pub stall_timeout: Duration,
}

/// Progress of the file being restored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub frames: u64,
    pub faces: u64,
    /// From the container's duration and the video's frame rate, when both are known.
    pub expected_frames: Option<u64>,
}

/// A restored file.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub frames: u64,
    pub faces: u64,
    /// Presentation times of the first and last restored frames, nanoseconds.
    pub first_pts: Option<u64>,
    pub last_pts: Option<u64>,
    /// Streams copied, re-encoded or dropped, and anything else a user should know.
    pub notes: Vec<String>,
}

/// The batch was interrupted (Ctrl-C, SIGTERM) while this file was being restored.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// What the streaming threads report to the bus loop.
#[derive(Default)]
struct Shared {
    video_streams: usize,
    notes: Vec<String>,
    error: Option<anyhow::Error>,
    first_pts: Option<u64>,
    last_pts: Option<u64>,
    frame_rate: Option<f64>,
}

#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    faces: AtomicU64,
}

struct Graph {
    pipeline: gst::Pipeline,
    mux: gst::Element,
    settings: Settings,
    shared: Mutex<Shared>,
    counters: Counters,
}

impl Graph {
    fn fail(&self, error: anyhow::Error) {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.error.get_or_insert(error);
    }

    fn note(&self, note: String) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .notes
            .push(note);
    }

    /// Adds `elements` to the pipeline, links them in a chain and starts them.
    fn chain(&self, elements: &[gst::Element]) -> anyhow::Result<()> {
        self.pipeline.add_many(elements)?;
        gst::Element::link_many(elements)?;
        for element in elements {
            element.sync_state_with_parent()?;
        }
        Ok(())
    }

    /// A muxer pad for a stream of `caps` (`kind` is `video`, `audio` or `subtitle`), if the
    /// container takes it as it is.
    fn mux_pad(&self, kind: &str, caps: &gst::Caps) -> Option<gst::Pad> {
        let template = self.mux.pad_template(&format!("{kind}_%u"))?;
        if !template.caps().can_intersect(caps) {
            return None;
        }
        self.mux.request_pad(&template, None, Some(caps))
    }

    /// A queue that never blocks its upstream thread (see the module comment).
    fn unbounded_queue() -> anyhow::Result<gst::Element> {
        make(
            "queue",
            &[
                ("max-size-buffers", "0"),
                ("max-size-bytes", "0"),
                ("max-size-time", "0"),
            ],
        )
    }

    fn link_into(&self, pad: &gst::Pad, target: &gst::Element) -> anyhow::Result<()> {
        let sink = target
            .static_pad("sink")
            .context("element without a sink pad")?;
        pad.link(&sink)
            .map_err(|e| anyhow!("cannot link {} to {}: {e:?}", pad.name(), target.name()))?;
        Ok(())
    }

    /// A stream that this output does not carry: consumed, so the demuxer keeps going.
    fn drop_stream(&self, pad: &gst::Pad, why: String) -> anyhow::Result<()> {
        let sink = make("fakesink", &[("sync", "false"), ("async", "false")])?;
        self.chain(std::slice::from_ref(&sink))?;
        self.link_into(pad, &sink)?;
        self.note(why);
        Ok(())
    }

    fn stream_added(self: &Arc<Self>, pad: &gst::Pad) -> anyhow::Result<()> {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let media = caps
            .structure(0)
            .map_or_else(String::new, |s| s.name().to_string());
        if media.starts_with("video/") {
            let first = {
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                shared.video_streams += 1;
                shared.video_streams == 1
            };
            if first {
                self.video_stream(pad)
            } else {
                self.drop_stream(
                    pad,
                    format!(
                        "video stream {} ({media}) dropped: only the first is restored",
                        pad.name()
                    ),
                )
            }
        } else if media.starts_with("audio/") {
            self.audio_stream(pad, &caps, &media)
        } else {
            if let Some(mux_pad) = self.mux_pad("subtitle", &caps) {
                self.copy_stream(pad, &mux_pad, None)?;
                self.note(format!("stream {} ({media}) copied", pad.name()));
                return Ok(());
            }
            if let Some(mux_pad) = self
                .mux_pad("subtitle", &subtitles::plain_caps())
                .filter(|_| subtitles::is_markup(&caps))
            {
                self.copy_stream(pad, &mux_pad, Some(subtitles::unescape_on))?;
                self.note(format!(
                    "subtitles {} copied (Pango markup back to UTF-8 text)",
                    pad.name()
                ));
                return Ok(());
            }
            let container = self.settings.preset.extension();
            self.drop_stream(
                pad,
                format!(
                    "stream {} ({media}) dropped: the {container} container cannot hold it",
                    pad.name()
                ),
            )
        }
    }

    /// Links a parsed stream through an unbounded queue to `mux_pad`. With `rewrite`, its caps
    /// and buffers are rewritten on entering the queue (`subtitles::unescape_on`), and the link
    /// skips the caps check that the rewrite makes pass.
    fn copy_stream(
        &self,
        pad: &gst::Pad,
        mux_pad: &gst::Pad,
        rewrite: Option<fn(&gst::Pad)>,
    ) -> anyhow::Result<()> {
        let queue = Self::unbounded_queue()?;
        let check = match rewrite {
            Some(rewrite) => {
                rewrite(
                    &queue
                        .static_pad("sink")
                        .context("queue without a sink pad")?,
                );
                gst::PadLinkCheck::empty()
            }
            None => gst::PadLinkCheck::DEFAULT,
        };
        self.pipeline.add(&queue)?;
        queue
            .static_pad("src")
            .context("queue without a src pad")?
            .link_full(mux_pad, check)
            .map_err(|e| anyhow!("the muxer refused stream {}: {e:?}", pad.name()))?;
        queue.sync_state_with_parent()?;
        pad.link_full(
            &queue
                .static_pad("sink")
                .context("queue without a sink pad")?,
            check,
        )
        .map_err(|e| anyhow!("cannot link stream {}: {e:?}", pad.name()))?;
        Ok(())
    }

    fn audio_stream(
        self: &Arc<Self>,
        pad: &gst::Pad,
        caps: &gst::Caps,
        media: &str,
    ) -> anyhow::Result<()> {
        if let Some(mux_pad) = self.mux_pad("audio", caps) {
            self.copy_stream(pad, &mux_pad, None)?;
            self.note(format!(
                "audio {} ({media}) copied without re-encoding",
                pad.name()
            ));
            return Ok(());
        }
        let encoder = self.settings.preset.audio_encoder()?;
        let mux_pad = self.mux.request_pad_simple("audio_%u").with_context(|| {
            format!(
                "the {} container takes no audio",
                self.settings.preset.extension()
            )
        })?;
        let decode = make("decodebin", &[])?;
        let mut tail = encoder;
        tail.push(Self::unbounded_queue()?);
        self.chain(&tail)?;
        let out = tail
            .last()
            .and_then(|q| q.static_pad("src"))
            .context("queue without a src pad")?;
        out.link(&mux_pad)
            .map_err(|e| anyhow!("the muxer refused the re-encoded audio: {e:?}"))?;
        let head = tail[0].clone();
        let graph = Arc::downgrade(self);
        decode.connect_pad_added(move |_, decoded| {
            let Some(graph) = graph.upgrade() else { return };
            if let Err(e) = graph.link_into(decoded, &head) {
                graph.fail(e.context("linking the decoded audio"));
            }
        });
        let queue = Self::unbounded_queue()?;
        self.chain(&[queue.clone(), decode])?;
        self.link_into(pad, &queue)?;
        self.note(format!(
            "audio {} ({media}) re-encoded: the {} container cannot hold it as it is",
            pad.name(),
            self.settings.preset.extension()
        ));
        Ok(())
    }

    fn video_stream(self: &Arc<Self>, pad: &gst::Pad) -> anyhow::Result<()> {
        let mux_pad = self
            .mux
            .request_pad_simple("video_%u")
            .context("the muxer has no video pad")?;
        let queue = make("queue", &[])?;
        let decode = make("decodebin", &[])?;
        let graph = Arc::downgrade(self);
        decode.connect_pad_added(move |_, decoded| {
            let Some(graph) = graph.upgrade() else { return };
            if let Err(e) = graph.restore_branch(decoded, &mux_pad) {
                graph.fail(e.context("building the restoration branch"));
            }
        });
        self.chain(&[queue.clone(), decode])?;
        self.link_into(pad, &queue)
    }

    /// Decoded video → restored → encoded → muxer, built once the decoded format is known.
    fn restore_branch(
        self: &Arc<Self>,
        decoded: &gst::Pad,
        mux_pad: &gst::Pad,
    ) -> anyhow::Result<()> {
        let caps = decoded
            .current_caps()
            .context("decoded video without caps")?;
        let info = gst_video::VideoInfo::from_caps(&caps)
            .map_err(|_| anyhow!("decoded video has caps GStreamer cannot describe: {caps}"))?;
        let size = self.frame_caps(&info);
        let filter = make("capsfilter", &[])?;
        filter.set_property("caps", size);
        let restore = make("sgpnrestore", &[])?;
        self.settings.element.apply(&restore);
        self.count_frames(&restore);
        let mut elements = vec![
            make("deinterlace", &[])?,
            make("videoconvert", &[])?,
            make(
                "videoscale",
                &[("method", "lanczos"), ("add-borders", "true")],
            )?,
            filter,
            restore,
            make("videoconvert", &[])?,
        ];
        elements.extend(self.settings.preset.video_encoder(info.format())?);
        elements.push(make("queue", &[])?);
        self.chain(&elements)?;
        let last = elements
            .last()
            .and_then(|q| q.static_pad("src"))
            .context("queue without a src pad")?;
        last.link(mux_pad)
            .map_err(|e| anyhow!("the muxer refused the encoded video: {e:?}"))?;
        self.link_into(decoded, &elements[0])
    }

    /// The fixed frame of the output: the first frame's size, or `--scale`'s.
    fn frame_caps(&self, info: &gst_video::VideoInfo) -> gst::Caps {
        let par = info.par();
        let (width, height, par) = match self.settings.scale {
            None => (info.width() as i32, info.height() as i32, par),
            Some(Scale::Size(w, h)) => (w as i32, h as i32, gst::Fraction::new(1, 1)),
            Some(Scale::Height(h)) => {
                let display = info.width() as f64 * par.numer() as f64
                    / (info.height() as f64 * par.denom() as f64);
                let width = ((h as f64 * display / 2.0).round() as i32 * 2).max(2);
                (width, h as i32, gst::Fraction::new(1, 1))
            }
        };
        gst::Caps::builder("video/x-raw")
            .field("width", width)
            .field("height", height)
            .field("pixel-aspect-ratio", par)
            .build()
    }

    /// Counts restored frames and the faces `sgpnrestore` marked on them (its `face`
    /// region-of-interest metas), and notes the timestamps and frame rate.
    fn count_frames(self: &Arc<Self>, restore: &gst::Element) {
        let Some(src) = restore.static_pad("src") else {
            return;
        };
        let graph = Arc::downgrade(self);
        src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(graph) = graph.upgrade() else {
                return gst::PadProbeReturn::Ok;
            };
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
                let faces = buffer
                    .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                    .filter(|m| m.roi_type() == "face")
                    .count() as u64;
                graph.counters.frames.fetch_add(1, Ordering::Relaxed);
                graph.counters.faces.fetch_add(faces, Ordering::Relaxed);
                let mut shared = graph.shared.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(pts) = buffer.pts() {
                    shared.first_pts.get_or_insert(pts.nseconds());
                    shared.last_pts = Some(pts.nseconds());
                }
                if shared.frame_rate.is_none() {
                    shared.frame_rate = pad
                        .current_caps()
                        .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
                        .map(|i| i.fps())
                        .filter(|f| f.numer() > 0)
                        .map(|f| f.numer() as f64 / f.denom() as f64);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    fn progress(&self) -> Progress {
        let frame_rate = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .frame_rate;
        let duration = self.pipeline.query_duration::<gst::ClockTime>();
        Progress {
            frames: self.counters.frames.load(Ordering::Relaxed),
            faces: self.counters.faces.load(Ordering::Relaxed),
            expected_frames: duration
                .zip(frame_rate)
                .map(|(d, fps)| (d.nseconds() as f64 * 1e-9 * fps).round() as u64),
        }
    }
}

/// Restores `input` into `output` (overwritten). `cancel` stops it between bus messages;
/// `on_progress` is called about ten times a second.
pub fn restore(
    input: &Path,
    output: &Path,
    settings: &Settings,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Outcome> {
    let pipeline = gst::Pipeline::new();
    let src = make("filesrc", &[])?;
    src.set_property("location", input.to_string_lossy().as_ref());
    let parse = make("parsebin", &[])?;
    let mux = settings.preset.muxer()?;
    let sink = make("filesink", &[])?;
    sink.set_property("location", output.to_string_lossy().as_ref());
    pipeline.add_many([&src, &parse, &mux, &sink])?;
    src.link(&parse)?;
    mux.link(&sink)?;
    let graph = Arc::new(Graph {
        pipeline: pipeline.clone(),
        mux,
        settings: settings.clone(),
        shared: Mutex::new(Shared::default()),
        counters: Counters::default(),
    });
    let weak = Arc::downgrade(&graph);
    parse.connect_pad_added(move |_, pad| {
        let Some(graph) = weak.upgrade() else { return };
        if let Err(e) = graph.stream_added(pad) {
            graph.fail(e.context(format!("stream {}", pad.name())));
        }
    });
    let weak = Arc::downgrade(&graph);
    parse.connect_no_more_pads(move |_| {
        let Some(graph) = weak.upgrade() else { return };
        if graph
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .video_streams
            == 0
        {
            graph.fail(anyhow!("the input has no video stream"));
        }
    });
    let result = run(&graph, settings, cancel, on_progress);
    // Null closes the output file, whatever happened.
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let mut shared = std::mem::take(&mut *graph.shared.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(e) = shared.error.take() {
        return Err(e);
    }
    if shared.video_streams == 0 {
        bail!("the input has no video stream");
    }
    if graph.counters.frames.load(Ordering::Relaxed) == 0 {
        bail!("the input's video stream holds no frame that could be decoded");
    }
    Ok(Outcome {
        frames: graph.counters.frames.load(Ordering::Relaxed),
        faces: graph.counters.faces.load(Ordering::Relaxed),
        first_pts: shared.first_pts,
        last_pts: shared.last_pts,
        notes: shared.notes,
    })
}

fn run(
    graph: &Arc<Graph>,
    settings: &Settings,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    let bus = graph.pipeline.bus().context("pipeline without a bus")?;
    let started = graph.pipeline.set_state(gst::State::Playing);
    let mut last_frames = 0;
    let mut last_change = Instant::now();
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        if let Some(e) = graph
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .take()
        {
            return Err(e);
        }
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            match message.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(err) => {
                    // GStreamer's debug text (source file and element path) is for its
                    // developers; the message and the element that gave it are for the user.
                    let source = err
                        .src()
                        .map_or_else(|| "pipeline".into(), |s| s.name().to_string());
                    bail!("{source}: {}", err.error());
                }
                _ => continue,
            }
        }
        if started.is_err() {
            bail!("the pipeline did not start (no error message came from it)");
        }
        let progress = graph.progress();
        if progress.frames != last_frames {
            last_frames = progress.frames;
            last_change = Instant::now();
        } else if last_change.elapsed() > settings.stall_timeout {
            bail!(
                "no frame restored for {} s after frame {}: the input may be damaged or never end",
                settings.stall_timeout.as_secs(),
                progress.frames
            );
        }
        on_progress(progress);
    }
    on_progress(graph.progress());
    Ok(())
}
