//! `sgpn-batch` as an archivist runs it, on real clips with the shipped default models: a folder
//! restored with its audio, subtitles and tags kept, a rerun that skips what is done, a run
//! killed mid-file and resumed, shards that split the batch, and inputs that are damaged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sgpn-batch"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/data` (`SGPN_SHARED_DATA`, set for cargo by `.cargo/config.toml`).
fn shared_data() -> PathBuf {
    std::env::var_os("SGPN_SHARED_DATA")
        .map_or_else(|| workspace().join("../shared/data"), PathBuf::from)
}

/// The real carphone clip `scripts/setup.sh` fetches (176×144, 120 frames, one face).
fn carphone() -> PathBuf {
    let deps =
        std::env::var_os("SGPN_DEPS").map_or_else(|| workspace().join(".deps"), PathBuf::from);
    deps.join("data/carphone_distorted.mp4")
}

fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| gst::init().expect("GStreamer initialises"));
}

/// Runs a gst-launch style description to EOS (fixtures).
fn launch(description: &str, tags: Option<(&str, &gst::TagList)>) {
    init();
    let pipeline = gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    if let Some((mux, list)) = tags {
        let mux = pipeline.by_name(mux).unwrap();
        mux.dynamic_cast_ref::<gst::TagSetter>()
            .unwrap()
            .merge_tags(list, gst::TagMergeMode::Replace);
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for message in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match message.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{description}: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// What a file holds, as a player would find it.
#[derive(Debug, Default, Clone)]
struct Streams {
    video_frames: u64,
    /// Running times of the frames, nanoseconds.
    video_pts: Vec<u64>,
    video_size: Option<(i32, i32)>,
    video_par: Option<gst::Fraction>,
    video_format: Option<String>,
    /// Per non-video stream: its caps' media type and a hash of all its bytes (equal hashes:
    /// the stream was copied bit for bit).
    others: Vec<(String, u64)>,
    /// Running time of the first audio buffer: the reference for audio-video sync.
    audio_start: Option<u64>,
    title: Option<String>,
}

fn inspect(path: &Path) -> Streams {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_str().unwrap())
        .build()
        .unwrap();
    let parse = gst::ElementFactory::make("parsebin").build().unwrap();
    pipeline.add_many([&src, &parse]).unwrap();
    src.link(&parse).unwrap();
    let found = Arc::new(Mutex::new(Streams::default()));
    let weak = pipeline.downgrade();
    let streams = found.clone();
    parse.connect_pad_added(move |_, pad| {
        let pipeline = weak.upgrade().unwrap();
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let media = caps.structure(0).unwrap().name().to_string();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .unwrap();
        // A queue per stream: a sink prerolling on its first buffer would otherwise block the
        // demuxer's only thread before the other streams got theirs.
        let queue = gst::ElementFactory::make("queue").build().unwrap();
        pipeline.add(&queue).unwrap();
        queue.sync_state_with_parent().unwrap();
        pad.link(&queue.static_pad("sink").unwrap()).unwrap();
        let pad = queue.static_pad("src").unwrap();
        let streams = streams.clone();
        if media.starts_with("video/") {
            let decode = gst::ElementFactory::make("decodebin").build().unwrap();
            pipeline.add_many([&decode, &sink]).unwrap();
            let sink_pad = sink.static_pad("sink").unwrap();
            decode.connect_pad_added(move |_, raw| {
                raw.link(&sink_pad).unwrap();
            });
            sink.static_pad("sink").unwrap().add_probe(
                gst::PadProbeType::BUFFER,
                move |pad, info| {
                    if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                        let mut s = streams.lock().unwrap();
                        s.video_frames += 1;
                        // Running time: what a player shows, edit lists and segments applied.
                        let segment = pad.sticky_event::<gst::event::Segment>(0).unwrap();
                        let segment = segment
                            .segment()
                            .downcast_ref::<gst::ClockTime>()
                            .unwrap()
                            .clone();
                        s.video_pts.extend(
                            b.pts()
                                .and_then(|t| segment.to_running_time(t))
                                .map(|t| t.nseconds()),
                        );
                        let caps = pad.current_caps().unwrap();
                        let st = caps.structure(0).unwrap();
                        s.video_size = Some((st.get("width").unwrap(), st.get("height").unwrap()));
                        s.video_par = st.get("pixel-aspect-ratio").ok();
                        s.video_format = st.get("format").ok();
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            decode.sync_state_with_parent().unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&decode.static_pad("sink").unwrap()).unwrap();
        } else {
            pipeline.add(&sink).unwrap();
            let audio = media.starts_with("audio/");
            let index = {
                let mut s = streams.lock().unwrap();
                s.others.push((media, 0));
                s.others.len() - 1
            };
            sink.static_pad("sink").unwrap().add_probe(
                gst::PadProbeType::BUFFER,
                move |pad, info| {
                    if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                        let map = b.map_readable().unwrap();
                        let mut s = streams.lock().unwrap();
                        if audio && s.audio_start.is_none() {
                            let segment = pad.sticky_event::<gst::event::Segment>(0).unwrap();
                            let segment = segment
                                .segment()
                                .downcast_ref::<gst::ClockTime>()
                                .unwrap()
                                .clone();
                            s.audio_start = b
                                .pts()
                                .and_then(|t| segment.to_running_time(t))
                                .map(|t| t.nseconds());
                        }
                        let hash = &mut s.others[index].1;
                        for &byte in map.as_slice() {
                            *hash = (*hash ^ byte as u64).wrapping_mul(0x100000001b3);
                        }
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        }
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for message in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match message.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {}", path.display(), e.error()),
            gst::MessageView::Tag(t) if t.tags().scope() == gst::TagScope::Global => {
                if let Some(title) = t.tags().get::<gst::tags::Title>() {
                    found.lock().unwrap().title = Some(title.get().to_owned());
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let mut streams = found.lock().unwrap().clone();
    streams.others.sort();
    streams
}

fn run(args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = bin()
        .args(args)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let json = std::fs::read(&report).map_or(Value::Null, |b| serde_json::from_slice(&b).unwrap());
    (output, json)
}

/// Runs the tool, which must succeed; its report.
fn run_ok(args: &[&str]) -> Value {
    let (output, report) = run(args);
    assert!(output.status.success(), "{}", stderr(&output));
    report
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// carphone's video with AAC audio, a subtitle track and a title, in Matroska.
fn interview(path: &Path) {
    init();
    let srt = path.with_extension("srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:02,000\nHello.\n\n2\n00:00:02,500 --> 00:00:03,500\nGoodbye.\n",
    )
    .unwrap();
    let mut tags = gst::TagList::new();
    tags.get_mut()
        .unwrap()
        .add::<gst::tags::Title>(&"Interview, 1987", gst::TagMergeMode::Append);
    launch(
        &format!(
            "filesrc location={} ! qtdemux ! h264parse ! queue ! matroskamux name=mux ! filesink location={} \
             audiotestsrc num-buffers=180 samplesperbuffer=1024 ! audioconvert ! avenc_aac ! aacparse ! queue ! mux. \
             filesrc location={} ! subparse ! queue ! mux.",
            carphone().display(),
            path.display(),
            srt.display()
        ),
        Some(("mux", &tags)),
    );
}

/// The carphone clip decoded, converted to `format` and written with `encode_and_mux` to `path`.
fn carphone_as(path: &Path, format: &str, encode_and_mux: &str) {
    launch(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format={format} ! {encode_and_mux} ! filesink location={}",
            carphone().display(),
            path.display()
        ),
        None,
    );
}

fn have_fixtures() -> bool {
    if carphone().exists() && shared_data().join("video").exists() {
        return true;
    }
    eprintln!(
        "skipped: {} or shared/data/video is missing (run scripts/setup.sh)",
        carphone().display()
    );
    false
}

#[test]
fn a_folder_is_restored_with_its_audio_subtitles_and_tags() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("reel2")).unwrap();
    let talk = input.join("reel2/interview.mkv");
    interview(&talk);
    std::fs::copy(
        shared_data().join("video/short_hamilton_clip.mp4"),
        input.join("stage.mp4"),
    )
    .unwrap();
    std::fs::write(input.join("reel2/notes.txt"), "not a video").unwrap();
    let out = dir.path().join("out");

    let report = run_ok(&[input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(report["restored"], 2, "{report:#}");
    for (source, restored) in [
        (talk.clone(), out.join("reel2/interview.mkv")),
        (input.join("stage.mp4"), out.join("stage.mkv")),
    ] {
        let (before, after) = (inspect(&source), inspect(&restored));
        assert_eq!(
            after.video_frames,
            before.video_frames,
            "{}: every frame comes out",
            source.display()
        );
        // Every frame at its time against the audio (containers may move the common origin;
        // Matroska keeps timestamps to the millisecond).
        let synced = |s: &Streams| -> Vec<i64> {
            let origin = s.audio_start.unwrap() as i64;
            s.video_pts.iter().map(|&t| t as i64 - origin).collect()
        };
        let (a, b) = (synced(&after), synced(&before));
        let kept = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) < 1_000_000);
        assert!(
            kept,
            "{}: frame times against the audio: {:?} vs {:?}",
            source.display(),
            &a[..3],
            &b[..3]
        );
        assert_eq!(after.video_size, before.video_size);
        assert_eq!(
            after.others,
            before.others,
            "{}: audio and subtitles copied bit for bit",
            source.display()
        );
        assert!(!after.others.is_empty());
    }
    assert_eq!(inspect(&talk).title.as_deref(), Some("Interview, 1987"));
    assert_eq!(
        inspect(&out.join("reel2/interview.mkv")).title.as_deref(),
        Some("Interview, 1987"),
        "the container's tags kept"
    );
    let files = report["files"].as_array().unwrap();
    assert!(
        files.iter().all(|f| f["faces"].as_u64().unwrap() > 0),
        "faces were restored: {report:#}"
    );
    assert!(!out.join("reel2/notes.mkv").exists());

    // A rerun finds everything done and leaves the outputs alone.
    let stamp = std::fs::metadata(out.join("stage.mkv"))
        .unwrap()
        .modified()
        .unwrap();
    let report = run_ok(&[input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(
        (report["restored"].as_u64(), report["already_done"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        std::fs::metadata(out.join("stage.mkv"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    // Other settings are another job: restored again.
    let report = run_ok(&[
        talk.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--set",
        "blend=0.5",
    ]);
    assert_eq!(report["restored"], 1, "{report:#}");
}

#[test]
fn audio_the_container_cannot_hold_is_re_encoded() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("pcm.mkv");
    launch(
        &format!(
            "filesrc location={} ! qtdemux ! h264parse ! queue ! matroskamux name=mux ! filesink location={} \
             audiotestsrc num-buffers=100 ! audio/x-raw,format=S16LE,rate=48000,channels=2 ! queue ! mux.",
            carphone().display(),
            source.display()
        ),
        None,
    );
    let out = dir.path().join("out");
    let report = run_ok(&[
        source.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--preset",
        "access",
    ]);
    let notes = report["files"][0]["notes"].to_string();
    assert!(notes.contains("re-encoded"), "{notes}");
    let after = inspect(&out.join("pcm.mp4"));
    assert_eq!(after.video_frames, 120);
    assert_eq!(after.others.len(), 1);
    assert_eq!(after.others[0].0, "audio/mpeg", "AAC in the MP4");
}

/// Waits until `path` holds at least `bytes`, or the child exits.
fn wait_for_bytes(child: &mut Child, path: &Path, bytes: u64) {
    let start = Instant::now();
    while std::fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        assert!(
            child.try_wait().unwrap().is_none(),
            "sgpn-batch ended before writing {}",
            path.display()
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "nothing written to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_batch_resumes_and_an_interrupted_one_leaves_nothing_half_written() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("stage.mp4");
    std::fs::copy(shared_data().join("video/short_hamilton_clip.mp4"), &source).unwrap();
    let out = dir.path().join("out");
    let (final_name, partial) = (out.join("stage.mkv"), out.join(".stage.mkv.partial"));
    let args = [source.to_str().unwrap(), "--output", out.to_str().unwrap()];

    // Ctrl-C: the file being written is removed, the exit status says so.
    let mut child = bin().args(args).spawn().unwrap();
    wait_for_bytes(&mut child, &partial, 1 << 20);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!final_name.exists() && !partial.exists());

    // Killed outright (power cut, OOM killer): the partial file stays under its hidden name.
    let mut child = bin().args(args).spawn().unwrap();
    wait_for_bytes(&mut child, &partial, 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !final_name.exists(),
        "no output under its final name after a kill"
    );
    assert!(partial.exists());

    // The rerun restores the file whole.
    let (output, report) = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["restored"], 1);
    assert!(!partial.exists());
    assert_eq!(
        inspect(&final_name).video_frames,
        inspect(&source).video_frames
    );
}

#[test]
fn shards_split_the_batch_between_cluster_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (i, bytes) in [900, 10, 500, 400, 30, 30, 200].iter().enumerate() {
        std::fs::write(input.join(format!("clip{i}.mp4")), vec![0u8; *bytes]).unwrap();
    }
    let out = dir.path().join("out");
    let listed = |shard: Option<&str>, env: &[(&str, &str)]| -> Vec<String> {
        let mut cmd = bin();
        cmd.args([
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--dry-run",
        ]);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        for var in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "SLURM_ARRAY_TASK_MIN",
            "JOB_COMPLETION_INDEX",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let output = cmd.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("restore"))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
            .collect()
    };
    let mut all = Vec::new();
    for index in 0..3 {
        let shard = format!("{index}/3");
        let mine = listed(Some(&shard), &[]);
        assert!(!mine.is_empty(), "shard {shard} has work");
        // A Slurm array --array=1-3 gives the same split through its environment.
        let id = (index + 1).to_string();
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", id.as_str()),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(listed(None, &slurm), mine);
        let k8s = [
            ("JOB_COMPLETION_INDEX", &*index.to_string()),
            ("SGPN_SHARD_COUNT", "3"),
        ];
        assert_eq!(listed(None, &k8s), mine);
        all.extend(mine);
    }
    all.sort();
    let mut expected: Vec<String> = (0..7)
        .map(|i| input.join(format!("clip{i}.mp4")).display().to_string())
        .collect();
    expected.sort();
    assert_eq!(all, expected, "every file in exactly one shard");
}

#[test]
fn damaged_inputs_are_reported_and_the_batch_goes_on() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("text.mp4"), "this is not a video\n").unwrap();
    let hamilton = std::fs::read(shared_data().join("video/short_hamilton_clip.mp4")).unwrap();
    std::fs::write(input.join("truncated.mp4"), &hamilton[..hamilton.len() / 3]).unwrap();
    launch(
        &format!(
            "audiotestsrc num-buffers=50 ! avenc_aac ! mp4mux ! filesink location={}",
            input.join("audio_only.mp4").display()
        ),
        None,
    );
    // The resolution changes mid-file (an H.264 stream spliced from two).
    let part = |name: &str, size: &str| {
        let path = dir.path().join(name);
        launch(
            &format!(
                "videotestsrc num-buffers=10 ! video/x-raw,{size} ! x264enc ! video/x-h264,stream-format=byte-stream ! filesink location={}",
                path.display()
            ),
            None,
        );
        std::fs::read(path).unwrap()
    };
    let spliced = [
        part("a.h264", "width=160,height=120"),
        part("b.h264", "width=320,height=176"),
    ]
    .concat();
    std::fs::write(input.join("spliced.h264"), spliced).unwrap();
    std::fs::copy(carphone(), input.join("good.mp4")).unwrap();
    let out = dir.path().join("out");

    let (output, report) = run(&[input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "some inputs failed: {}",
        stderr(&output)
    );
    let status = |name: &str| {
        let file = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["input"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in the report"))
            .clone();
        (
            file["status"].as_str().unwrap().to_owned(),
            file["error"].as_str().unwrap_or("").to_owned(),
        )
    };
    let (s, e) = status("text.mp4");
    assert_eq!(s, "failed");
    assert!(e.contains("Could not determine type"), "{e}");
    let (s, e) = status("audio_only.mp4");
    assert_eq!(
        (s.as_str(), e.as_str()),
        ("failed", "the input has no video stream")
    );
    let (s, e) = status("truncated.mp4");
    assert_eq!(s, "failed", "{e}");
    assert_eq!(status("good.mp4").0, "restored");
    assert_eq!(status("spliced.h264").0, "restored");
    // The spliced stream comes out whole, at its first resolution.
    let spliced = inspect(&out.join("spliced.mkv"));
    assert_eq!(
        (spliced.video_frames, spliced.video_size),
        (20, Some((160, 120)))
    );
    // Nothing is left of the failures, under any name.
    let mut left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, [".sgpn-batch", "good.mkv", "spliced.mkv"]);
}

#[test]
fn bad_arguments_name_the_problem() {
    for (args, expected) in [
        (
            vec!["--set", "strength=2"],
            "sgpnrestore has no property \"strength\"",
        ),
        (vec!["--set", "blend=7"], "out of range for blend"),
        (vec!["--shard", "3/3"], "out of range for 3 shards"),
        (vec!["--scale", "1080p"], "is not a size in pixels"),
        (
            vec!["--set", "generator-model=/nonexistent/model.onnx"],
            "sgpnrestore cannot start with these settings",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mp4"), b"x").unwrap();
        let output = bin()
            .arg(dir.path())
            .args(["--output", dir.path().join("out").to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// An SD archive brought to HD: frames scaled first, faces restored at the output size.
#[test]
fn scale_brings_frames_to_the_output_size_before_restoring() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = run_ok(&[
        carphone().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--scale",
        "288",
    ]);
    assert!(
        report["files"][0]["faces"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    let (before, after) = (
        inspect(&carphone()),
        inspect(&out.join("carphone_distorted.mkv")),
    );
    // The display aspect ratio kept, with square pixels and an even width.
    let ((w, h), par) = (before.video_size.unwrap(), before.video_par.unwrap());
    let display = w as f64 * par.numer() as f64 / (h as f64 * par.denom() as f64);
    let width = (288.0 * display / 2.0).round() as i32 * 2;
    assert_eq!(
        (after.video_frames, after.video_size),
        (120, Some((width, 288)))
    );
    assert_eq!(after.video_par, Some(gst::Fraction::new(1, 1)));
}

/// Film: ProRes 4444 in, ProRes 4444 out (the mezzanine preset keeps 4:4:4 sources 4:4:4).
#[test]
fn prores_4444_stays_prores_4444() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("scan.mov");
    carphone_as(&source, "Y444_10LE", "avenc_prores_ks profile=4444 ! qtmux");
    let out = dir.path().join("out");
    run_ok(&[
        source.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--preset",
        "mezzanine",
    ]);
    let restored = out.join("scan.mov");
    assert_eq!(inspect(&restored).video_frames, 120);
    // The codec tag of the sample description: ap4h is ProRes 4444.
    let bytes = std::fs::read(&restored).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == b"ap4h"),
        "ProRes 4444 sample entry"
    );
}

/// The live broadcast recipe of `pipelines/README.md`, as written there, on a transport stream
/// sent over UDP in real time from the carphone clip with AAC audio.
#[test]
fn the_live_udp_recipe_restores_a_transport_stream_with_its_audio() {
    if !have_fixtures() {
        return;
    }
    sgpn_batch::init().unwrap();
    let readme = std::fs::read_to_string(workspace().join("pipelines/README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .find(|b| b.starts_with("gst-launch-1.0 udpsrc"))
        .and_then(|b| b.split("```").next())
        .expect("the live recipe in pipelines/README.md");
    let socket = |port| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
    let free = (40000..41000)
        .filter(|&p| socket(p))
        .take(2)
        .collect::<Vec<u16>>();
    let (input, output) = (free[0], free[1]);
    let recipe = block
        .replace("\\\n", " ")
        .trim_start_matches("gst-launch-1.0")
        .replace("port=5000", &format!("port={input}"))
        .replace(
            "host=239.1.1.1 port=5001",
            &format!("host=127.0.0.1 port={output}"),
        );
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("out.ts");
    let start = |description: &str| {
        let p = gst::parse::launch(description).unwrap_or_else(|e| panic!("{description}: {e}"));
        p.set_state(gst::State::Playing).unwrap();
        p
    };
    let catcher = start(&format!(
        "udpsrc port={output} ! filesink location={}",
        received.display()
    ));
    let restorer = start(&recipe);
    std::thread::sleep(Duration::from_secs(3)); // models loaded
    let sender = start(&format!(
        "filesrc location={} ! qtdemux ! h264parse config-interval=-1 ! queue ! mpegtsmux name=m ! udpsink host=127.0.0.1 port={input} sync=true \
         audiotestsrc num-buffers=180 samplesperbuffer=1024 ! audioconvert ! avenc_aac ! aacparse ! queue ! m.",
        carphone().display()
    ));
    let bus = sender.bus().unwrap();
    let eos = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(60),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert!(
        matches!(
            eos.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "{eos:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut latency = gst::query::Latency::new();
    let reported = restorer.query(&mut latency).then(|| latency.result());
    for p in [&sender, &restorer, &catcher] {
        p.set_state(gst::State::Null).unwrap();
    }
    let after = inspect(&received);
    eprintln!(
        "live recipe: {} of 120 frames out, audio {:?}, pipeline latency {reported:?}",
        after.video_frames, after.others
    );
    assert!(
        after.video_frames >= 60,
        "{} of 120 frames came out",
        after.video_frames
    );
    assert!(
        after.others.iter().any(|(media, _)| media == "audio/mpeg"),
        "audio sent on: {:?}",
        after.others
    );
}

/// A 10-bit source reaches the archive master at 10 bits: the element restores it at its depth.
#[test]
fn ten_bit_sources_stay_ten_bit_in_the_archive() {
    if !have_fixtures() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("master10.mkv");
    carphone_as(&source, "I420_10LE", "avenc_ffv1 ! matroskamux");
    let out = dir.path().join("out");
    let report = run_ok(&[source.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert!(
        report["files"][0]["faces"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    let after = inspect(&out.join("master10.mkv"));
    assert_eq!(after.video_frames, 120);
    assert_eq!(after.video_format.as_deref(), Some("I420_10LE"));
}
