//! Shared set-up of the `sgpnrestore` tests: GStreamer and plugin registration, the identity
//! generator fixture, a real photo placed in a frame, frames in every negotiated format, and
//! the visible bytes of a frame with the pixel each belongs to.
//! The end-to-end suite (`tests/tests/pipelines.rs`) includes this file by path, so that both
//! test the element with the same fixtures: keep its path and its dependencies (gst,
//! gst-video, image, tempfile, gstsgpn, sgpn-models) in step with `tests/Cargo.toml`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

use gst_video::VideoFormat;
use gst_video::prelude::*;

/// Every format in the element's pad template.
pub const FORMATS: [VideoFormat; 11] = [
    VideoFormat::Rgb,
    VideoFormat::Rgbx,
    VideoFormat::Rgba,
    VideoFormat::Bgrx,
    VideoFormat::Bgra,
    VideoFormat::I420,
    VideoFormat::Nv12,
    VideoFormat::I42010le,
    VideoFormat::P01010le,
    VideoFormat::Rgba64Le,
    VideoFormat::V210,
];

/// Side of the identity generator's square crop.
pub const GENERATOR_SIZE: usize = 256;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstsgpn::plugin_register_static().expect("sgpn plugin registers");
    });
}

/// `.deps` as `scripts/setup.sh` filled it (`SGPN_DEPS`, set for cargo by `.cargo/config.toml`).
pub fn deps_dir() -> PathBuf {
    std::env::var_os("SGPN_DEPS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps"),
        PathBuf::from,
    )
}

/// A temporary folder that lives as long as the test process.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary folder"))
        .path()
}

/// An SGPN-contract generator whose output equals its input, written once per test process.
pub fn identity_generator() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = scratch_dir().join("identity-generator.onnx");
        sgpn_models::fixtures::write_identity_generator(
            &path,
            GENERATOR_SIZE,
            sgpn_models::contract::Template::Sgpn,
        )
        .expect("identity generator fixture");
        path
    })
}

/// The element with the identity generator and the shipped detector.
pub fn restore_element() -> gst::Element {
    gst::ElementFactory::make("sgpnrestore")
        .property("generator-model", identity_generator().to_str().unwrap())
        .build()
        .expect("sgpnrestore element")
}

/// A White House portrait (one face, about 90 px high after scaling) on the left of a flat grey
/// 480×360 canvas, so that the right half lies far from any face.
pub fn portrait_frame() -> image::RgbImage {
    portrait_on_canvas(480, 360)
}

/// The portrait of [`portrait_frame`] on a `width`×`height` grey canvas (at least 240×330).
pub fn portrait_on_canvas(width: u32, height: u32) -> image::RgbImage {
    let photo = image::open(deps_dir().join("data/whitehouse/obama.jpg"))
        .expect("decode .deps/data/whitehouse/obama.jpg")
        .to_rgb8();
    let photo = image::imageops::resize(&photo, 240, 300, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    image::imageops::replace(&mut canvas, &photo, 0, 30);
    canvas
}

/// A smooth, face-free test pattern: each channel a different gradient.
pub fn gradient_frame(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(2)) as u8,
            (y * 255 / height.max(2)) as u8,
            ((x + y) * 127 / (width + height)) as u8,
        ])
    })
}

pub fn video_info(format: VideoFormat, width: u32, height: u32) -> gst_video::VideoInfo {
    gst_video::VideoInfo::builder(format, width, height)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .expect("valid video info")
}

/// `image` in `format` (converted by GStreamer's own converter), as one buffer.
pub fn frame_buffer(image: &image::RgbImage, format: VideoFormat) -> gst::Buffer {
    let (width, height) = image.dimensions();
    let rgb_info = video_info(VideoFormat::Rgb, width, height);
    let mut rgb = gst::Buffer::with_size(rgb_info.size()).unwrap();
    {
        let rgb = rgb.get_mut().unwrap();
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(rgb, &rgb_info).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        let row = 3 * width as usize;
        let data = frame.plane_data_mut(0).unwrap();
        for (y, src) in image.as_raw().chunks_exact(row).enumerate() {
            data[y * stride..y * stride + row].copy_from_slice(src);
        }
    }
    if format == VideoFormat::Rgb {
        return rgb;
    }

    let out_info = video_info(format, width, height);
    let converter = gst_video::VideoConverter::new(&rgb_info, &out_info, None).unwrap();
    let src = gst_video::VideoFrame::from_buffer_readable(rgb, &rgb_info).unwrap();
    let mut out = gst::Buffer::with_size(out_info.size()).unwrap();
    {
        let out = out.get_mut().unwrap();
        let mut dst = gst_video::VideoFrameRef::from_buffer_ref_writable(out, &out_info).unwrap();
        converter.frame_ref(&src.as_video_frame_ref(), &mut dst);
    }
    out
}

/// A `face` region of interest and its parameters, read back from a buffer.
#[derive(Debug, Clone)]
pub struct FaceRoi {
    pub rect: (u32, u32, u32, u32),
    pub track_id: u64,
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
}

