//! Steps 4–5 of one frame on one backend: warp → shape → restore → colour fix → paste back →
//! write back, over buffers that live where the backend computes (`FaceKernels::Buffer`).
//!
//! With `kernels=cuda` the frame is uploaded once in its native format, every face's region, its
//! crop in the generator's batch, the restored batch, the pasted regions and each tracked face's
//! history stay on the device, on one stream, and the frame is downloaded once. A network that
//! runs on a CUDA provider (`device=cuda|tensorrt`) is bound to those device buffers
//! (`Generator::restore_on_device`) and runs on the same stream; one that runs on the CPU gets a
//! host copy of the batch and gives its result back to the device. The same holds for the
//! shape prior's regressor, whose input is cut from the crops on the device; only its
//! coefficients (a few hundred floats per face) come to the host, and the faces are rendered
//! from them on the device, straight into the generator's `render` batch
//! (`FaceKernels::render_crops`: 3DMM combination, normals, raster; for the official release's
//! D3DFR crop, rendered in D3DFR's frame and warped back into the crops there).
//!
//! The same code runs with the CPU references on host vectors, so every test of the pipeline
//! on the CPU exercises the chain the GPU runs.

use sgpn_kernels::backend::FaceKernels;
use sgpn_kernels::frame::FrameMut;
use sgpn_kernels::image::Rect;
use sgpn_models::device_memory::DeviceTensor;
use sgpn_models::generator::{DeviceBatch, Generator};

use crate::FaceError;
use crate::align::Alignment;
use crate::paste::{CropSlot, PasteSettings, PasteState, paste_face};
use crate::pipeline::{OutputMode, RestoreParams};
use crate::restore::{CropBatch, on_host, restore_batch};
use crate::shape::{ShapePrior, composite_over};
use crate::timings::{StageTimings, timed};

/// A face of the current frame on its way through the steps.
pub(crate) struct PlacedFace {
    pub track_id: u64,
    /// Smoothed landmarks in frame pixels.
    pub landmarks: [[f32; 2]; 5],
    pub alignment: Alignment,
    pub rect: Rect,
}

/// The networks of steps 4a and 4b, and what is pasted.
pub(crate) struct Networks<'a> {
    pub generator: &'a mut Generator,
    pub shape: Option<&'a mut ShapePrior>,
    pub output_mode: OutputMode,
}

/// Steps 4–5 on some backend, behind one object-safe face for [`crate::FaceRestorer`].
pub(crate) trait FrameChain: Send {
    /// Restores `faces` (not empty) into `frame`.
    fn restore_faces(
        &mut self,
        frame: &mut FrameMut<'_>,
        faces: &[PlacedFace],
        networks: Networks<'_>,
        params: &RestoreParams,
        t: &mut StageTimings,
    ) -> Result<(), FaceError>;

    /// Forgets the detail history of the faces whose tracks ended.
    fn retain_faces(&mut self, live: &[u64]);

    /// Forgets every face's detail history.
    fn reset(&mut self);
}

/// The chain on backend `K`.
pub(crate) struct Chain<K: FaceKernels> {
    kernels: K,
    /// The crops for networks that run on the host.
    host_lq: CropBatch,
    /// The shape prior's 3DMM where the kernels render, loaded on the first frame that needs it.
    morphable: Option<K::Morphable>,
    paste: PasteState<K::Buffer>,
}

impl<K: FaceKernels> Chain<K> {
    pub fn new(kernels: K) -> Self {
        Self {
            kernels,
            host_lq: CropBatch::default(),
            morphable: None,
            paste: PasteState::default(),
        }
    }
}

