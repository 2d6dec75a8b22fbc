//! Buffers through `sgpnrestore` with `gst_check::Harness`, one shared body run in every format of
//! the pad template: a real face is found and tagged, timestamps survive, bytes far from the face
//! and every byte of face-free frames (flat grey, 16×16, odd 33×17) come out unchanged, and caps
//! outside the template are refused.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

fn harness(format: VideoFormat, width: u32, height: u32) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::with_element(&restore_element(), Some("sink"), Some("src"));
    h.set_src_caps(video_info(format, width, height).to_caps().unwrap());
    h
}

/// Timestamps of frame `n` of a 25 fps stream; DTS trails PTS as after a B-frame decoder.
fn timestamped(mut buffer: gst::Buffer, n: u64) -> gst::Buffer {
    let frame = gst::ClockTime::from_mseconds(40);
    let buf = buffer.get_mut().unwrap();
    buf.set_pts(gst::ClockTime::from_seconds(1) + frame * (n + 1));
    buf.set_dts(gst::ClockTime::from_seconds(1) + frame * n);
    buf.set_duration(frame);
    buffer
}

/// Pushes one frame of `image` in `format` and returns (input copy, output).
fn round_trip(image: &image::RgbImage, format: VideoFormat) -> (gst::Buffer, gst::Buffer) {
    let (width, height) = image.dimensions();
    let mut h = harness(format, width, height);
    let input = timestamped(frame_buffer(image, format), 3);
    let kept = input.copy_deep().unwrap();
    let output = h.push_and_pull(input).expect("a buffer comes out");
    assert_eq!(output.pts(), kept.pts(), "{format:?}: pts");
    assert_eq!(output.dts(), kept.dts(), "{format:?}: dts");
    assert_eq!(output.duration(), kept.duration(), "{format:?}: duration");
    (kept, output)
}

fn face_frame_is_tagged_and_untouched_elsewhere(image: &image::RgbImage, format: VideoFormat) {
    let info = video_info(format, image.width(), image.height());
    let what = format!("{format:?} {}x{}", image.width(), image.height());
    let (input, output) = round_trip(image, format);

    let rois = face_rois(&output);
    assert_eq!(rois.len(), 1, "{what}: one face expected, found {rois:?}");
    let roi = &rois[0];
    let (x, y, w, h) = roi.rect;
    // The portrait covers x < 240, 30 ≤ y < 330 of the canvas.
    assert!(
        x + w <= 240 && y >= 30 && y + h <= 330,
        "{what}: face box {:?}",
        roi.rect
    );
    assert!((40..=200).contains(&h), "{what}: face box height {h}");
    assert!(roi.score >= 0.8, "{what}: score {}", roi.score);
    let [left_eye, right_eye, nose, left_mouth, right_mouth] = roi.landmarks;
    for [lx, ly] in roi.landmarks {
        assert!(
            (x as f64..(x + w) as f64).contains(&lx) && (y as f64..(y + h) as f64).contains(&ly),
            "{what}: landmark ({lx}, {ly}) outside the face box {:?}",
            roi.rect
        );
    }
    assert!(
        left_eye[0] < right_eye[0] && left_mouth[0] < right_mouth[0],
        "{what}: left/right"
    );
    assert!(
        left_eye[1] < nose[1] && nose[1] < left_mouth[1],
        "{what}: eyes, nose, mouth order"
    );

    // Far from the face the frame is bit-identical; near it the identity generator keeps it close
    // (compared in 8-bit levels: 16-bit samples are paired from their two bytes).
    let (mut far, mut changed_far, mut near, mut near_diff) = (0, 0, 0, 0f64);
    let (before, after) = (frame_bytes(&input, &info), frame_bytes(&output, &info));
    let (bytes, per_level) = match format {
        VideoFormat::I42010le => (2, 4.0),
        VideoFormat::P01010le => (2, 256.0),
        VideoFormat::Rgba64Le => (2, 257.0),
        // Three 10-bit codes per word: their mean change.
        VideoFormat::V210 => (4, 12.0),
        _ => (1, 1.0),
    };
    let change = |b: u32, a: u32| {
        if format == VideoFormat::V210 {
            [0, 10, 20]
                .iter()
                .map(|s| ((b >> s) & 0x3ff).abs_diff((a >> s) & 0x3ff))
                .sum()
        } else {
            b.abs_diff(a)
        }
    };
    let sample = |b: &[(u32, u32, u8)]| {
        b.iter()
            .rev()
            .fold(0u32, |v, &(_, _, byte)| v << 8 | byte as u32)
    };
    for (b, a) in before.chunks_exact(bytes).zip(after.chunks_exact(bytes)) {
        let (x, y) = (b[0].0, b[0].1);
        if near_a_face(&rois, x, y, 1.0) {
            near += 1;
            near_diff += f64::from(change(sample(b), sample(a))) / per_level;
        } else {
            far += 1;
            changed_far += usize::from(b != a);
        }
    }
    assert!(far > 0, "{what}: the frame has pixels far from the face");
    assert_eq!(
        changed_far, 0,
        "{what}: {changed_far} bytes changed far from the face"
    );
    let near_mean = near_diff / near as f64;
    assert!(
        near_mean < 4.0,
        "{what}: identity restoration changed the face area by {near_mean:.2} on average"
    );
}

fn face_free_frame_is_bit_identical(image: &image::RgbImage, format: VideoFormat) {
    let info = video_info(format, image.width(), image.height());
    let (input, output) = round_trip(image, format);
    assert!(
        face_rois(&output).is_empty(),
        "{format:?} {}x{}: no face expected",
        info.width(),
        info.height()
    );
    assert!(
        frame_bytes(&input, &info) == frame_bytes(&output, &info),
        "{format:?} {}x{}: a face-free frame must come out bit-identical",
        info.width(),
        info.height()
    );
}