pub fn face_rois(buffer: &gst::BufferRef) -> Vec<FaceRoi> {
    const LANDMARKS: [&str; 5] = ["left-eye", "right-eye", "nose", "left-mouth", "right-mouth"];
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|meta| meta.roi_type() == "face")
        .map(|meta| {
            let params = meta
                .param("sgpn-face")
                .expect("face ROI carries sgpn-face params");
            let coord = |name: String| params.get::<f64>(name.as_str()).unwrap();
            FaceRoi {
                rect: meta.rect(),
                track_id: params.get("track-id").unwrap(),
                score: params.get("score").unwrap(),
                landmarks: LANDMARKS
                    .map(|name| [coord(format!("{name}-x")), coord(format!("{name}-y"))]),
            }
        })
        .collect()
}

/// Whether pixel (x, y) lies within `margin` times the larger box side of any face box.
pub fn near_a_face(rois: &[FaceRoi], x: u32, y: u32, margin: f64) -> bool {
    near_a_box(rois.iter().map(|roi| roi.rect), x, y, margin)
}

/// Whether pixel (x, y) lies within `margin` times the larger box side of any box
/// (x, y, width, height).
pub fn near_a_box(
    boxes: impl IntoIterator<Item = (u32, u32, u32, u32)>,
    x: u32,
    y: u32,
    margin: f64,
) -> bool {
    boxes.into_iter().any(|(rx, ry, rw, rh)| {
        let pad = margin * rw.max(rh) as f64;
        let (x, y) = (x as f64, y as f64);
        x >= rx as f64 - pad
            && x < (rx + rw) as f64 + pad
            && y >= ry as f64 - pad
            && y < (ry + rh) as f64 + pad
    })
}

/// Where a visible byte of a frame lies: plane, row and byte in the row, and the frame pixel
/// (x, y) it belongs to (the top-left pixel of its block for sub-sampled chroma).
#[derive(Clone, Copy)]
pub struct BytePosition {
    pub plane: usize,
    pub row: usize,
    pub column: usize,
    pub x: u32,
    pub y: u32,
}

/// Every visible byte of a frame of `info`, in plane order; row padding left out. A v210 byte
/// is placed at the middle pixel of its 6-pixel group.
pub fn byte_positions(info: &gst_video::VideoInfo) -> Vec<BytePosition> {
    let finfo = info.format_info();
    let mut positions = Vec::new();
    if info.format() == VideoFormat::V210 {
        let groups = info.width().div_ceil(6) as usize;
        for row in 0..info.height() as usize {
            for column in 0..16 * groups {
                let x = (6 * (column / 16) + 3).min(info.width() as usize - 1);
                positions.push(BytePosition {
                    plane: 0,
                    row,
                    column,
                    x: x as u32,
                    y: row as u32,
                });
            }
        }
        return positions;
    }
    for plane in 0..info.n_planes() as usize {
        let comp = (0..finfo.n_components() as usize)
            .find(|&c| finfo.plane()[c] as usize == plane)
            .unwrap();
        let (wsub, hsub) = (finfo.w_sub()[comp], finfo.h_sub()[comp]);
        let pixel_stride = finfo.pixel_stride()[comp] as usize;
        let plane_w = info.width().div_ceil(1 << wsub) as usize;
        let plane_h = info.height().div_ceil(1 << hsub) as usize;
        for row in 0..plane_h {
            for column in 0..plane_w * pixel_stride {
                let (x, y) = ((column / pixel_stride) << wsub, row << hsub);
                positions.push(BytePosition {
                    plane,
                    row,
                    column,
                    x: x as u32,
                    y: y as u32,
                });
            }
        }
    }
    positions
}

/// The visible bytes of a buffer, in the order of `byte_positions` (strides from the buffer's
/// own video meta, as decoders may pad rows differently from `info`).
pub fn visible_bytes(
    buffer: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    positions: &[BytePosition],
) -> Vec<u8> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    let planes: Vec<&[u8]> = (0..frame.n_planes())
        .map(|p| frame.plane_data(p).unwrap())
        .collect();
    let strides = frame.plane_stride();
    positions
        .iter()
        .map(|p| planes[p.plane][p.row * strides[p.plane] as usize + p.column])
        .collect()
}

/// Every visible byte of a frame in plane order, with the frame pixel (x, y) it belongs to
/// (the top-left pixel of its block for sub-sampled chroma), so comparisons can skip bytes near a
/// face. Row padding is left out.
pub fn frame_bytes(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Vec<(u32, u32, u8)> {
    let positions = byte_positions(info);
    let bytes = visible_bytes(buffer, info, &positions);
    positions
        .iter()
        .zip(bytes)
        .map(|(p, b)| (p.x, p.y, b))
        .collect()
}

/// Reads the first error message from a bus, waiting up to `timeout`.
pub fn bus_error(bus: &gst::Bus, timeout: gst::ClockTime) -> Option<gst::glib::Error> {
    bus.timed_pop_filtered(timeout, &[gst::MessageType::Error])
        .and_then(|msg| match msg.view() {
            gst::MessageView::Error(err) => Some(err.error()),
            _ => None,
        })
}

/// Sets `element` (a configured `sgpnrestore`) in `videotestsrc ! element ! fakesink` to PAUSED,
/// which must fail; returns the bus error's message.
pub fn start_error_of(element: &gst::Element) -> String {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 1)
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, element, &sink]).unwrap();
    gst::Element::link_many([&src, element, &sink]).unwrap();
    let result = pipeline.set_state(gst::State::Paused);
    let error = bus_error(&pipeline.bus().unwrap(), gst::ClockTime::from_seconds(10));
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(result.is_err(), "the start must fail");
    error
        .expect("an error message on the bus")
        .message()
        .to_string()
}
