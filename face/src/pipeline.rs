//! [`FaceRestorer`]: one frame through detect → track → align → warp → shape → restore → paste
//! back (the shape step only with a shape prior: paper Fig. 2, Sec. 3.1).

use std::path::PathBuf;

use sgpn_kernels::backend::CpuKernels;
use sgpn_kernels::cuda::CudaKernels;
use sgpn_kernels::frame::FrameMut;
use sgpn_models::contract::Variant;
use sgpn_models::detector::FaceDetector;
use sgpn_models::generator::Generator;
use sgpn_models::runtime::{Device, SessionConfig};
use sgpn_models::tensorrt::TensorRtOptions;

use crate::FaceError;
use crate::align::align_to_template;
use crate::chain::{Chain, FrameChain, Networks, PlacedFace};
use crate::colour::DEFAULT_COLOUR_FIX;
use crate::detect::{DEFAULT_WORKING_SIZE, DetectParams, detect_faces};
use crate::paste::PasteMode;
use crate::shape::{ShapeConfig, ShapePrior};
use crate::stabilise::DEFAULT_DETAIL_SMOOTHING;
use crate::timings::{StageTimings, timed};
use crate::track::Tracker;

/// What the restorer loads once.
#[derive(Clone, Debug, PartialEq)]
pub struct RestorerConfig {
    pub detector_model: PathBuf,
    pub generator_model: PathBuf,
    pub device: Device,
    /// ONNX Runtime intra-op threads per session; 0 lets ONNX Runtime choose.
    pub threads: usize,
    /// Precision, engine cache and batch profile of `device=tensorrt`.
    pub tensorrt: TensorRtOptions,
    /// Where the non-network stages run (region conversion, crop warp, the shape prior's
    /// render, colour fix, paste-back, detail smoothing, write-back).
    pub kernels: KernelDevice,
    /// The shape prior (regressor and 3DMM): required by a `full` generator and by
    /// [`OutputMode::Render`]; with a `no3d` generator only for [`OutputMode::Render`].
    pub shape: Option<ShapeConfig>,
    pub output_mode: OutputMode,
}

/// Where the face kernels run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelDevice {
    /// The CPU references.
    #[default]
    Cpu,
    /// Their CUDA twins on GPU 0 (`sgpn_kernels::cuda`): a frame with faces is uploaded once
    /// in its native format (8, 10 or 16 bits) and downloaded once after the paste-back; its
    /// regions, crops and restored crops stay on the device between the stages
    /// (`face/src/chain.rs`), crossing to the host only for a network that runs there.
    Cuda,
}

/// What is pasted into the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// The generator's restored faces.
    #[default]
    Restored,
    /// The rendered 3D faces of the shape prior (`I_3d`) where the mesh covers the crop, through
    /// the same paste-back, so a person can see the prior the generator is given; the generator
    /// does not run.
    Render,
}

/// What may change from one frame to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RestoreParams {
    /// Minimum detector score (0–1).
    pub detection_threshold: f32,
    /// Smallest face restored, as the side of its box in frame pixels.
    pub min_face_size: f32,
    /// Highest-scoring faces restored per frame.
    pub max_faces: usize,
    /// 0 keeps the original face, 1 pastes the fully restored one.
    pub blend: f32,
    /// Run the detector every N frames and track in between (1 = every frame).
    pub detect_interval: u32,
    /// Landmark smoothing over time (0 = raw landmarks, 1 = strongest).
    pub temporal_smoothing: f32,
    /// Weight of each face's pasted change from earlier frames where the input holds still
    /// (0 = every frame restored on its own; see [`crate::stabilise`]).
    pub detail_smoothing: f32,
    /// Keep each face's coarse colour and shading from the crop the generator was given, and
    /// only the generator's detail (see [`crate::colour`]).
    pub colour_fix: bool,
    /// Longest side of the detector's working copy.
    pub detection_size: usize,
    /// Paste the restoration's change (default) or replace the face with the restored crop.
    pub paste_mode: PasteMode,
}

impl Default for RestoreParams {
    fn default() -> Self {
        Self {
            detection_threshold: 0.8,
            min_face_size: 24.0,
            max_faces: 16,
            blend: 1.0,
            detect_interval: 1,
            temporal_smoothing: 0.5,
            detail_smoothing: DEFAULT_DETAIL_SMOOTHING,
            colour_fix: DEFAULT_COLOUR_FIX,
            detection_size: DEFAULT_WORKING_SIZE,
            paste_mode: PasteMode::default(),
        }
    }
}

/// One face restored in a frame, for the element's region-of-interest metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct RestoredFace {
    pub track_id: u64,
    pub score: f32,
    /// x0, y0, x1, y1 in frame pixels.
    pub bbox: [f32; 4],
    /// Smoothed landmarks in frame pixels: left eye, right eye, nose, left mouth, right mouth.
    pub landmarks: [[f32; 2]; 5],
}

/// The face restoration pipeline for one stream.
pub struct FaceRestorer {
    detector: FaceDetector,
    generator: Generator,
    shape: Option<ShapePrior>,
    output_mode: OutputMode,
    tracker: Tracker,
    frame_index: u64,
    timings: StageTimings,
    chain: Box<dyn FrameChain>,
}

