//! End to end on real footage: decode a clip, restore its faces with `sgpnrestore` (identity
//! generator, the shipped RetinaFace detector), encode to MP4, then decode the file again.
//!
//! Checked as a user would: the file exists and holds every frame, faces are found where people
//! are, bytes far from every face are untouched, and the whole frame stays close to the input
//! (an identity generator may only cost resampling error inside the pasted faces).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstsgpn::{FACE_PARAMS_NAME, LANDMARK_FIELDS};
use sgpn_kernels::frame::{Colorimetry, FrameRef, PixelFormat, read_region};
use sgpn_kernels::image::Rect;
use sgpn_models::SessionConfig;
use sgpn_models::identity::{IdentityEmbedder, cosine_similarity};

/// The plugin tests' set-up (GStreamer and plugin registration, the identity generator
/// fixture): one copy, so that both suites test the element with the same fixture.
#[path = "../../plugin/tests/common/mod.rs"]
mod common;

use common::{
    BytePosition, byte_positions, deps_dir, identity_generator, init, near_a_box, scratch_dir,
    visible_bytes,
};

/// Bytes closer to a face box than this many box sides may change (paste-back footprint).
const FACE_MARGIN: f64 = 1.0;

/// `shared/data` (`SGPN_SHARED_DATA`, set for cargo by `.cargo/config.toml`).
fn shared_data() -> PathBuf {
    std::env::var_os("SGPN_SHARED_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
        PathBuf::from,
    )
}

/// One frame as it entered and left `sgpnrestore`.
struct Frame {
    pts_in: Option<gst::ClockTime>,
    pts_out: Option<gst::ClockTime>,
    /// Time the buffer spent inside `sgpnrestore` (sink pad to src pad).
    element_time: Duration,
    before: Vec<u8>,
    after: Vec<u8>,
    faces: Vec<(u32, u32, u32, u32)>,
    track_ids: Vec<u64>,
    /// Each face's five landmarks in frame pixels (the meta's `sgpn-face` parameters).
    landmarks: Vec<[[f32; 2]; 5]>,
}

