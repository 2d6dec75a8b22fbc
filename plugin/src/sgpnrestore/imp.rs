//! `sgpnrestore` implementation: a `GstVideoFilter` working in place on the negotiated frame.
//!
//! Per buffer: map every plane of the frame onto an `sgpn_kernels::frame::FrameMut` in its native
//! pixel format, let `sgpn_face::FaceRestorer` run facexlib's steps on it (detect → track → align →
//! warp → shape → restore → paste back; the shape step is SGPN's shape prior, paper Sec. 3.1:
//! 3DMM regressor, 3DMM, render), then tag each restored face with a
//! `GstVideoRegionOfInterestMeta` of type `face`. Models load in `start()`, so a bad path or file
//! fails the READY → PAUSED transition with an error naming the file, before any buffer flows.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat};

use super::{FACE_PARAMS_NAME, LANDMARK_FIELDS};

use sgpn_face::{
    PooledRestorer, RestoreParams, RestoredFace, RestorerConfig, RestorerPool, ShapeConfig,
};
use sgpn_kernels::frame::{Colorimetry, FrameError, FrameMut, PixelFormat, YuvMatrix};

const DEFAULT_DEVICE: Device = Device::Cpu;
const DEFAULT_DETECTION_THRESHOLD: f32 = 0.8;
const DEFAULT_MIN_FACE_SIZE: u32 = 24;
const DEFAULT_MAX_FACES: u32 = 16;
const DEFAULT_BLEND: f32 = 1.0;
const DEFAULT_DETECT_INTERVAL: u32 = 1;
const DEFAULT_TEMPORAL_SMOOTHING: f32 = 0.5;
const DEFAULT_DETAIL_SMOOTHING: f32 = sgpn_face::stabilise::DEFAULT_DETAIL_SMOOTHING;
const DEFAULT_COLOUR_FIX: bool = sgpn_face::colour::DEFAULT_COLOUR_FIX;
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_PASTE_MODE: PasteMode = PasteMode::Residual;
const DEFAULT_DETECTION_SIZE: u32 = sgpn_face::detect::DEFAULT_WORKING_SIZE as u32;
const DEFAULT_OUTPUT_MODE: OutputMode = OutputMode::Restored;
/// The detector `scripts/setup.sh` fetches, relative to the `.deps` folder (`SGPN_DEPS`).
const DETECTOR_IN_DEPS: &str = "models/retinaface_mnet025.onnx";
/// Where that detector lies in the source tree this plugin was built from.
const DETECTOR_AT_BUILD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../.deps/models/retinaface_mnet025.onnx"
);
/// The generator the training issue ships with the project.
const DEFAULT_GENERATOR_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/sgpn-small256-no3d.onnx"
);
/// The project's 3DMM (docs/shape-prior.md "Files"), used by the shape prior once a
/// `shape-regressor` is set.
const DEFAULT_MORPHABLE_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/sgpn-mediapipe-3dmm.safetensors"
);
/// Frame sizes the element accepts; below 16 px no face is detectable anyway.
const MIN_FRAME_SIDE: i32 = 16;

/// The detector path: `$SGPN_DEPS` at run time wins over the build tree, so an installed plugin
/// finds the file wherever the set-up script put it.
static DEFAULT_DETECTOR_MODEL: LazyLock<String> =
    LazyLock::new(|| match std::env::var_os("SGPN_DEPS") {
        Some(deps) => Path::new(&deps)
            .join(DETECTOR_IN_DEPS)
            .to_string_lossy()
            .into_owned(),
        None => DETECTOR_AT_BUILD.to_owned(),
    });

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "sgpnrestore",
        gst::DebugColorFlags::empty(),
        Some("SGPN face restoration"),
    )
});

/// Where the networks run; maps onto `sgpn_models::runtime::Device`.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSgpnDevice")]
pub enum Device {
    #[enum_value(name = "CPU (ONNX Runtime CPU execution provider)", nick = "cpu")]
    Cpu = 0,
    #[enum_value(name = "CUDA (ONNX Runtime CUDA execution provider)", nick = "cuda")]
    Cuda = 1,
    #[enum_value(
        name = "TensorRT (ONNX Runtime TensorRT execution provider)",
        nick = "tensorrt"
    )]
    TensorRt = 2,
}