impl FaceRestorer {
    /// Loads and validates the models and checks that they fit together and the output mode
    /// (errors name the file and the problem).
    pub fn new(cfg: &RestorerConfig) -> Result<Self, FaceError> {
        let mut session = SessionConfig {
            device: cfg.device,
            intra_threads: cfg.threads,
            tensorrt: cfg.tensorrt.clone(),
            compute_stream: None,
        };
        let chain: Box<dyn FrameChain> = match cfg.kernels {
            KernelDevice::Cpu => Box::new(Chain::new(CpuKernels)),
            KernelDevice::Cuda => {
                let gpu = CudaKernels::new(0).map_err(|e| FaceError::Kernels(e.to_string()))?;
                // The networks on a CUDA provider run on the kernels' stream, so that a batch
                // bound to the kernels' buffers is ordered with the kernels around it.
                session.compute_stream = Some(gpu.stream_handle());
                Box::new(Chain::new(gpu))
            }
        };
        let detector = FaceDetector::load(&cfg.detector_model, &session)?;
        let generator = Generator::load(&cfg.generator_model, &session)?;
        check_shape_settings(cfg, generator.info.variant)?;
        let shape = cfg
            .shape
            .as_ref()
            .map(|shape| ShapePrior::load(shape, &session, &generator.info))
            .transpose()?;
        Ok(Self {
            detector,
            generator,
            shape,
            output_mode: cfg.output_mode,
            tracker: Tracker::default(),
            frame_index: 0,
            timings: StageTimings::default(),
            chain,
        })
    }

    /// The generator's contract data (crop size, template, variant).
    pub fn generator_info(&self) -> &sgpn_models::contract::GeneratorInfo {
        &self.generator.info
    }

    /// Forgets all tracks: call on a seek, a flush or a discontinuity. Track ids keep
    /// increasing, so that an id never names two faces of one stream.
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.chain.reset();
        self.frame_index = 0;
    }

    /// Ready for another stream, as if just loaded: [`Self::reset`], track ids from 0 again.
    pub fn start_stream(&mut self) {
        self.reset();
        self.tracker = Tracker::default();
        self.timings = StageTimings::default();
    }

    /// Time per step for the last frame.
    pub fn timings(&self) -> &StageTimings {
        &self.timings
    }

    /// Restores every face of `frame` in place and returns them. A frame without faces, or with
    /// `blend` 0, is left bit-identical.
    pub fn process_frame(
        &mut self,
        frame: &mut FrameMut<'_>,
        params: &RestoreParams,
    ) -> Result<Vec<RestoredFace>, FaceError> {
        let mut t = StageTimings::default();
        let detect_now = self
            .frame_index
            .is_multiple_of(u64::from(params.detect_interval.max(1)));
        self.frame_index += 1;

        // 1. detect (on a downscaled copy) and 2. track.
        if detect_now {
            let detect = DetectParams {
                threshold: params.detection_threshold,
                min_face_size: params.min_face_size,
                max_faces: params.max_faces,
                working_size: params.detection_size,
            };
            let found = timed(&mut t.detect, || {
                detect_faces(&mut self.detector, &frame.as_ref(), &detect)
            })?;
            timed(&mut t.track, || {
                self.tracker.update(&found, params.temporal_smoothing)
            });
        } else {
            timed(&mut t.track, || self.tracker.predict());
        }

        // 3. align to the generator's template, and locate each crop in the frame.
        let info = &self.generator.info;
        let (width, height) = (frame.width, frame.height);
        let (faces, placed): (Vec<RestoredFace>, Vec<PlacedFace>) =
            timed(&mut t.align_warp, || {
                self.tracker
                    .tracks()
                    .iter()
                    .take(params.max_faces)
                    .filter_map(|track| {
                        let alignment =
                            align_to_template(&track.landmarks, info.template, info.size)?;
                        let rect = alignment.frame_rect(width, height)?;
                        let face = RestoredFace {
                            track_id: track.id,
                            score: track.score,
                            bbox: track.bbox,
                            landmarks: track.landmarks,
                        };
                        let placed = PlacedFace {
                            track_id: track.id,
                            landmarks: track.landmarks,
                            alignment,
                            rect,
                        };
                        Some((face, placed))
                    })
                    .unzip()
            });
        let live: Vec<u64> = faces.iter().map(|f| f.track_id).collect();
        self.chain.retain_faces(&live);
        if faces.is_empty() || params.blend <= 0.0 {
            self.timings = t;
            return Ok(faces);
        }

        // 4. warp, shape, restore, colour fix and 5. paste back, where the kernels run.
        let networks = Networks {
            generator: &mut self.generator,
            shape: self.shape.as_mut(),
            output_mode: self.output_mode,
        };
        self.chain
            .restore_faces(frame, &placed, networks, params, &mut t)?;
        self.timings = t;
        Ok(faces)
    }
}

/// A `full` generator needs the shape prior; a `no3d` one takes no rendered face, so a shape
/// prior there only makes sense to look at it ([`OutputMode::Render`]) and is refused otherwise
/// rather than run for nothing; [`OutputMode::Render`] needs a shape prior.
fn check_shape_settings(cfg: &RestorerConfig, variant: Variant) -> Result<(), FaceError> {
    match (&cfg.shape, variant, cfg.output_mode) {
        (None, Variant::Full, _) => Err(FaceError::Config {
            path: cfg.generator_model.clone(),
            problem: "the generator is variant 'full' and takes the rendered 3D face: give a \
                      shape regressor and its 3DMM (shape-regressor, morphable-model)"
                .to_owned(),
        }),
        (None, Variant::No3d, OutputMode::Render) => Err(FaceError::Settings(
            "output mode 'render' shows the rendered 3D faces: give a shape regressor and its \
             3DMM (shape-regressor, morphable-model)"
                .to_owned(),
        )),
        (Some(shape), Variant::No3d, OutputMode::Restored) => Err(FaceError::Config {
            path: cfg.generator_model.clone(),
            problem: format!(
                "the generator is variant 'no3d' and takes no rendered 3D face, so the shape \
                 regressor {} would run for nothing: leave it unset, use a 'full' generator, or \
                 choose output mode 'render' to see the shape prior",
                shape.regressor_path.display()
            ),
        }),
        _ => Ok(()),
    }
}