impl<K: FaceKernels> FrameChain for Chain<K> {
    fn restore_faces(
        &mut self,
        frame: &mut FrameMut<'_>,
        faces: &[PlacedFace],
        networks: Networks<'_>,
        params: &RestoreParams,
        t: &mut StageTimings,
    ) -> Result<(), FaceError> {
        let Networks {
            generator,
            shape,
            output_mode,
        } = networks;
        let k = &self.kernels;
        let size = generator.info.size;

        // 4. warp every crop into one batch. The backend keeps one copy of the frame from here
        // to the end of the paste-back.
        let lq = timed(&mut t.align_warp, || -> Result<K::Buffer, FaceError> {
            k.begin_frame(&frame.as_ref())?;
            let mut lq = k.zeros(faces.len() * 3 * size * size)?;
            for (slot, f) in faces.iter().enumerate() {
                let region = k.read_region(&frame.as_ref(), f.rect)?;
                let to_region = [f.alignment.crop_to_region(&f.rect)];
                let (w, h) = (f.rect.width, f.rect.height);
                k.warp_face_crops(&region, w, h, &to_region, size, &mut lq, slot)?;
            }
            Ok(lq)
        })?;
        let on_device = generator.takes_device_memory() && k.device_address(&lq).is_some();
        let needs_host = !on_device || output_mode == OutputMode::Render;
        if needs_host && k.as_host(&lq).is_none() {
            timed(&mut t.align_warp, || {
                k.download(&lq, self.host_lq.fill(size, faces.len()))
            })?;
        }
        let host_lq = (
            k.as_host(&lq).unwrap_or(self.host_lq.as_slice()),
            faces.len(),
        );

        // 4a. shape (paper Sec. 3.1): regress the 3DMM coefficients of all crops in one run,
        // render each face in the crop's own alignment; 4b. restore, or show the shape prior.
        let mut restored = match shape {
            Some(shape) => {
                let landmarks: Vec<[[f32; 2]; 5]> = faces
                    .iter()
                    .map(|f| {
                        f.landmarks.map(|[x, y]| {
                            let (x, y) = f.alignment.frame_to_crop.apply(x, y);
                            [x, y]
                        })
                    })
                    .collect();
                let coefficients = timed(&mut t.regress, || {
                    shape.regress_on(k, &lq, (faces.len(), size), &landmarks)
                })?;
                if self.morphable.is_none() {
                    self.morphable = Some(k.load_morphable(&shape.morphable_parts())?);
                }
                let loaded = self.morphable.as_ref().expect("loaded above");
                let (renders, coverage) = timed(&mut t.render, || {
                    shape.render_on(k, loaded, &coefficients, size)
                })?;
                match output_mode {
                    OutputMode::Restored => timed(&mut t.restore, || {
                        let prior = Some((&renders, coefficients.as_slice()));
                        run_generator(k, generator, (&lq, host_lq), prior, on_device)
                    })?,
                    OutputMode::Render => timed(&mut t.render, || -> Result<_, FaceError> {
                        let (renders, coverage) = (on_host(k, &renders)?, on_host(k, &coverage)?);
                        let shown = composite_over(host_lq.0, &renders, &coverage, size);
                        Ok(k.upload_owned(shown)?)
                    })?,
                }
            }
            None => timed(&mut t.restore, || {
                run_generator(k, generator, (&lq, host_lq), None, on_device)
            })?,
        };

        // 4c. colour fix: each face keeps the input's coarse colour and shading.
        if params.colour_fix && output_mode == OutputMode::Restored {
            timed(&mut t.paste, || k.colour_fix(&lq, &mut restored, size))?;
        }

        // 5. paste back, one face after the other, each with its history of earlier frames. The
        // render output mode shows the shape prior frame by frame, jitter included, unsmoothed.
        let settings = PasteSettings {
            mode: params.paste_mode,
            blend: params.blend.min(1.0),
            detail_smoothing: match output_mode {
                OutputMode::Restored => params.detail_smoothing,
                OutputMode::Render => 0.0,
            },
        };
        timed(&mut t.paste, || -> Result<(), FaceError> {
            for (slot, f) in faces.iter().enumerate() {
                let crops = CropSlot {
                    lq: &lq,
                    restored: &restored,
                    slot,
                };
                paste_face(
                    k,
                    frame,
                    (&f.alignment, f.rect),
                    crops,
                    settings,
                    f.track_id,
                    &mut self.paste,
                )?;
            }
            k.end_frame(frame)?;
            Ok(())
        })
    }