impl From<Device> for sgpn_models::runtime::Device {
    fn from(device: Device) -> Self {
        match device {
            Device::Cpu => Self::Cpu,
            Device::Cuda => Self::Cuda,
            Device::TensorRt => Self::TensorRt,
        }
    }
}

/// Where the face kernels run; maps onto `sgpn_face::KernelDevice`.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSgpnKernels")]
pub enum Kernels {
    #[enum_value(name = "CPU reference kernels", nick = "cpu")]
    Cpu = 0,
    #[enum_value(name = "CUDA kernels on GPU 0", nick = "cuda")]
    Cuda = 1,
}

impl From<Kernels> for sgpn_face::KernelDevice {
    fn from(k: Kernels) -> Self {
        match k {
            Kernels::Cpu => Self::Cpu,
            Kernels::Cuda => Self::Cuda,
        }
    }
}

/// Arithmetic of `device=tensorrt`; maps onto `sgpn_models::tensorrt::Precision`.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSgpnPrecision")]
pub enum Precision {
    #[enum_value(name = "Float32 everywhere", nick = "fp32")]
    Fp32 = 0,
    #[enum_value(name = "TensorRT may use float16 kernels", nick = "fp16")]
    Fp16 = 1,
}

impl From<Precision> for sgpn_models::tensorrt::Precision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::Fp32 => Self::Fp32,
            Precision::Fp16 => Self::Fp16,
        }
    }
}

/// How a restored face enters the frame; maps onto `sgpn_face::PasteMode`.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSgpnPasteMode")]
pub enum PasteMode {
    #[enum_value(
        name = "Residual: add the restoration's change, keep the frame's finer detail",
        nick = "residual"
    )]
    Residual = 0,
    #[enum_value(name = "Replace: paste the restored crop (facexlib)", nick = "replace")]
    Replace = 1,
}

impl From<PasteMode> for sgpn_face::PasteMode {
    fn from(mode: PasteMode) -> Self {
        match mode {
            PasteMode::Residual => Self::Residual,
            PasteMode::Replace => Self::Replace,
        }
    }
}

/// What the element pastes; maps onto `sgpn_face::OutputMode`.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSgpnOutputMode")]
pub enum OutputMode {
    #[enum_value(name = "Restored: the generator's restored faces", nick = "restored")]
    Restored = 0,
    #[enum_value(
        name = "Render: the rendered 3D faces of the shape prior, where the mesh covers the face",
        nick = "render"
    )]
    Render = 1,
}

impl From<OutputMode> for sgpn_face::OutputMode {
    fn from(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Restored => Self::Restored,
            OutputMode::Render => Self::Render,
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    detector_model: PathBuf,
    generator_model: PathBuf,
    /// `None`: no shape prior.
    shape_regressor: Option<PathBuf>,
    morphable_model: PathBuf,
    output_mode: OutputMode,
    device: Device,
    precision: Precision,
    kernels: Kernels,
    /// `None`: `sgpn_models::tensorrt::default_engine_cache()`.
    engine_cache: Option<PathBuf>,
    detection_threshold: f32,
    min_face_size: u32,
    max_faces: u32,
    blend: f32,
    detect_interval: u32,
    temporal_smoothing: f32,
    detail_smoothing: f32,
    colour_fix: bool,
    threads: u32,
    paste_mode: PasteMode,
    detection_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            detector_model: PathBuf::from(DEFAULT_DETECTOR_MODEL.as_str()),
            generator_model: PathBuf::from(DEFAULT_GENERATOR_MODEL),
            shape_regressor: None,
            morphable_model: PathBuf::from(DEFAULT_MORPHABLE_MODEL),
            output_mode: DEFAULT_OUTPUT_MODE,
            device: DEFAULT_DEVICE,
            precision: Precision::Fp32,
            kernels: Kernels::Cpu,
            engine_cache: None,
            detection_threshold: DEFAULT_DETECTION_THRESHOLD,
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            max_faces: DEFAULT_MAX_FACES,
            blend: DEFAULT_BLEND,
            detect_interval: DEFAULT_DETECT_INTERVAL,
            temporal_smoothing: DEFAULT_TEMPORAL_SMOOTHING,
            detail_smoothing: DEFAULT_DETAIL_SMOOTHING,
            colour_fix: DEFAULT_COLOUR_FIX,
            threads: DEFAULT_THREADS,
            paste_mode: DEFAULT_PASTE_MODE,
            detection_size: DEFAULT_DETECTION_SIZE,
        }
    }
}