fn check_format(format: VideoFormat) {
    init();
    face_frame_is_tagged_and_untouched_elsewhere(&portrait_frame(), format);
    // Odd sizes: half chroma blocks at the right and bottom edges.
    face_frame_is_tagged_and_untouched_elsewhere(&portrait_on_canvas(479, 361), format);
    let grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    face_free_frame_is_bit_identical(&grey, format);
    face_free_frame_is_bit_identical(&gradient_frame(16, 16), format);
    face_free_frame_is_bit_identical(&gradient_frame(33, 17), format);
}

#[test]
fn rgb() {
    check_format(VideoFormat::Rgb);
}

#[test]
fn rgbx() {
    check_format(VideoFormat::Rgbx);
}

#[test]
fn rgba() {
    check_format(VideoFormat::Rgba);
}

#[test]
fn bgrx() {
    check_format(VideoFormat::Bgrx);
}

#[test]
fn bgra() {
    check_format(VideoFormat::Bgra);
}

#[test]
fn i420() {
    check_format(VideoFormat::I420);
}

#[test]
fn nv12() {
    check_format(VideoFormat::Nv12);
}

#[test]
fn i420_10le() {
    check_format(VideoFormat::I42010le);
}

#[test]
fn p010_10le() {
    check_format(VideoFormat::P01010le);
}

#[test]
fn rgba64_le() {
    check_format(VideoFormat::Rgba64Le);
}

#[test]
fn v210() {
    check_format(VideoFormat::V210);
}

/// Interlaced video is refused with an error that says what to do.
#[test]
fn interlaced_video_is_refused_with_advice() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=2 ! video/x-raw,format=I420,width=64,height=64,interlace-mode=interleaved ! sgpnrestore ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let error = bus_error(&pipeline.bus().unwrap(), gst::ClockTime::from_seconds(30));
    pipeline.set_state(gst::State::Null).unwrap();
    let message = error.expect("an error").to_string();
    assert!(message.contains("deinterlace first"), "{message}");
}

#[test]
fn every_template_format_is_covered() {
    init();
    let factory = gst::ElementFactory::find("sgpnrestore").unwrap();
    let template = factory
        .static_pad_templates()
        .into_iter()
        .find(|t| t.name_template() == "sink")
        .unwrap()
        .caps();
    let formats: Vec<String> = template
        .structure(0)
        .unwrap()
        .get::<gst::List>("format")
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect();
    let tested: Vec<String> = FORMATS.iter().map(|f| f.to_str().to_string()).collect();
    assert_eq!(formats, tested);
}

#[test]
fn unsupported_caps_fail_negotiation() {
    for caps in [
        "video/x-raw,format=GRAY8,width=64,height=64,framerate=25/1",
        "video/x-raw,format=YUY2,width=64,height=64,framerate=25/1",
        // Below the 16 px minimum side.
        "video/x-raw,format=RGB,width=8,height=8,framerate=25/1",
    ] {
        init();
        let mut h = gst_check::Harness::with_element(&restore_element(), Some("sink"), Some("src"));
        h.set_src_caps_str(caps);
        let info = gst_video::VideoInfo::from_caps(&caps.parse::<gst::Caps>().unwrap()).unwrap();
        let buffer = gst::Buffer::with_size(info.size()).unwrap();
        assert_eq!(
            h.push(buffer),
            Err(gst::FlowError::NotNegotiated),
            "{caps} must be refused"
        );
    }
}

/// A generator that inverts its crop (`restored = -lq`, i.e. 255 − x per channel) makes the paste
/// visible: around the nose the output must be the inverted input, blended by `blend`.
#[test]
fn restored_face_is_pasted_back_with_blend() {
    init();
    let generator = scratch_dir().join("inverting-generator.onnx");
    sgpn_models::fixtures::write_affine_generator(
        &generator,
        GENERATOR_SIZE,
        sgpn_models::contract::Template::Sgpn,
        -1.0,
        0.0,
    )
    .unwrap();
    let image = portrait_frame();
    let info = video_info(VideoFormat::Rgb, image.width(), image.height());
    for blend in [1.0f32, 0.5] {
        let restore = restore_element();
        restore.set_property("generator-model", generator.to_str().unwrap());
        restore.set_property("blend", blend);
        // The inversion is all colour change, which the colour fix would take out again.
        restore.set_property("colour-fix", false);
        let mut h = gst_check::Harness::with_element(&restore, Some("sink"), Some("src"));
        h.set_src_caps(info.to_caps().unwrap());
        let output = h
            .push_and_pull(frame_buffer(&image, VideoFormat::Rgb))
            .unwrap();
        let rois = face_rois(&output);
        assert_eq!(rois.len(), 1, "blend {blend}: {rois:?}");

        // A 9×9 window on the nose lies deep inside the paste mask.
        let [nx, ny] = rois[0].landmarks[2].map(|v| v.round() as usize);
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(&output, &info).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data(0).unwrap();
        let (mut error, mut count) = (0.0f32, 0.0f32);
        for y in ny - 4..=ny + 4 {
            for x in nx - 4..=nx + 4 {
                for c in 0..3 {
                    let original = image.get_pixel(x as u32, y as u32)[c] as f32;
                    let expected = (1.0 - blend) * original + blend * (255.0 - original);
                    error += (data[y * stride + 3 * x + c] as f32 - expected).abs();
                    count += 1.0;
                }
            }
        }
        let mean = error / count;
        assert!(
            mean < 12.0,
            "blend {blend}: nose differs from the blended inversion by {mean:.1}"
        );
    }
}