    fn retain_faces(&mut self, live: &[u64]) {
        self.paste.stabiliser.retain(live);
    }

    fn reset(&mut self) {
        self.paste.stabiliser.reset();
    }
}

/// Step 4b on the batch `lq`: bound to the device buffers when the generator runs on a CUDA
/// provider and the kernels keep their buffers on that device (`on_device`), else on the host
/// crops `host_lq` (`count` of them), the result handed back to the kernels. `prior` is a
/// `full` generator's shape prior: the rendered faces (where the kernels compute) and the
/// coefficients.
fn run_generator<K: FaceKernels>(
    k: &K,
    generator: &mut Generator,
    (lq, host_lq): (&K::Buffer, (&[f32], usize)),
    prior: Option<(&K::Buffer, &[f32])>,
    on_device: bool,
) -> Result<K::Buffer, FaceError> {
    if !on_device {
        let restored = match prior {
            None => restore_batch(generator, host_lq, None)?,
            Some((renders, coefficients)) => {
                let renders = on_host(k, renders)?;
                restore_batch(generator, host_lq, Some((&renders, coefficients)))?
            }
        };
        return Ok(k.upload_owned(restored)?);
    }
    let restored = k.zeros(k.len(lq))?;
    let render = prior.map(|(r, _)| r);
    let tensor = |b: &K::Buffer| {
        k.device_address(b)
            .map(|(ordinal, address)| DeviceTensor { ordinal, address })
            .ok_or_else(|| FaceError::Kernels("a device buffer has no device address".to_owned()))
    };
    let batch = DeviceBatch {
        lq: tensor(lq)?,
        render: render.map(tensor).transpose()?,
        coefficients: prior.map(|(_, c)| c),
        restored: tensor(&restored)?,
        batch: k.len(lq) / (3 * generator.info.size * generator.info.size),
    };
    // SAFETY: the three buffers hold `batch·3·S·S` floats on the kernels' device (allocated
    // above and by the warp for exactly this batch) and live until after the call; the session
    // runs on the kernels' stream (`SessionConfig::compute_stream`, set by `FaceRestorer::new`).
    unsafe { generator.restore_on_device(batch) }?;
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sgpn_kernels::KernelError;
    use sgpn_kernels::affine::Affine2;
    use sgpn_kernels::backend::CpuKernels;
    use sgpn_kernels::frame::{Colorimetry, FrameRef, PixelFormat};
    use sgpn_kernels::paste::PasteParams;
    use sgpn_kernels::render::{
        BatchRender, Camera, CoefficientBatch, FaceInput, MorphableParts, RenderTarget,
    };
    use sgpn_kernels::stabilise::Previous;
    use sgpn_models::contract::Template;
    use sgpn_models::fixtures::{
        ellipsoid_cap_morphable, write_frontal_shape_prior, write_identity_generator,
        write_render_blend_generator,
    };
    use sgpn_models::runtime::SessionConfig;

    use super::*;
    use crate::align::align_to_template;
    use crate::shape::ShapeConfig;

    /// The CPU references, counting every copy between the host and the kernels' buffers: on a
    /// GPU these are the transfers the chain makes.
    #[derive(Default)]
    struct Counting {
        uploads: AtomicUsize,
        downloads: AtomicUsize,
    }

    impl FaceKernels for Counting {
        type Buffer = Vec<f32>;
        type Morphable = ();

        fn zeros(&self, len: usize) -> Result<Vec<f32>, KernelError> {
            CpuKernels.zeros(len)
        }
        fn upload(&self, host: &[f32]) -> Result<Vec<f32>, KernelError> {
            self.uploads.fetch_add(1, Ordering::Relaxed);
            CpuKernels.upload(host)
        }
        fn download(&self, buffer: &Vec<f32>, host: &mut [f32]) -> Result<(), KernelError> {
            self.downloads.fetch_add(1, Ordering::Relaxed);
            CpuKernels.download(buffer, host)
        }
        fn len(&self, buffer: &Vec<f32>) -> usize {
            buffer.len()
        }
        fn duplicate(&self, buffer: &Vec<f32>) -> Result<Vec<f32>, KernelError> {
            CpuKernels.duplicate(buffer)
        }
        fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<Vec<f32>, KernelError> {
            CpuKernels.read_region(frame, rect)
        }
        fn write_region(
            &self,
            frame: &mut FrameMut,
            rect: Rect,
            rgb: &Vec<f32>,
            alpha: &Vec<f32>,
        ) -> Result<(), KernelError> {
            CpuKernels.write_region(frame, rect, rgb, alpha)
        }
        fn warp_face_crops(
            &self,
            region: &Vec<f32>,
            width: usize,
            height: usize,
            transforms: &[Affine2],
            size: usize,
            crops: &mut Vec<f32>,
            first: usize,
        ) -> Result<(), KernelError> {
            CpuKernels.warp_face_crops(region, width, height, transforms, size, crops, first)
        }
        fn crop_to_region(
            &self,
            crops: &Vec<f32>,
            slot: usize,
            size: usize,
        ) -> Result<Vec<f32>, KernelError> {
            CpuKernels.crop_to_region(crops, slot, size)
        }
        fn paste_back(
            &self,
            region: &mut Vec<f32>,
            alpha: &mut Vec<f32>,
            dims: (usize, usize),
            restored: &Vec<f32>,
            reference: Option<&Vec<f32>>,
            slot_size: (usize, usize),
            region_to_crop: &Affine2,
            params: &PasteParams,
        ) -> Result<(), KernelError> {
            let (r, a) = (region, alpha);
            let to_crop = region_to_crop;
            CpuKernels.paste_back(r, a, dims, restored, reference, slot_size, to_crop, params)
        }
        fn colour_fix(
            &self,
            lq: &Vec<f32>,
            restored: &mut Vec<f32>,
            size: usize,
        ) -> Result<(), KernelError> {
            CpuKernels.colour_fix(lq, restored, size)
        }
        fn region_change(
            &self,
            pasted: &Vec<f32>,
            input: &Vec<f32>,
            change: &mut Vec<f32>,
        ) -> Result<(), KernelError> {
            CpuKernels.region_change(pasted, input, change)
        }
        fn coverage(&self, alpha: &Vec<f32>, covered: &mut Vec<f32>) -> Result<(), KernelError> {
            CpuKernels.coverage(alpha, covered)
        }
        fn blend_with_history(
            &self,
            rect: Rect,
            input: &Vec<f32>,
            pasted: &mut Vec<f32>,
            change: &mut Vec<f32>,
            previous: &Previous<'_, Vec<f32>>,
            strength: f32,
        ) -> Result<(), KernelError> {
            CpuKernels.blend_with_history(rect, input, pasted, change, previous, strength)
        }
        fn render_faces(
            &self,
            faces: &[FaceInput<'_>],
            triangles: &[[u32; 3]],
            camera: &Camera,
        ) -> Result<BatchRender, KernelError> {
            CpuKernels.render_faces(faces, triangles, camera)
        }
        fn load_morphable(&self, model: &MorphableParts<'_>) -> Result<(), KernelError> {
            CpuKernels.load_morphable(model)
        }
        fn render_crops(
            &self,
            model: &MorphableParts<'_>,
            loaded: &(),
            batch: &CoefficientBatch<'_>,
            camera: &Camera,
            target: RenderTarget<'_>,
        ) -> Result<(Vec<f32>, Vec<f32>), KernelError> {
            CpuKernels.render_crops(model, loaded, batch, camera, target)
        }
    }

    const SIZE: usize = 64;

    fn scratch(name: &str) -> PathBuf {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tmp"))
            .join(format!("sgpn-face-chain-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Two faces placed by the template's own landmarks, scaled and shifted into a 320×240
    /// frame.
    fn faces() -> Vec<PlacedFace> {
        [(1.6, 20.0, 30.0), (1.2, 180.0, 60.0)]
            .iter()
            .enumerate()
            .map(|(i, &(scale, dx, dy))| {
                let landmarks = Template::Sgpn
                    .landmarks(SIZE)
                    .map(|[x, y]| [x * scale + dx, y * scale + dy]);
                let alignment = align_to_template(&landmarks, Template::Sgpn, SIZE).unwrap();
                let rect = alignment.frame_rect(320, 240).unwrap();
                PlacedFace {
                    track_id: i as u64,
                    landmarks,
                    alignment,
                    rect,
                }
            })
            .collect()
    }

    /// Copies between the host and the kernels for one frame: (downloads, uploads).
    fn crossings(
        generator: &mut Generator,
        mut shape: Option<&mut ShapePrior>,
        output_mode: OutputMode,
    ) -> (usize, usize) {
        let mut chain = Chain::new(Counting::default());
        let mut pixels: Vec<u8> = (0..320 * 240 * 4).map(|i| (i * 7 % 251) as u8).collect();
        let faces = faces();
        let mut counts = Vec::new();
        // Two frames: the second pastes with the detail history of the first.
        for _ in 0..2 {
            let mut frame = FrameMut::new(
                PixelFormat::Rgbx,
                320,
                240,
                vec![&mut pixels[..]],
                vec![320 * 4],
                Colorimetry::default(),
            )
            .unwrap();
            let networks = Networks {
                generator: &mut *generator,
                shape: shape.as_deref_mut(),
                output_mode,
            };
            let mut t = StageTimings::default();
            chain
                .restore_faces(
                    &mut frame,
                    &faces,
                    networks,
                    &RestoreParams::default(),
                    &mut t,
                )
                .unwrap();
            let k = &chain.kernels;
            counts.push((
                k.downloads.swap(0, Ordering::Relaxed),
                k.uploads.swap(0, Ordering::Relaxed),
            ));
        }
        assert_eq!(counts[0], counts[1], "every frame crosses the same way");
        counts[0]
    }

    /// Whatever the backend, a frame's crops, renders, restored crops, regions and histories
    /// stay in the kernels' buffers: per frame, and for both faces at once, the only copies are
    /// the networks' (a generator on the host: the crops down, the restored crops up; with the
    /// shape prior also the regressor's input and the renders down). On a GPU with the networks
    /// on a CUDA provider these copies are bindings instead (`restore_on_device`).
    #[test]
    fn the_chain_crosses_to_the_host_only_for_the_networks() {
        let dir = scratch("crossings");
        let cpu = SessionConfig::default();
        let identity = dir.join("identity.onnx");
        write_identity_generator(&identity, SIZE, Template::Sgpn).unwrap();
        let mut generator = Generator::load(&identity, &cpu).unwrap();
        assert_eq!(
            crossings(&mut generator, None, OutputMode::Restored),
            (1, 1)
        );

        let full = dir.join("full.onnx");
        write_render_blend_generator(&full, SIZE, Template::Sgpn).unwrap();
        let mut generator = Generator::load(&full, &cpu).unwrap();
        let shape = ShapeConfig {
            regressor_path: dir.join("regressor.onnx"),
            morphable_path: dir.join("cap.safetensors"),
        };
        let model = ellipsoid_cap_morphable(8, 4, [0.8, 0.6, 0.5]);
        let (regressor, morphable) = (&shape.regressor_path, &shape.morphable_path);
        write_frontal_shape_prior(&model, morphable, regressor, Template::Sgpn).unwrap();
        let mut prior = ShapePrior::load(&shape, &cpu, &generator.info).unwrap();
        let restored = crossings(&mut generator, Some(&mut prior), OutputMode::Restored);
        assert_eq!(restored, (3, 1));
        // Showing the prior composites on the host: the crops, the regressor's input, the
        // renders and their coverage down, the composite up.
        let shown = crossings(&mut generator, Some(&mut prior), OutputMode::Render);
        assert_eq!(shown, (4, 1));
        std::fs::remove_dir_all(&dir).ok();
    }
}