impl Settings {
    fn restorer_config(&self) -> RestorerConfig {
        RestorerConfig {
            detector_model: self.detector_model.clone(),
            generator_model: self.generator_model.clone(),
            device: self.device.into(),
            threads: self.threads as usize,
            tensorrt: sgpn_models::tensorrt::TensorRtOptions {
                precision: self.precision.into(),
                engine_cache: self.engine_cache.clone(),
                max_batch: (self.max_faces as usize).max(1),
            },
            kernels: self.kernels.into(),
            shape: self.shape_regressor.as_ref().map(|regressor| ShapeConfig {
                regressor_path: regressor.clone(),
                morphable_path: self.morphable_model.clone(),
            }),
            output_mode: self.output_mode.into(),
        }
    }

    fn restore_params(&self) -> RestoreParams {
        RestoreParams {
            detection_threshold: self.detection_threshold,
            min_face_size: self.min_face_size as f32,
            max_faces: self.max_faces as usize,
            blend: self.blend,
            detect_interval: self.detect_interval,
            temporal_smoothing: self.temporal_smoothing,
            detail_smoothing: self.detail_smoothing,
            colour_fix: self.colour_fix,
            detection_size: self.detection_size as usize,
            paste_mode: self.paste_mode.into(),
        }
    }
}

/// How the negotiated frames are laid out, fixed in `set_info`.
#[derive(Debug, Clone, Copy)]
struct FrameLayout {
    format: PixelFormat,
    colorimetry: Colorimetry,
    width: u32,
    height: u32,
}

/// Face pipelines of this process whose stream ended: the next element started with the same
/// models takes one instead of loading them again (a batch of archive files; a pipeline
/// restarted on the next input).
static MODELS: RestorerPool = RestorerPool::new();

struct State {
    restorer: PooledRestorer,
    /// `None` until caps are negotiated.
    layout: Option<FrameLayout>,
    /// Faces restored in the current buffer, handed from `transform_frame_ip` (frame mapped) to
    /// `transform_ip` (frame unmapped, buffer free to take metas).
    faces: Vec<RestoredFace>,
}

#[derive(Default)]
pub struct SgpnRestore {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// The kernels' pixel format for a negotiated GStreamer format; `None` for formats outside the
/// pad template.
fn pixel_format(format: VideoFormat) -> Option<PixelFormat> {
    match format {
        VideoFormat::Rgb => Some(PixelFormat::Rgb),
        VideoFormat::Rgbx => Some(PixelFormat::Rgbx),
        VideoFormat::Rgba => Some(PixelFormat::Rgba),
        VideoFormat::Bgrx => Some(PixelFormat::Bgrx),
        VideoFormat::Bgra => Some(PixelFormat::Bgra),
        VideoFormat::I420 => Some(PixelFormat::I420),
        VideoFormat::Nv12 => Some(PixelFormat::Nv12),
        VideoFormat::I42010le => Some(PixelFormat::I420P10),
        VideoFormat::P01010le => Some(PixelFormat::P010),
        VideoFormat::Rgba64Le => Some(PixelFormat::Rgba64),
        VideoFormat::V210 => Some(PixelFormat::V210),
        _ => None,
    }
}

/// YUV ↔ RGB conversion the restorer must use. The caps' matrix when it is one the kernels know;
/// otherwise GStreamer's own default rule (BT.709 above SD heights, BT.601 up to 576 lines).
fn colorimetry(info: &gst_video::VideoInfo) -> Colorimetry {
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        VideoColorMatrix::Bt601 => YuvMatrix::Bt601,
        VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
        _ if info.height() > 576 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    };
    let full_range =
        info.format_info().is_rgb() || colorimetry.range() == VideoColorRange::Range0_255;
    Colorimetry { matrix, full_range }
}

