//! `sgpnrestore` across its life: bad models or devices fail the start with a bus error naming
//! the culprit, a failed or stopped element restarts cleanly, property changes while playing lose
//! or reorder no buffer, and tracks are forgotten at discontinuities and flushes.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;

/// `videotestsrc ! sgpnrestore ! fakesink`, with `configure` applied to the restorer.
fn pipeline(configure: impl FnOnce(&gst::Element)) -> (gst::Pipeline, gst::Element) {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 2)
        .build()
        .unwrap();
    let restore = restore_element();
    configure(&restore);
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &restore, &sink]).unwrap();
    gst::Element::link_many([&src, &restore, &sink]).unwrap();
    (pipeline, restore)
}

/// Starts a pipeline whose restorer `configure` breaks; returns the bus error's message.
fn start_error(configure: impl FnOnce(&gst::Element)) -> String {
    init();
    let restore = restore_element();
    configure(&restore);
    start_error_of(&restore)
}

/// Runs a pipeline to the end of its stream; panics with the bus error if there is one.
fn run_to_eos(pipeline: &gst::Pipeline) {
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 60 s");
    if let gst::MessageView::Error(err) = msg.view() {
        panic!("pipeline error: {} ({:?})", err.error(), err.debug());
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

fn set_path(element: &gst::Element, property: &str, path: &std::path::Path) {
    element.set_property(property, path.to_str().unwrap());
}

#[test]
fn missing_generator_is_named() {
    let path = scratch_dir().join("no-such-generator.onnx");
    let message = start_error(|e| set_path(e, "generator-model", &path));
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[test]
fn missing_detector_is_named() {
    let path = scratch_dir().join("no-such-detector.onnx");
    let message = start_error(|e| set_path(e, "detector-model", &path));
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[test]
fn broken_generators_are_named() {
    use sgpn_models::fixtures::{BrokenGenerator, write_broken_generator};
    for kind in [
        BrokenGenerator::WrongInputName,
        BrokenGenerator::WrongRank,
        BrokenGenerator::WrongDtype,
        BrokenGenerator::MissingSize,
        BrokenGenerator::UnknownTemplate,
        BrokenGenerator::Truncated,
        BrokenGenerator::NotOnnx,
    ] {
        let path = scratch_dir().join(format!("broken-{kind:?}.onnx"));
        write_broken_generator(&path, kind).unwrap();
        let message = start_error(|e| set_path(e, "generator-model", &path));
        assert!(
            message.contains(path.to_str().unwrap()),
            "{kind:?}: {message}"
        );
    }
}

#[test]
fn detector_given_as_generator_violates_the_contract() {
    // A valid ONNX file, but not a generator: wrong inputs, outputs and metadata.
    let path = deps_dir().join("models/retinaface_mnet025.onnx");
    let message = start_error(|e| set_path(e, "generator-model", &path));
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[test]
fn generator_given_as_detector_is_named() {
    let path = identity_generator();
    let message = start_error(|e| set_path(e, "detector-model", path));
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[test]
fn gpu_kernels_without_a_gpu_fail_clearly() {
    if sgpn_kernels::cuda::driver_present() {
        println!("skipped: this machine has a CUDA driver");
        return;
    }
    let message = start_error(|e| e.set_property_from_str("kernels", "cuda"));
    assert!(
        message.contains("kernels=cuda") && message.contains("libcuda"),
        "{message}"
    );
}

#[test]
fn unavailable_devices_fail_clearly() {
    for device in ["cuda", "tensorrt"] {
        let message = start_error(|e| e.set_property_from_str("device", device));
        assert!(
            message.to_lowercase().contains(device),
            "device={device}: the error must name the device: {message}"
        );
    }
}

#[test]
fn default_generator_is_the_shipped_model_and_runs() {
    init();
    let element = gst::ElementFactory::make("sgpnrestore").build().unwrap();
    let default: String = element.property("generator-model");
    assert!(
        default.ends_with("models/sgpn-small256-no3d.onnx"),
        "{default}"
    );
    assert!(
        std::path::Path::new(&default).exists(),
        "the shipped default generator {default} is missing"
    );
    let (pipeline, _) = pipeline(|e| e.set_property("generator-model", None::<&str>));
    run_to_eos(&pipeline);
}

#[test]
fn restarts_cleanly_after_a_failed_start_and_after_stop() {
    let missing = scratch_dir().join("absent-generator.onnx");
    let (pipeline, restore) = pipeline(|e| set_path(e, "generator-model", &missing));
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    pipeline.set_state(gst::State::Null).unwrap();
    // Drop the failed start's error so the runs below see only their own messages.
    while pipeline.bus().unwrap().pop().is_some() {}

    set_path(&restore, "generator-model", identity_generator());
    run_to_eos(&pipeline);
    run_to_eos(&pipeline);
}

/// `appsrc ! sgpnrestore ! appsink` fed face frames while the playing-mutable properties change
/// before every push (appsrc's streaming thread runs the element meanwhile); every buffer must
/// come out, once, in order.
#[test]
fn property_changes_while_playing_lose_no_buffer() {
    init();
    const COUNT: u64 = 24;
    let image = portrait_frame();
    let info = video_info(VideoFormat::Rgb, image.width(), image.height());
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(&info.to_caps().unwrap())
        .format(gst::Format::Time)
        .build();
    let restore = restore_element();
    assert!(
        !restore.property::<bool>("qos"),
        "QoS would drop late frames unprocessed"
    );
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline
        .add_many([src.upcast_ref(), &restore, sink.upcast_ref()])
        .unwrap();
    gst::Element::link_many([src.upcast_ref(), &restore, sink.upcast_ref()]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let frame = gst::ClockTime::from_mseconds(40);
    let pushed: Vec<gst::ClockTime> = (0..COUNT).map(|n| frame * n).collect();
    for (n, &pts) in pushed.iter().enumerate() {
        let step = n % 4;
        restore.set_property("blend", [0.0f32, 0.5, 1.0, 0.25][step]);
        restore.set_property("detection-threshold", [0.5f32, 0.99, 0.8, 0.7][step]);
        restore.set_property("detect-interval", step as u32 + 1);
        restore.set_property("temporal-smoothing", step as f32 / 4.0);
        restore.set_property("detail-smoothing", step as f32 / 4.0);
        restore.set_property("colour-fix", step % 2 == 0);
        restore.set_property("min-face-size", 16 + 8 * step as u32);
        restore.set_property("max-faces", step as u32 + 1);
        let mut buffer = frame_buffer(&image, VideoFormat::Rgb);
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(pts);
        buf.set_duration(frame);
        src.push_buffer(buffer).expect("push while playing");
    }
    src.end_of_stream().unwrap();

    let mut pulled = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(60)) {
        pulled.push(sample.buffer().unwrap().pts().unwrap());
    }
    let error = bus_error(&pipeline.bus().unwrap(), gst::ClockTime::ZERO);
    pipeline.set_state(gst::State::Null).unwrap();

    assert!(error.is_none(), "pipeline error: {error:?}");
    assert_eq!(pulled, pushed, "every buffer, once, in order");
}

#[test]
fn blend_zero_keeps_the_original_face() {
    init();
    let image = portrait_frame();
    let info = video_info(VideoFormat::Rgb, image.width(), image.height());
    let restore = restore_element();
    restore.set_property("blend", 0.0f32);
    let mut h = gst_check::Harness::with_element(&restore, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let input = frame_buffer(&image, VideoFormat::Rgb);
    let kept = input.copy_deep().unwrap();
    let output = h.push_and_pull(input).unwrap();
    assert_eq!(
        face_rois(&output).len(),
        1,
        "the face is still found and tagged"
    );
    assert!(
        frame_bytes(&kept, &info) == frame_bytes(&output, &info),
        "blend=0 changes nothing"
    );
}

/// A generator that fails inside ONNX Runtime (here: on a frame with two faces) must not stop the
/// stream: the frame comes out as it went in, with its timestamps, and the application gets a
/// warning naming the failure.
#[test]
fn a_failing_generator_warns_and_passes_the_frame_on() {
    init();
    let generator = scratch_dir().join("single-face-generator.onnx");
    sgpn_models::fixtures::write_single_face_generator(
        &generator,
        GENERATOR_SIZE,
        sgpn_models::contract::Template::Sgpn,
    )
    .unwrap();
    // Two faces: the portrait's left half copied onto the right half.
    let mut image = portrait_frame();
    let left = image::imageops::crop_imm(&image, 0, 0, 240, 360).to_image();
    image::imageops::replace(&mut image, &left, 240, 0);
    let info = video_info(VideoFormat::Rgb, image.width(), image.height());

    let restore = restore_element();
    set_path(&restore, "generator-model", &generator);
    let bus = gst::Bus::new();
    restore.set_bus(Some(&bus));
    let mut h = gst_check::Harness::with_element(&restore, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let mut input = frame_buffer(&image, VideoFormat::Rgb);
    {
        let buf = input.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::from_mseconds(400));
        buf.set_duration(gst::ClockTime::from_mseconds(40));
    }
    let kept = input.copy_deep().unwrap();
    let output = h.push_and_pull(input).expect("the frame comes out");

    assert_eq!(output.pts(), kept.pts());
    assert_eq!(output.duration(), kept.duration());
    assert!(
        frame_bytes(&kept, &info) == frame_bytes(&output, &info),
        "the frame passes unrestored"
    );
    let warning = bus
        .pop_filtered(&[gst::MessageType::Warning])
        .expect("a warning on the bus");
    let gst::MessageView::Warning(warning) = warning.view() else {
        unreachable!("filtered for warnings")
    };
    let text = warning.error().to_string();
    assert!(text.contains("Face restoration failed"), "{text}");
    assert!(
        bus.pop_filtered(&[gst::MessageType::Error]).is_none(),
        "no error: the stream goes on"
    );
}

/// The track id of the single face in each of `flags.len()` pushes of the portrait, with a
/// flush before the pushes marked `true` in `flush_before`.
fn track_ids(flags: &[gst::BufferFlags], flush_before: &[bool]) -> Vec<u64> {
    init();
    let image = portrait_frame();
    let info = video_info(VideoFormat::I420, image.width(), image.height());
    let mut h = gst_check::Harness::with_element(&restore_element(), Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let frame = gst::ClockTime::from_mseconds(40);
    flags
        .iter()
        .zip(flush_before)
        .enumerate()
        .map(|(n, (&flags, &flush))| {
            if flush {
                assert!(h.push_event(gst::event::FlushStart::new()));
                assert!(h.push_event(gst::event::FlushStop::new(true)));
                h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
            }
            let mut buffer = frame_buffer(&image, VideoFormat::I420);
            let buf = buffer.get_mut().unwrap();
            buf.set_pts(frame * n as u64);
            buf.set_flags(flags);
            let output = h.push_and_pull(buffer).unwrap();
            let rois = face_rois(&output);
            assert_eq!(rois.len(), 1, "push {n}: {rois:?}");
            rois[0].track_id
        })
        .collect()
}

#[test]
fn tracks_continue_and_are_forgotten_at_discont_and_flush() {
    let none = gst::BufferFlags::empty();
    let discont = gst::BufferFlags::DISCONT;
    let ids = track_ids(
        &[none, none, none, discont, none, none, none],
        &[false, false, false, false, false, true, false],
    );
    assert_eq!(ids[0], ids[1], "{ids:?}: one face, one track");
    assert_eq!(ids[1], ids[2], "{ids:?}");
    assert_ne!(
        ids[3], ids[2],
        "{ids:?}: a DISCONT buffer starts new tracks"
    );
    assert_eq!(ids[3], ids[4], "{ids:?}");
    assert_ne!(ids[5], ids[4], "{ids:?}: a flush starts new tracks");
    assert_eq!(ids[5], ids[6], "{ids:?}");
}

#[test]
fn properties_have_the_documented_defaults_and_mutability() {
    init();
    let element = gst::ElementFactory::make("sgpnrestore").build().unwrap();
    let pspec = |name: &str| {
        element
            .find_property(name)
            .unwrap_or_else(|| panic!("property {name}"))
    };
    let playing = gst::PARAM_FLAG_MUTABLE_PLAYING;
    let ready = gst::PARAM_FLAG_MUTABLE_READY;

    for (name, default, maximum) in [
        ("detection-threshold", 0.8f32, 1.0),
        ("blend", 1.0, 1.0),
        ("temporal-smoothing", 0.5, 1.0),
        // Up to 0.95: at 1 a still face's restored detail would never update again.
        ("detail-smoothing", 0.8, 0.95),
    ] {
        let spec = pspec(name).downcast::<gst::glib::ParamSpecFloat>().unwrap();
        assert_eq!(spec.default_value(), default, "{name}");
        assert_eq!((spec.minimum(), spec.maximum()), (0.0, maximum), "{name}");
        assert!(
            spec.flags().contains(playing),
            "{name} changes while playing"
        );
    }
    for (name, default, flag) in [
        ("min-face-size", 24u32, playing),
        ("max-faces", 16, playing),
        ("detect-interval", 1, playing),
        ("detection-size", 640, playing),
        ("threads", 0, ready),
    ] {
        let spec = pspec(name).downcast::<gst::glib::ParamSpecUInt>().unwrap();
        assert_eq!(spec.default_value(), default, "{name}");
        assert!(spec.flags().contains(flag), "{name}");
    }
    let colour_fix = pspec("colour-fix")
        .downcast::<gst::glib::ParamSpecBoolean>()
        .unwrap();
    assert!(colour_fix.default_value(), "colour-fix is on by default");
    assert!(colour_fix.flags().contains(playing), "colour-fix");
    for name in [
        "detector-model",
        "generator-model",
        "device",
        "precision",
        "engine-cache",
        "kernels",
    ] {
        assert!(
            pspec(name).flags().contains(ready),
            "{name} changes in READY"
        );
        assert!(
            !pspec(name).flags().contains(playing),
            "{name} is fixed while playing"
        );
    }
    assert_eq!(
        element.property::<String>("detector-model"),
        deps_dir()
            .join("models/retinaface_mnet025.onnx")
            .to_str()
            .unwrap()
    );
    assert_eq!(
        element
            .property_value("device")
            .get::<&gst::glib::EnumValue>()
            .unwrap()
            .nick(),
        "cpu"
    );
    // TensorRT: float32, engines in the default cache until a folder is set.
    let nick = |name: &str| {
        element
            .property_value(name)
            .get::<&gst::glib::EnumValue>()
            .unwrap()
            .nick()
            .to_owned()
    };
    assert_eq!(nick("precision"), "fp32");
    assert_eq!(nick("kernels"), "cpu");
    assert_eq!(element.property::<Option<String>>("engine-cache"), None);
    element.set_property_from_str("precision", "fp16");
    element.set_property("engine-cache", "/var/cache/sgpn-engines");
    assert_eq!(nick("precision"), "fp16");
    assert_eq!(
        element
            .property::<Option<String>>("engine-cache")
            .as_deref(),
        Some("/var/cache/sgpn-engines")
    );
    let paste_mode = element.property_value("paste-mode");
    assert_eq!(
        paste_mode.get::<&gst::glib::EnumValue>().unwrap().nick(),
        "residual"
    );
    assert!(pspec("paste-mode").flags().contains(playing));
}