fn psnr(a: impl Iterator<Item = (u8, u8)>) -> f64 {
    let (sum, n) = a.fold((0f64, 0usize), |(sum, n), (x, y)| {
        let d = x as f64 - y as f64;
        (sum + d * d, n + 1)
    });
    let mse = sum / n as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Runs `pipeline` to EOS (at most `limit`); panics with the bus error if there is one.
/// A clip of `shared/data/video` through the identity generator.
fn restore_clip(clip: &str, max_frames: u32, properties: &str) -> Restored {
    restore_file(
        &shared_data().join("video").join(clip),
        max_frames,
        properties,
        GeneratorChoice::Identity,
    )
}

fn run_to_eos(pipeline: &gst::Pipeline, limit: Duration) -> Duration {
    let start = Instant::now();
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_nseconds(limit.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS in time");
    let elapsed = start.elapsed();
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(err) = msg.view() {
        panic!("pipeline error: {} ({:?})", err.error(), err.debug());
    }
    elapsed
}

/// What one restore run produced.
struct Restored {
    frames: Vec<Frame>,
    info: gst_video::VideoInfo,
    positions: Vec<BytePosition>,
    output: PathBuf,
}

/// Which generator `sgpnrestore` runs.
enum GeneratorChoice {
    /// The identity fixture: only geometry (warp there and back) may change pixels.
    Identity,
    /// No `generator-model` property: the element's default, the shipped model.
    Shipped,
    /// The shipped full SGPN with its shape regressor (and the default 3DMM).
    ShippedFull,
}

/// A file of the repository's `models/`.
fn shipped_model(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(file)
}

/// Decodes about the first `max_frames` of `input`, restores and encodes them to an MP4 file;
/// records every frame before and after `sgpnrestore`.
fn restore_file(
    input: &Path,
    max_frames: u32,
    properties: &str,
    generator: GeneratorChoice,
) -> Restored {
    init();
    assert!(input.exists(), "{} is missing", input.display());
    let name = input.file_name().unwrap().to_string_lossy();
    let (tag, generator) = match generator {
        GeneratorChoice::Identity => (
            "identity",
            format!("generator-model={}", identity_generator().display()),
        ),
        GeneratorChoice::Shipped => ("shipped", String::new()),
        GeneratorChoice::ShippedFull => (
            "full",
            format!(
                "generator-model={} shape-regressor={}",
                shipped_model("sgpn-small256-full.onnx").display(),
                shipped_model("sgpn-small256-full-regressor.onnx").display()
            ),
        ),
    };
    // Tests run in parallel and may restore the same clip with the same generator: the frame
    // count in the name keeps their outputs apart.
    let output = scratch_dir()
        .join(format!("{name}{properties}.{max_frames}f.{tag}.restored.mp4").replace(' ', "_"));
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={input} ! decodebin ! videoconvert ! identity eos-after={max_frames} \
         ! sgpnrestore name=restore {generator} {properties} \
         ! videoconvert ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={output}",
        input = input.display(),
        output = output.display(),
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let restore = pipeline.by_name("restore").unwrap();

    // In place: the sink probe sees the bytes before restoration, the src probe after.
    type Entered = (Option<gst::ClockTime>, Vec<u8>, Instant);
    let before = Arc::new(Mutex::new(Vec::<Entered>::new()));
    let frames = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let layout = Arc::new(Mutex::new(
        None::<(gst_video::VideoInfo, Vec<BytePosition>)>,
    ));
    let sink_pad = restore.static_pad("sink").unwrap();
    let src_pad = restore.static_pad("src").unwrap();
    {
        let (before, layout) = (before.clone(), layout.clone());
        sink_pad.add_probe(gst::PadProbeType::BUFFER, move |pad, probe| {
            let buffer = probe.buffer().unwrap();
            let mut layout = layout.lock().unwrap();
            let (info, positions) = layout.get_or_insert_with(|| {
                let info = gst_video::VideoInfo::from_caps(&pad.current_caps().unwrap()).unwrap();
                let positions = byte_positions(&info);
                (info, positions)
            });
            let bytes = visible_bytes(buffer, info, positions);
            before
                .lock()
                .unwrap()
                .push((buffer.pts(), bytes, Instant::now()));
            gst::PadProbeReturn::Ok
        });
    }
    {
        let (before, frames, layout) = (before.clone(), frames.clone(), layout.clone());
        src_pad.add_probe(gst::PadProbeType::BUFFER, move |_, probe| {
            let left = Instant::now();
            let buffer = probe.buffer().unwrap();
            let layout = layout.lock().unwrap();
            let (info, positions) = layout.as_ref().unwrap();
            let (pts_in, bytes_before, entered) = before.lock().unwrap().remove(0);
            let rois: Vec<_> = buffer
                .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .filter(|meta| meta.roi_type() == "face")
                .map(|meta| {
                    let params = meta.param(FACE_PARAMS_NAME).unwrap();
                    let landmarks = LANDMARK_FIELDS.map(|[x, y]| {
                        [
                            params.get::<f64>(x).unwrap() as f32,
                            params.get::<f64>(y).unwrap() as f32,
                        ]
                    });
                    (
                        meta.rect(),
                        params.get::<u64>("track-id").unwrap(),
                        landmarks,
                    )
                })
                .collect();
            frames.lock().unwrap().push(Frame {
                pts_in,
                pts_out: buffer.pts(),
                element_time: left - entered,
                before: bytes_before,
                after: visible_bytes(buffer, info, positions),
                faces: rois.iter().map(|r| r.0).collect(),
                track_ids: rois.iter().map(|r| r.1).collect(),
                landmarks: rois.iter().map(|r| r.2).collect(),
            });
            gst::PadProbeReturn::Ok
        });
    }

    let elapsed = run_to_eos(&pipeline, Duration::from_secs(300));
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    assert!(
        before.lock().unwrap().is_empty(),
        "every frame that entered sgpnrestore left it"
    );
    let (info, positions) = layout.lock().unwrap().take().unwrap();
    let element_time: Duration = frames.iter().map(|f| f.element_time).sum();
    eprintln!(
        "{name} [{properties}]: {} frames {}x{} {:?} in {:.2} s ({:.1} ms/frame with decode, encode and the \
         test's frame copies; sgpnrestore itself {:.1} ms/frame)",
        frames.len(),
        info.width(),
        info.height(),
        info.format(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / frames.len() as f64,
        element_time.as_secs_f64() * 1e3 / frames.len() as f64
    );
    Restored {
        frames,
        info,
        positions,
        output,
    }
}

/// Decodes an MP4 file; returns its frames' visible I420 bytes (luma plane first).
fn decode_i420(path: &Path) -> Vec<Vec<u8>> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! fakesink name=sink signal-handoffs=true",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = pipeline.by_name("sink").unwrap();
    let collected = frames.clone();
    sink.connect("handoff", false, move |args| {
        let buffer = args[1].get::<gst::Buffer>().unwrap();
        let pad = args[2].get::<gst::Pad>().unwrap();
        let info = gst_video::VideoInfo::from_caps(&pad.current_caps().unwrap()).unwrap();
        let positions = byte_positions(&info);
        collected
            .lock()
            .unwrap()
            .push(visible_bytes(&buffer, &info, &positions));
        None
    });
    run_to_eos(&pipeline, Duration::from_secs(120));
    std::mem::take(&mut *frames.lock().unwrap())
}

/// The checks every clip passes (with `identity`, also those only an identity generator can
/// pass); returns the share of frames with at least one face.
fn check_restored(clip: &str, restored: &Restored, min_frames: usize, identity: bool) -> f64 {
    let frames = &restored.frames;
    // `identity eos-after` bounds the clip; a decoder may hand over a few frames more.
    assert!(
        frames.len() >= min_frames,
        "{clip}: only {} frames came out of sgpnrestore",
        frames.len()
    );
    // Decoders give YUV and videoconvert passes it through; plane 0 is then luma.
    assert!(
        restored.info.is_yuv(),
        "{clip}: negotiated {:?}",
        restored.info.format()
    );

    let mut min_face_psnr = f64::INFINITY;
    let (mut unchanged, mut total, mut far_total) = (0usize, 0usize, 0usize);
    let (mut min_identity_psnr, mut min_encoded_psnr) = (f64::INFINITY, f64::INFINITY);
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(
            frame.pts_in, frame.pts_out,
            "{clip} frame {n}: buffers leave in the order they came"
        );
        let (mut changed_far, mut far, mut near) = (0usize, 0usize, Vec::new());
        for ((p, &a), &b) in restored
            .positions
            .iter()
            .zip(&frame.before)
            .zip(&frame.after)
        {
            unchanged += usize::from(a == b);
            total += 1;
            if near_a_box(frame.faces.iter().copied(), p.x, p.y, FACE_MARGIN) {
                near.push((a, b));
            } else {
                far += 1;
                changed_far += usize::from(a != b);
            }
        }
        assert_eq!(
            changed_far, 0,
            "{clip} frame {n} ({:?}): {changed_far} of {far} bytes far from every face changed",
            frame.pts_in
        );
        far_total += far;
        if !near.is_empty() {
            let faces = psnr(near.into_iter());
            min_face_psnr = min_face_psnr.min(faces);
            assert!(
                !identity || faces > 30.0,
                "{clip} frame {n}: identity restoration must keep the faces close, PSNR {faces:.1} dB"
            );
        }
        let whole = psnr(
            frame
                .before
                .iter()
                .copied()
                .zip(frame.after.iter().copied()),
        );
        min_identity_psnr = min_identity_psnr.min(whole);
        assert!(
            !identity || whole > 38.0,
            "{clip} frame {n}: identity restoration must keep the frame close, PSNR {whole:.1} dB"
        );
    }

    // Only the pasted faces may change, and the identity generator reproduces most of their
    // bytes exactly: even with a face filling the picture, most bytes come out bit-identical.
    let unchanged_share = unchanged as f64 / total as f64;
    assert!(
        !identity || unchanged_share > 0.5,
        "{clip}: only {:.0} % of the bytes are unchanged",
        unchanged_share * 100.0
    );

    // The encoded file holds every frame, close to what went in (x264 is lossy).
    assert!(restored.output.exists(), "{clip}: no output file");
    let decoded = decode_i420(&restored.output);
    assert_eq!(
        decoded.len(),
        frames.len(),
        "{clip}: frames in the MP4 file"
    );
    let luma_len = (restored.info.width() * restored.info.height()) as usize;
    for (n, (frame, decoded)) in frames.iter().zip(&decoded).enumerate() {
        let quality = psnr(
            frame.after[..luma_len]
                .iter()
                .copied()
                .zip(decoded[..luma_len].iter().copied()),
        );
        min_encoded_psnr = min_encoded_psnr.min(quality);
        assert!(
            quality > 30.0,
            "{clip} frame {n}: encoded luma PSNR {quality:.1} dB"
        );
    }

    let with_faces = frames.iter().filter(|f| !f.faces.is_empty()).count();
    eprintln!(
        "{clip}: faces in {with_faces} of {} frames, at most {} per frame; {:.1} % of bytes bit-identical ({far_total} far from every face); lowest PSNR \
         restored vs input {min_identity_psnr:.1} dB (around faces {min_face_psnr:.1} dB), MP4 vs restored (luma) {min_encoded_psnr:.1} dB",
        frames.len(),
        frames.iter().map(|f| f.faces.len()).max().unwrap_or(0),
        unchanged_share * 100.0,
    );
    with_faces as f64 / frames.len() as f64
}

/// Stage footage with several small (about 63 px) faces, 640×360 at 29.97 fps: 3 s of it.
#[test]
fn hamilton_stage_clip() {
    let restored = restore_clip("short_hamilton_clip.mp4", 90, "");
    let share = check_restored("short_hamilton_clip.mp4", &restored, 90, true);
    assert!(
        share > 0.8,
        "faces in only {:.0} % of the frames",
        share * 100.0
    );
    let most = restored.frames.iter().map(|f| f.faces.len()).max().unwrap();
    assert!(
        most >= 2,
        "the stage shows several people; at most {most} found in a frame"
    );
}

/// One talking head of 190–360 px, 512×512 at 25 fps: 3 s of it, restored with the detector on
/// every frame and, to cover tracking between detector runs, on every third frame.
#[test]
fn talking_head_clip() {
    for properties in ["", "detect-interval=3"] {
        let clip = "talking_d11.mp4";
        let restored = restore_clip(clip, 75, properties);
        let share = check_restored(clip, &restored, 75, true);
        assert!(
            share > 0.95,
            "{properties}: the face was found in only {:.0} % of the frames",
            share * 100.0
        );
        let most = restored.frames.iter().map(|f| f.faces.len()).max().unwrap();
        assert_eq!(most, 1, "{properties}: one person, one face per frame");
        let mut ids: Vec<u64> = restored
            .frames
            .iter()
            .flat_map(|f| f.track_ids.clone())
            .collect();
        ids.dedup();
        assert!(
            ids.len() <= 2,
            "{properties}: one face should keep its track, got ids {ids:?}"
        );
    }
}

/// The README's restore command as a test: the carphone clip (a talking face, compressed) through
/// the element's default generator, the shipped model. Its faces must actually change (a mean
/// of 0.1 levels or more), the restored luma around the face may lose at most 0.25 dB of the
/// distorted input's PSNR against the pristine clip of the same pair (both are printed: a
/// restorer must not harm), and the pasted faces must not be tinted (mean chroma change under
/// 1.5 levels).
#[test]
fn carphone_with_the_shipped_generator() {
    carphone(GeneratorChoice::Shipped);
}

/// The README's full-model command: the same clip and bounds through the shipped full SGPN, so
/// the element's whole shape prior (regressor → 3DMM → render → generator) runs on real footage.
#[test]
fn carphone_with_the_shipped_full_model() {
    carphone(GeneratorChoice::ShippedFull);
}

fn carphone(generator: GeneratorChoice) {
    let data = deps_dir().join("data");
    let restored = restore_file(&data.join("carphone_distorted.mp4"), 120, "", generator);
    let clip = "carphone_distorted.mp4";
    let share = check_restored(clip, &restored, 100, false);
    assert!(
        share > 0.8,
        "faces in only {:.0} % of the frames",
        share * 100.0
    );

    let pristine = decode_i420(&data.join("carphone_pristine.mp4"));
    let luma = (restored.info.width() * restored.info.height()) as usize;
    let (mut before, mut after, mut changed) = (Vec::new(), Vec::new(), 0f64);
    for (frame, clean) in restored.frames.iter().zip(&pristine) {
        let luma_bytes = restored.positions[..luma]
            .iter()
            .zip(&frame.before)
            .zip(&frame.after)
            .zip(clean);
        for (((p, &b), &a), &c) in luma_bytes {
            let in_face = frame
                .faces
                .iter()
                .any(|&(bx, by, bw, bh)| p.x >= bx && p.x < bx + bw && p.y >= by && p.y < by + bh);
            if in_face {
                before.push((b, c));
                after.push((a, c));
                changed += (a as f64 - b as f64).abs();
            }
        }
    }
    assert!(!before.is_empty(), "no face boxes to compare");
    let mean_change = changed / before.len() as f64;
    let (psnr_before, psnr_after) = (psnr(before.into_iter()), psnr(after.into_iter()));
    eprintln!(
        "{clip}: face-box luma vs pristine {psnr_before:.2} dB distorted, {psnr_after:.2} dB restored; \
         mean change {mean_change:.2} levels"
    );
    assert!(
        mean_change > 0.1,
        "the shipped generator left the faces unchanged"
    );
    assert!(
        psnr_after > psnr_before - 0.25,
        "restored faces drift from the pristine clip: {psnr_after:.2} vs {psnr_before:.2} dB"
    );

    // A tint shows as a mean chroma change where the face is pasted at full weight.
    let [_, u, v] = mean_change_in_face_centres(&restored);
    eprintln!("{clip}: mean chroma change in the face centres U {u:+.2}, V {v:+.2} levels");
    // Before its colour calibration the default model gave V +3.9 here; without the element's
    // colour fix the full model gives U +3.3, V -1.9.
    assert!(
        u.abs() < 1.5 && v.abs() < 1.5,
        "the generator tints the faces: U {u:+.2}, V {v:+.2}"
    );
}

/// Mean change (after − before) of each plane's bytes in the central half of every face box,
/// over all frames: the paste mask is at full weight there.
fn mean_change_in_face_centres(restored: &Restored) -> [f64; 3] {
    let mut sums = [0f64; 3];
    let mut counts = [0f64; 3];
    for frame in &restored.frames {
        let bytes = restored
            .positions
            .iter()
            .zip(&frame.before)
            .zip(&frame.after);
        for ((p, &b), &a) in bytes {
            if in_face_centre(p, &frame.faces) && p.plane < 3 {
                sums[p.plane] += a as f64 - b as f64;
                counts[p.plane] += 1.0;
            }
        }
    }
    [0, 1, 2].map(|k| sums[k] / counts[k].max(1.0))
}

/// Whether the pixel of `p` lies in the central half (in each direction) of one of `faces`,
/// where the paste mask is at full weight.
fn in_face_centre(p: &BytePosition, faces: &[(u32, u32, u32, u32)]) -> bool {
    let inside = |v: u32, start: u32, len: u32| v >= start + len / 4 && v < start + 3 * len / 4;
    faces
        .iter()
        .any(|&(bx, by, bw, bh)| inside(p.x, bx, bw) && inside(p.y, by, bh))
}

/// Frame-to-frame luma change in the face centres, in levels: `before` and `after` the element
/// over every pixel, and `after` where the input pixel did not change at all (`where_still`),
/// which is flicker the restoration added and nothing else.
struct Flicker {
    before: f64,
    after: f64,
    where_still: f64,
}

fn flicker_in_face_centres(restored: &Restored) -> Flicker {
    let (mut before, mut after, mut n) = (0f64, 0f64, 0f64);
    let (mut still, mut n_still) = (0f64, 0f64);
    for pair in restored.frames.windows(2) {
        let (f0, f1) = (&pair[0], &pair[1]);
        for (k, p) in restored.positions.iter().enumerate() {
            if p.plane == 0 && in_face_centre(p, &f0.faces) && in_face_centre(p, &f1.faces) {
                let change = (f1.after[k] as f64 - f0.after[k] as f64).abs();
                before += (f1.before[k] as f64 - f0.before[k] as f64).abs();
                after += change;
                n += 1.0;
                if f1.before[k] == f0.before[k] {
                    still += change;
                    n_still += 1.0;
                }
            }
        }
    }
    assert!(
        n_still > 0.0,
        "no still pixel in the face centres of two consecutive frames"
    );
    Flicker {
        before: before / n,
        after: after / n,
        where_still: still / n_still,
    }
}

/// Flicker of the shipped generators on real footage, with the element's default detail
/// smoothing and, for the default model, without it: with it, neither model may change the face
/// centres from frame to frame by more than 1.1 times as much as the input changes, nor move
/// pixels whose input is still by a level or more; the smoothing itself must not add flicker.
#[test]
fn shipped_generators_temporal_stability() {
    let clips = [
        deps_dir().join("data/carphone_distorted.mp4"),
        shared_data().join("video/talking_d11.mp4"),
        shared_data().join("video/talking_d3.mp4"),
    ];
    for (c, clip) in clips.iter().enumerate() {
        let name = clip.file_name().unwrap().to_string_lossy();
        let unsmoothed = (c == 0).then_some((
            "variant A (default), detail-smoothing=0",
            " detail-smoothing=0",
            GeneratorChoice::Shipped,
        ));
        let runs = [
            ("variant A (default)", "", GeneratorChoice::Shipped),
            ("full", "", GeneratorChoice::ShippedFull),
        ];
        let mut smoothed_still = None;
        for (model, properties, choice) in runs.into_iter().chain(unsmoothed) {
            let f = flicker_in_face_centres(&restore_file(clip, 60, properties, choice));
            let ratio = f.after / f.before;
            eprintln!(
                "{name}, {model}: frame-to-frame luma change in the face centres {:.2} -> {:.2} levels ({ratio:.2}x), {:.2} where the input is still",
                f.before, f.after, f.where_still
            );
            if properties.is_empty() {
                assert!(ratio <= 1.1, "{name}, {model}: flickers ({ratio:.2}x)");
                assert!(
                    f.where_still < 1.0,
                    "{name}, {model}: still pixels change by {:.2} levels per frame",
                    f.where_still
                );
                smoothed_still.get_or_insert(f.where_still);
            } else {
                let smoothed = smoothed_still.unwrap();
                assert!(
                    smoothed <= f.where_still,
                    "{name}: detail smoothing raised still-pixel flicker from {:.2} to {smoothed:.2} levels",
                    f.where_still
                );
            }
        }
    }
}

/// An I420 frame's visible bytes (as `visible_bytes` lists them) as RGB on 0..255, converted by
/// the element's own kernel (BT.601, limited range): what the identity embedder reads.
fn i420_to_rgb(restored: &Restored, bytes: &[u8]) -> image::Rgb32FImage {
    let (w, h) = (
        restored.info.width() as usize,
        restored.info.height() as usize,
    );
    let format = PixelFormat::I420;
    let extents: Vec<(usize, usize)> = (0..format.plane_count())
        .map(|p| format.plane_extent(p, w, h))
        .collect();
    let mut planes: Vec<Vec<u8>> = extents.iter().map(|(pw, ph)| vec![0; pw * ph]).collect();
    for (p, &b) in restored.positions.iter().zip(bytes) {
        planes[p.plane][p.row * extents[p.plane].0 + p.column] = b;
    }
    let frame = FrameRef::new(
        format,
        w,
        h,
        planes.iter().map(|p| p.as_slice()).collect(),
        extents.iter().map(|e| e.0).collect(),
        Colorimetry::default(),
    )
    .unwrap();
    let rgb = read_region(&frame, Rect::new(0, 0, w, h));
    image::Rgb32FImage::from_raw(w as u32, h as u32, rgb.data).unwrap()
}

/// Mean identity cosine between every restored face and the same face in the input frame
/// (`fr_feature.onnx` embeddings, both aligned by the element's own landmarks), over the faces of
/// `restored`.
fn identity_before_after(restored: &Restored) -> f64 {
    assert_eq!(
        restored.info.format(),
        gst_video::VideoFormat::I420,
        "decoders give I420 here"
    );
    let model = deps_dir().join("models/fr_feature.onnx");
    let mut embedder =
        IdentityEmbedder::load(&model, &SessionConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let (mut sum, mut n) = (0f64, 0usize);
    for frame in &restored.frames {
        if frame.landmarks.is_empty() {
            continue;
        }
        let (before, after) = (
            i420_to_rgb(restored, &frame.before),
            i420_to_rgb(restored, &frame.after),
        );
        for lm in &frame.landmarks {
            let a = embedder.embed(&before, lm).unwrap();
            let b = embedder.embed(&after, lm).unwrap();
            sum += cosine_similarity(&a, &b);
            n += 1;
        }
    }
    assert!(n > 0, "no restored face to compare");
    sum / n as f64
}

/// Clean footage: the talking-head and stage clips are sharp, lightly compressed faces (63 to
/// 360 px), where a restoration must change little and never who someone looks like. Both
/// shipped generators, at the element's defaults, must keep each clip's faces at an identity
/// cosine of at least 0.9 with the input (mean over the faces of 30 frames) and the talking-head
/// face centres above 33 dB luma PSNR of the input.
#[test]
fn shipped_generators_keep_clean_faces_themselves() {
    let clips = [
        "talking_d0",
        "talking_d3",
        "talking_d6",
        "talking_d10",
        "talking_d11",
        "short_hamilton_clip",
    ];
    for name in clips {
        let clip = shared_data().join(format!("video/{name}.mp4"));
        for (model, choice) in [
            ("variant A (default)", GeneratorChoice::Shipped),
            ("full", GeneratorChoice::ShippedFull),
        ] {
            let restored = restore_file(&clip, 30, "", choice);
            let identity = identity_before_after(&restored);
            let mut luma = Vec::new();
            for frame in &restored.frames {
                for (k, p) in restored.positions.iter().enumerate() {
                    if p.plane == 0 && in_face_centre(p, &frame.faces) {
                        luma.push((frame.before[k], frame.after[k]));
                    }
                }
            }
            assert!(!luma.is_empty(), "{name}: no face centre");
            let fidelity = psnr(luma.into_iter());
            eprintln!(
                "{name}, {model}: identity cosine restored vs input {identity:.3}, face-centre luma PSNR {fidelity:.2} dB"
            );
            assert!(
                identity >= 0.9,
                "{name}, {model}: the restored faces look like someone else (identity cosine {identity:.3})"
            );
            if name.starts_with("talking") {
                assert!(
                    fidelity > 33.0,
                    "{name}, {model}: a clean face changes too much ({fidelity:.2} dB)"
                );
            }
        }
    }
}