/// All planes of a mapped, writable frame as one `FrameMut`.
fn frame_mut<'a>(
    frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    layout: FrameLayout,
) -> Result<FrameMut<'a>, FrameError> {
    let width = frame.width() as usize;
    let height = frame.height() as usize;
    let n_planes = frame.n_planes() as usize;
    // Strides of these formats are positive: GStreamer only uses negative strides for flipped
    // system-memory layouts that none of the negotiated formats produce.
    let strides = frame.plane_stride()[..n_planes]
        .iter()
        .map(|&stride| stride as usize)
        .collect();
    let planes = frame.planes_data_mut().into_iter().take(n_planes).collect();
    FrameMut::new(
        layout.format,
        width,
        height,
        planes,
        strides,
        layout.colorimetry,
    )
}

/// The integer rectangle (x, y, w, h) of a face box, clipped to the frame.
fn roi_rect(bbox: [f32; 4], width: u32, height: u32) -> (u32, u32, u32, u32) {
    let clip = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    let (x0, y0) = (clip(bbox[0], width), clip(bbox[1], height));
    let (x1, y1) = (clip(bbox[2], width), clip(bbox[3], height));
    (x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0))
}

/// One `face` region-of-interest meta per restored face, with track id, score and landmarks.
fn attach_face_metas(buffer: &mut gst::BufferRef, faces: &[RestoredFace], width: u32, height: u32) {
    for face in faces {
        let mut params = gst::Structure::builder(FACE_PARAMS_NAME)
            .field("track-id", face.track_id)
            .field("score", face.score as f64);
        for (point, [x_name, y_name]) in face.landmarks.iter().zip(LANDMARK_FIELDS) {
            params = params
                .field(x_name, point[0] as f64)
                .field(y_name, point[1] as f64);
        }
        let mut meta = gst_video::VideoRegionOfInterestMeta::add(
            buffer,
            "face",
            roi_rect(face.bbox, width, height),
        );
        // The meta's id is an i32; ids past that range stay in the params only.
        if let Ok(id) = i32::try_from(face.track_id) {
            meta.set_id(id);
        }
        meta.add_param(params.build());
    }
}

#[glib::object_subclass]
impl ObjectSubclass for SgpnRestore {
    const NAME: &'static str = "GstSgpnRestore";
    type Type = super::SgpnRestore;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for SgpnRestore {
    fn constructed(&self) {
        self.parent_constructed();
        // GstVideoFilter turns QoS on, which would drop late frames unprocessed; restoring a
        // recording must deliver every frame. Users of live previews can set qos=true.
        self.obj().set_qos(false);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("detector-model")
                    .nick("Detector model")
                    .blurb("RetinaFace ONNX file giving face boxes and 5 landmarks")
                    .default_value(Some(DEFAULT_DETECTOR_MODEL.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("generator-model")
                    .nick("Generator model")
                    .blurb("SGPN generator ONNX file following the sgpn generator contract")
                    .default_value(Some(DEFAULT_GENERATOR_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("shape-regressor")
                    .nick("Shape regressor")
                    .blurb(
                        "3DMM coefficient regressor ONNX file of the shape prior (the sgpn shape \
                         regressor contract); required by 'full' generators and output-mode=render, \
                         unset for none",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("morphable-model")
                    .nick("Morphable model")
                    .blurb(
                        "3D morphable model (.safetensors or BFM09 .mat) the shape regressor was \
                         trained with; used only with a shape-regressor",
                    )
                    .default_value(Some(DEFAULT_MORPHABLE_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("output-mode", DEFAULT_OUTPUT_MODE)
                    .nick("Output mode")
                    .blurb(
                        "restored pastes the generator's faces; render pastes the rendered 3D \
                         faces of the shape prior where the mesh covers them, to see the prior",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", DEFAULT_DEVICE)
                    .nick("Device")
                    .blurb(
                        "Where the networks run; cuda and tensorrt need the GPU ONNX Runtime \
                         (scripts/setup.sh --gpu), tensorrt also TensorRT 10",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", Precision::Fp32)
                    .nick("TensorRT precision")
                    .blurb("fp32, or fp16 to let TensorRT use half-precision kernels, the demodulation kept in fp32 (device=tensorrt)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("kernels", Kernels::Cpu)
                    .nick("Face kernels")
                    .blurb(
                        "Where region conversion, crop warp, the shape prior's render, colour \
                         fix, paste-back, detail smoothing and write-back run: cpu, or cuda (GPU \
                         0, NVRTC from scripts/setup.sh); independent of device",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("engine-cache")
                    .nick("TensorRT engine cache")
                    .blurb(
                        "Folder for TensorRT engines, one subfolder per model content \
                         (default $XDG_CACHE_HOME/sgpn/tensorrt, else ~/.cache/sgpn/tensorrt)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("detection-threshold")
                    .nick("Detection threshold")
                    .blurb("Minimum detector score of a face")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_DETECTION_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Smallest face restored, in frame pixels (box side)")
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Faces restored per frame; the highest-scoring are kept")
                    .minimum(1)
                    .maximum(1024)
                    .default_value(DEFAULT_MAX_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("blend")
                    .nick("Blend")
                    .blurb("0 keeps the original face, 1 pastes the fully restored face")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BLEND)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detect-interval")
                    .nick("Detect interval")
                    .blurb("Run the detector every N frames and track faces in between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_DETECT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("temporal-smoothing")
                    .nick("Temporal smoothing")
                    .blurb("Landmark smoothing across frames against flicker (0 = none)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_TEMPORAL_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("detail-smoothing")
                    .nick("Detail smoothing")
                    .blurb(
                        "Weight of each face's restored detail from earlier frames where the face \
                         holds still, against texture flicker (0 = each frame on its own)",
                    )
                    .minimum(0.0)
                    .maximum(0.95)
                    .default_value(DEFAULT_DETAIL_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("colour-fix")
                    .nick("Colour fix")
                    .blurb(
                        "Move each restored face's mean colour to that of the face the generator \
                         was given, against per-face tints",
                    )
                    .default_value(DEFAULT_COLOUR_FIX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("paste-mode", DEFAULT_PASTE_MODE)
                    .nick("Paste mode")
                    .blurb(
                        "residual adds the restoration's change and keeps detail finer than the \
                         generator's crop; replace pastes the restored crop as facexlib does",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detection-size")
                    .nick("Detection size")
                    .blurb(
                        "Longest side in pixels of the frame copy the detector sees; larger finds \
                         smaller faces in big frames at a higher cost",
                    )
                    .minimum(64)
                    .maximum(4096)
                    .default_value(DEFAULT_DETECTION_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads (0 = automatic)")
                    .maximum(1024)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
            ]
        });

        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "detector-model" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.detector_model =
                    PathBuf::from(path.unwrap_or_else(|| DEFAULT_DETECTOR_MODEL.clone()));
            }
            "generator-model" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.generator_model =
                    path.map_or_else(|| PathBuf::from(DEFAULT_GENERATOR_MODEL), PathBuf::from);
            }
            "shape-regressor" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.shape_regressor = path.filter(|p| !p.is_empty()).map(PathBuf::from);
            }
            "morphable-model" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.morphable_model =
                    path.map_or_else(|| PathBuf::from(DEFAULT_MORPHABLE_MODEL), PathBuf::from);
            }
            "output-mode" => settings.output_mode = value.get().expect("type checked upstream"),
            "device" => settings.device = value.get().expect("type checked upstream"),
            "precision" => settings.precision = value.get().expect("type checked upstream"),
            "kernels" => settings.kernels = value.get().expect("type checked upstream"),
            "engine-cache" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.engine_cache = path.filter(|p| !p.is_empty()).map(PathBuf::from);
            }
            "detection-threshold" => {
                settings.detection_threshold = value.get().expect("type checked upstream")
            }
            "min-face-size" => settings.min_face_size = value.get().expect("type checked upstream"),
            "max-faces" => settings.max_faces = value.get().expect("type checked upstream"),
            "blend" => settings.blend = value.get().expect("type checked upstream"),
            "detect-interval" => {
                settings.detect_interval = value.get().expect("type checked upstream")
            }
            "temporal-smoothing" => {
                settings.temporal_smoothing = value.get().expect("type checked upstream")
            }
            "detail-smoothing" => {
                settings.detail_smoothing = value.get().expect("type checked upstream")
            }
            "colour-fix" => settings.colour_fix = value.get().expect("type checked upstream"),
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            "paste-mode" => settings.paste_mode = value.get().expect("type checked upstream"),
            "detection-size" => {
                settings.detection_size = value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "detector-model" => settings.detector_model.to_string_lossy().to_value(),
            "generator-model" => settings.generator_model.to_string_lossy().to_value(),
            "shape-regressor" => settings
                .shape_regressor
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .to_value(),
            "morphable-model" => settings.morphable_model.to_string_lossy().to_value(),
            "output-mode" => settings.output_mode.to_value(),
            "device" => settings.device.to_value(),
            "precision" => settings.precision.to_value(),
            "kernels" => settings.kernels.to_value(),
            "engine-cache" => settings
                .engine_cache
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .to_value(),
            "detection-threshold" => settings.detection_threshold.to_value(),
            "min-face-size" => settings.min_face_size.to_value(),
            "max-faces" => settings.max_faces.to_value(),
            "blend" => settings.blend.to_value(),
            "detect-interval" => settings.detect_interval.to_value(),
            "temporal-smoothing" => settings.temporal_smoothing.to_value(),
            "detail-smoothing" => settings.detail_smoothing.to_value(),
            "colour-fix" => settings.colour_fix.to_value(),
            "threads" => settings.threads.to_value(),
            "paste-mode" => settings.paste_mode.to_value(),
            "detection-size" => settings.detection_size.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for SgpnRestore {}

impl ElementImpl for SgpnRestore {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SGPN face restoration",
                "Filter/Effect/Video",
                "Detects, tracks and restores every face with an SGPN generator \
                 (Zhu et al., CVPR 2022), tagging each with a face region-of-interest meta",
                "The sgpn developers",
            )
        });

        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list([
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
                ])
                .width_range(MIN_FRAME_SIDE..=i32::MAX)
                .height_range(MIN_FRAME_SIDE..=i32::MAX)
                .build();
            let sink_pad_template = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap();
            let src_pad_template = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap();

            vec![sink_pad_template, src_pad_template]
        });

        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SgpnRestore {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let restorer = MODELS.take(&settings.restorer_config()).map_err(|err| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("Cannot load the face models: {}", err),
                [
                    "detector-model={} generator-model={} shape-regressor={} morphable-model={} \
                     output-mode={:?} device={:?} threads={}",
                    settings.detector_model.display(),
                    settings.generator_model.display(),
                    settings
                        .shape_regressor
                        .as_ref()
                        .map_or("(none)".into(), |p| p.display().to_string()),
                    settings.morphable_model.display(),
                    settings.output_mode,
                    settings.device,
                    settings.threads
                ]
            )
        })?;
        gst::info!(
            CAT,
            imp = self,
            "Ready (loaded, or kept from a previous stream): detector {} and generator {} on {:?}, shape prior {:?}, output {:?}",
            settings.detector_model.display(),
            settings.generator_model.display(),
            settings.device,
            settings.shape_regressor,
            settings.output_mode
        );

        *self.state.lock().unwrap() = Some(State {
            restorer,
            layout: None,
            faces: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().take() {
            MODELS.give_back(state.restorer);
        }
        gst::info!(CAT, imp = self, "Stopped");
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // After a flush (seek) the next frame is unrelated to the tracked faces.
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.restorer.reset();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        // The VideoFilter parent maps the frame and calls `transform_frame_ip`; the metas go on
        // once the frame is unmapped and the buffer is ours again.
        let flow = self.parent_transform_ip(buf)?;
        let mut state_guard = self.state.lock().unwrap();
        if let Some(State {
            layout: Some(layout),
            faces,
            ..
        }) = state_guard.as_mut()
        {
            attach_face_metas(buf, faces, layout.width, layout.height);
            faces.clear();
        }
        Ok(flow)
    }
}

impl VideoFilterImpl for SgpnRestore {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let format = pixel_format(in_info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "Unsupported caps {}", incaps))?;
        if in_info.interlace_mode() != gst_video::VideoInterlaceMode::Progressive {
            // Faces are detected and pasted per frame; two fields woven into one frame would
            // give combed faces and a paste that mixes two instants.
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                (
                    "sgpnrestore takes progressive video, this is {:?}: deinterlace first (… ! deinterlace ! sgpnrestore)",
                    in_info.interlace_mode()
                ),
                ["caps {}", incaps]
            );
            return Err(gst::loggable_error!(CAT, "Interlaced caps {}", incaps));
        }
        let layout = FrameLayout {
            format,
            colorimetry: colorimetry(in_info),
            width: in_info.width(),
            height: in_info.height(),
        };
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "Caps set before the models were loaded"))?;
        // New caps may mean a new size or source: earlier tracks no longer apply.
        state.restorer.reset();
        state.layout = Some(layout);
        gst::debug!(CAT, imp = self, "Configured for {} as {:?}", incaps, layout);
        Ok(())
    }

    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Copy the numbers out so a property change while playing never waits on a frame.
        let params = self.settings.lock().unwrap().restore_params();

        let mut state_guard = self.state.lock().unwrap();
        let Some(state) = state_guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["Have no state yet"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let Some(layout) = state.layout else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["Have no caps yet"]);
            return Err(gst::FlowError::NotNegotiated);
        };

        if frame.buffer().flags().contains(gst::BufferFlags::DISCONT) {
            gst::debug!(CAT, imp = self, "Discontinuity: forgetting tracked faces");
            state.restorer.reset();
        }

        let mut frame_mut = frame_mut(frame, layout).map_err(|err| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("Cannot map the frame: {}", err)
            );
            gst::FlowError::Error
        })?;
        // A failure inside one frame (ONNX Runtime out of memory, say) must not stop a broadcast
        // pipeline: the frame goes on as it is (faces are pasted last, so it is unmodified unless
        // the paste itself failed), the application gets a warning, and tracking starts afresh.
        state.faces = match state.restorer.process_frame(&mut frame_mut, &params) {
            Ok(faces) => faces,
            Err(err) => {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Failed,
                    (
                        "Face restoration failed; frame passed on unrestored: {}",
                        err
                    )
                );
                state.restorer.reset();
                Vec::new()
            }
        };
        gst::trace!(
            CAT,
            imp = self,
            "Restored {} faces, stage times {:?}",
            state.faces.len(),
            state.restorer.timings()
        );

        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colorimetry_of(caps: &str) -> Colorimetry {
        gst::init().unwrap();
        let caps: gst::Caps = caps.parse().unwrap();
        colorimetry(&gst_video::VideoInfo::from_caps(&caps).unwrap())
    }

    #[test]
    fn caps_without_colorimetry_follow_gstreamer_defaults() {
        let sd = colorimetry_of("video/x-raw,format=I420,width=640,height=360,framerate=25/1");
        assert_eq!(
            sd,
            Colorimetry {
                matrix: YuvMatrix::Bt601,
                full_range: false
            }
        );
        let hd = colorimetry_of("video/x-raw,format=NV12,width=1280,height=720,framerate=25/1");
        assert_eq!(
            hd,
            Colorimetry {
                matrix: YuvMatrix::Bt709,
                full_range: false
            }
        );
    }

    #[test]
    fn explicit_caps_colorimetry_wins() {
        let bt709_sd = colorimetry_of(
            "video/x-raw,format=I420,width=640,height=360,framerate=25/1,colorimetry=bt709",
        );
        assert_eq!(bt709_sd.matrix, YuvMatrix::Bt709);
        let bt601_hd = colorimetry_of(
            "video/x-raw,format=I420,width=1920,height=1080,framerate=25/1,colorimetry=bt601",
        );
        assert_eq!(bt601_hd.matrix, YuvMatrix::Bt601);
        // JPEG-style full range BT.601 (range 1 = 0..255).
        let full = colorimetry_of(
            "video/x-raw,format=I420,width=640,height=360,framerate=25/1,colorimetry=1:4:0:0",
        );
        assert_eq!(
            full,
            Colorimetry {
                matrix: YuvMatrix::Bt601,
                full_range: true
            }
        );
    }

    #[test]
    fn rgb_frames_are_full_range() {
        let rgb = colorimetry_of("video/x-raw,format=BGRx,width=640,height=360,framerate=25/1");
        assert!(rgb.full_range);
    }

    #[test]
    fn roi_rect_is_clipped_to_the_frame() {
        assert_eq!(
            roi_rect([10.4, 20.6, 50.5, 80.0], 100, 100),
            (10, 21, 41, 59)
        );
        assert_eq!(
            roi_rect([-5.0, -3.0, 120.0, 40.0], 100, 30),
            (0, 0, 100, 30)
        );
    }
}
