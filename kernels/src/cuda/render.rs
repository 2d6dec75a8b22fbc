//! Launching the batch face renderer (`kernels/cuda/render.cu`): vertices → screen and colours,
//! the z-buffer pass, the resolve pass; CPU reference `render::render_batch`.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::morph::DeviceMorph;
use super::normals::DeviceMesh;
use super::{CudaKernels, flat_transforms, grid, to_i32};
use crate::error::{KernelError, check_len};
use crate::render::batch::{BatchRender, POSE_LEN, PreparedBatch, push_pose};
use crate::render::face::checked_pose;
use crate::render::{Camera, CoefficientBatch, MorphableParts, RenderTarget, rotation};

/// Scalars of the render kernels (kernels/cuda/render.cu `RenderParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RenderParams {
    pub n: i32,
    pub vertices: i32,
    pub triangles: i32,
    pub size: i32,
    pub focal: f32,
    pub center: f32,
    pub distance: f32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (four ints, three floats).
unsafe impl DeviceRepr for RenderParams {}

impl RenderParams {
    pub fn new(batch: &PreparedBatch) -> Result<Self, KernelError> {
        Self::for_faces(
            batch.faces,
            batch.vertices_per_face,
            batch.triangle_count(),
            &batch.camera,
        )
    }

    fn for_faces(
        faces: usize,
        vertices: usize,
        triangles: usize,
        camera: &Camera,
    ) -> Result<Self, KernelError> {
        Ok(Self {
            n: to_i32("faces", faces)?,
            vertices: to_i32("vertices per face", vertices)?,
            triangles: to_i32("triangles", triangles)?,
            size: to_i32("render size", camera.size)?,
            focal: camera.focal,
            center: camera.center,
            distance: camera.distance,
        })
    }
}

/// Scalars of `render_warp_back` (kernels/cuda/render.cu `WarpBackParams`, same order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WarpBackParams {
    pub n: i32,
    pub frame: i32,
    pub size: i32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (three ints).
unsafe impl DeviceRepr for WarpBackParams {}

/// A 3DMM on the device (`FaceKernels::load_morphable`): its means and bases, and its topology
/// with the vertex adjacency of the normals.
pub struct DeviceMorphable {
    mean_shape: CudaSlice<f32>,
    identity: (CudaSlice<f32>, usize),
    expression: (CudaSlice<f32>, usize),
    mean_albedo: CudaSlice<f32>,
    albedo: (CudaSlice<f32>, usize),
    mesh: DeviceMesh,
}

/// A prepared batch on the device, and the buffers the kernels write.
pub struct DeviceBatch {
    pub params: RenderParams,
    vertices: CudaSlice<f32>,
    normals: CudaSlice<f32>,
    albedo: CudaSlice<f32>,
    poses: CudaSlice<f32>,
    triangles: CudaSlice<u32>,
    screen: CudaSlice<f32>,
    colours: CudaSlice<f32>,
    zbuf: CudaSlice<u64>,
    pub triangle: CudaSlice<u32>,
    pub barycentric: CudaSlice<f32>,
    pub depth: CudaSlice<f32>,
    pub image: CudaSlice<f32>,
    pub mask: CudaSlice<f32>,
}

impl CudaKernels {
    /// Uploads a prepared batch and allocates the outputs.
    pub fn upload_render_batch(&self, batch: &PreparedBatch) -> Result<DeviceBatch, KernelError> {
        let per_vertex = batch.faces * batch.vertices_per_face * 3;
        check_len("batch vertices [N, V, 3]", per_vertex, batch.vertices.len())?;
        check_len("batch normals [N, V, 3]", per_vertex, batch.normals.len())?;
        check_len("batch albedo [N, V, 3]", per_vertex, batch.albedo.len())?;
        check_len(
            "batch poses [N, 39]",
            batch.faces * POSE_LEN,
            batch.poses.len(),
        )?;
        let params = RenderParams::new(batch)?;
        let pixels = batch.faces * batch.camera.size * batch.camera.size;
        let s = &self.stream;
        Ok(DeviceBatch {
            params,
            vertices: s.clone_htod(&batch.vertices)?,
            normals: s.clone_htod(&batch.normals)?,
            albedo: s.clone_htod(&batch.albedo)?,
            poses: s.clone_htod(&batch.poses)?,
            triangles: s.clone_htod(&batch.triangles)?,
            screen: s.alloc_zeros(per_vertex.max(1))?,
            colours: s.alloc_zeros(per_vertex.max(1))?,
            zbuf: s.alloc_zeros(pixels.max(1))?,
            triangle: s.alloc_zeros(pixels.max(1))?,
            barycentric: s.alloc_zeros(3 * pixels.max(1))?,
            depth: s.alloc_zeros(pixels.max(1))?,
            image: s.alloc_zeros(3 * pixels.max(1))?,
            mask: s.alloc_zeros(pixels.max(1))?,
        })
    }

    /// Uploads a 3DMM once (every basis, the triangles and their adjacency).
    pub fn upload_morphable(
        &self,
        model: &MorphableParts<'_>,
    ) -> Result<DeviceMorphable, KernelError> {
        model.check()?;
        let upload = |v| self.upload_or_placeholder(v);
        Ok(DeviceMorphable {
            mean_shape: upload(model.identity.mean)?,
            identity: (upload(model.identity.basis)?, model.identity.components),
            expression: (upload(model.expression.basis)?, model.expression.components),
            mean_albedo: upload(model.albedo.mean)?,
            albedo: (upload(model.albedo.basis)?, model.albedo.components),
            mesh: self.upload_mesh(model.triangles, model.vertex_count())?,
        })
    }

    /// The shape prior's renders from coefficients, all on the device: the 3DMM's shape and
    /// albedo (`morph_combine`), the vertex normals, the three render kernels and
    /// `render_to_crops`. Returns the generator's `render` batch `[N,3,S,S]` and the coverage
    /// `[N,S,S]`. Only the coefficients and the per-face pose blocks (rotation, translation, SH
    /// weights: a few hundred floats, computed by the reference's own functions) are uploaded.
    pub fn launch_render_crops(
        &self,
        model: &DeviceMorphable,
        batch: &CoefficientBatch<'_>,
        camera: &Camera,
        target: RenderTarget<'_>,
    ) -> Result<(CudaSlice<f32>, CudaSlice<f32>), KernelError> {
        camera.validate()?;
        target.check(batch.faces())?;
        let faces = batch.faces();
        let rows = model.mean_shape.len();
        let (v, t) = (model.mesh.vertices, model.mesh.triangle_count);
        let (k_id, k_exp, k_tex) = (model.identity.1, model.expression.1, model.albedo.1);
        check_len(
            "identity coefficients [N, K_id]",
            faces * k_id,
            batch.identity.len(),
        )?;
        check_len(
            "expression coefficients [N, K_exp]",
            faces * k_exp,
            batch.expression.len(),
        )?;
        check_len(
            "albedo coefficients [N, K_tex]",
            faces * k_tex,
            batch.albedo.len(),
        )?;
        let s = &self.stream;
        if faces == 0 || v == 0 {
            return Ok((s.null()?, s.null()?));
        }
        let upload = |v| self.upload_or_placeholder(v);
        let (d_id, d_exp, d_tex) = (
            upload(batch.identity)?,
            upload(batch.expression)?,
            upload(batch.albedo)?,
        );
        let mut vertices = s.alloc_zeros::<f32>(faces * rows)?;
        let shape = DeviceMorph {
            mean: &model.mean_shape,
            bases: [(&model.identity.0, k_id), (&model.expression.0, k_exp)],
        };
        self.launch_morph(&shape, [&d_id, &d_exp], faces, &mut vertices)?;
        let mut albedo = s.alloc_zeros::<f32>(faces * rows)?;
        let colour = DeviceMorph {
            mean: &model.mean_albedo,
            // A second basis without components is never read.
            bases: [(&model.albedo.0, k_tex), (&model.albedo.0, 0)],
        };
        self.launch_morph(&colour, [&d_tex, &d_tex], faces, &mut albedo)?;
        let mut face_normals = if t == 0 {
            s.null()?
        } else {
            s.alloc_zeros::<f32>(faces * t * 3)?
        };
        let mut normals = s.alloc_zeros::<f32>(faces * rows)?;
        self.launch_vertex_normals(
            &model.mesh,
            &vertices,
            faces,
            &mut face_normals,
            &mut normals,
        )?;
        let mut poses = Vec::with_capacity(faces * POSE_LEN);
        for (face, pose) in batch.poses.iter().enumerate() {
            let gamma = checked_pose(pose).map_err(|e| e.in_face(face))?;
            push_pose(&mut poses, &rotation(pose.angles), pose.translation, gamma);
        }
        let pixels = faces * camera.size * camera.size;
        let params = RenderParams::for_faces(faces, v, t, camera)?;
        let mut b = DeviceBatch {
            params,
            vertices,
            normals,
            albedo,
            poses: s.clone_htod(&poses)?,
            triangles: s.clone_dtod(model.mesh.triangles())?,
            screen: s.alloc_zeros(faces * rows)?,
            colours: s.alloc_zeros(faces * rows)?,
            zbuf: s.alloc_zeros(pixels)?,
            triangle: s.alloc_zeros(pixels)?,
            barycentric: s.alloc_zeros(3 * pixels)?,
            depth: s.alloc_zeros(pixels)?,
            image: s.alloc_zeros(3 * pixels)?,
            mask: s.alloc_zeros(pixels)?,
        };
        self.launch_render(&mut b)?;
        let RenderTarget::Frame {
            crop_to_frame,
            size,
        } = target
        else {
            let mut crops = s.alloc_zeros::<f32>(3 * pixels)?;
            let mut launch = s.launch_builder(&self.render_to_crops);
            launch
                .arg(&params)
                .arg(&b.image)
                .arg(&b.mask)
                .arg(&mut crops);
            // SAFETY: argument types and order match `render_to_crops`; `image` holds 3 floats
            // and `mask` one per pixel of the `n` S×S renders, `crops` 3 per pixel.
            unsafe { launch.launch(grid(camera.size, camera.size, faces)) }?;
            return Ok((crops, b.mask));
        };
        let back = WarpBackParams {
            n: params.n,
            frame: params.size,
            size: to_i32("crop size", size)?,
        };
        let transforms = s.clone_htod(&flat_transforms(crop_to_frame))?;
        let mut crops = s.alloc_zeros::<f32>(faces * 3 * size * size)?;
        let mut coverage = s.alloc_zeros::<f32>(faces * size * size)?;
        let mut launch = s.launch_builder(&self.render_warp_back);
        launch
            .arg(&back)
            .arg(&b.image)
            .arg(&b.mask)
            .arg(&transforms)
            .arg(&mut crops)
            .arg(&mut coverage);
        // SAFETY: argument types and order match `render_warp_back`; the renders are `n` frames
        // of `frame`², the transforms 6 floats per face (checked by `target.check`), the crops
        // and coverage `n` of `size`² (allocated above).
        unsafe { launch.launch(grid(size, size, faces)) }?;
        Ok((crops, coverage))
    }

    /// Renders every face of `b` on the device: the three kernels, one after the other on this
    /// stream.
    pub fn launch_render(&self, b: &mut DeviceBatch) -> Result<(), KernelError> {
        let p = b.params;
        if p.n == 0 || p.vertices == 0 {
            return Ok(());
        }
        self.stream.memset_zeros(&mut b.zbuf)?;
        let mut launch = self.stream.launch_builder(&self.render_vertices);
        launch
            .arg(&p)
            .arg(&b.vertices)
            .arg(&b.normals)
            .arg(&b.albedo)
            .arg(&b.poses)
            .arg(&mut b.screen)
            .arg(&mut b.colours);
        let linear = |count: i32| LaunchConfig {
            grid_dim: ((count as u32).div_ceil(128), p.n as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `render_vertices`; the buffers were sized from
        // the same params in `upload_render_batch`.
        unsafe { launch.launch(linear(p.vertices)) }?;
        if p.triangles > 0 {
            let mut launch = self.stream.launch_builder(&self.raster_depth);
            launch
                .arg(&p)
                .arg(&b.screen)
                .arg(&b.triangles)
                .arg(&mut b.zbuf);
            // SAFETY: as above, for `raster_depth`.
            unsafe { launch.launch(linear(p.triangles)) }?;
        }
        let mut launch = self.stream.launch_builder(&self.raster_resolve);
        launch
            .arg(&p)
            .arg(&b.screen)
            .arg(&b.triangles)
            .arg(&b.colours)
            .arg(&b.zbuf)
            .arg(&mut b.triangle)
            .arg(&mut b.barycentric)
            .arg(&mut b.depth)
            .arg(&mut b.image)
            .arg(&mut b.mask);
        let size = p.size as usize;
        // SAFETY: as above, for `raster_resolve`.
        unsafe { launch.launch(grid(size, size, p.n as usize)) }?;
        Ok(())
    }

    /// Host-memory convenience: upload, render, download.
    pub fn render_batch(&self, batch: &PreparedBatch) -> Result<BatchRender, KernelError> {
        let mut d = self.upload_render_batch(batch)?;
        self.launch_render(&mut d)?;
        let pixels = batch.faces * batch.camera.size * batch.camera.size;
        let mut out = BatchRender {
            faces: batch.faces,
            size: batch.camera.size,
            triangle: vec![0; pixels],
            barycentric: vec![0.0; 3 * pixels],
            depth: vec![0.0; pixels],
            image: vec![0.0; 3 * pixels],
            mask: vec![0.0; pixels],
        };
        if pixels > 0 {
            let s = &self.stream;
            s.memcpy_dtoh(&d.triangle.slice(..pixels), &mut out.triangle)?;
            s.memcpy_dtoh(&d.barycentric.slice(..3 * pixels), &mut out.barycentric)?;
            s.memcpy_dtoh(&d.depth.slice(..pixels), &mut out.depth)?;
            s.memcpy_dtoh(&d.image.slice(..3 * pixels), &mut out.image)?;
            s.memcpy_dtoh(&d.mask.slice(..pixels), &mut out.mask)?;
        }
        self.stream.synchronize()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        build_emulator, bytes_to_floats, floats_to_bytes, gpu_or_skip, run_emulator, struct_bytes,
    };
    use super::*;
    use crate::render::batch::{FaceInput, render_batch};
    use crate::render::fixtures::uv_sphere;
    use crate::render::{Camera, FacePose, NO_TRIANGLE};

    /// Four faces of one mesh: a UV sphere (its far half hidden by the near one: the z-buffer),
    /// with every triangle submitted twice (exact depth ties: the first copy must win), seen
    /// frontally, turned, moved half out of the frame, and pushed behind the camera (nothing
    /// drawn). Colours from a per-vertex albedo and non-trivial SH light.
    struct Scene {
        vertices: Vec<Vec<[f32; 3]>>,
        albedo: Vec<[f32; 3]>,
        triangles: Vec<[u32; 3]>,
        poses: Vec<([f32; 3], [f32; 3])>,
        gamma: Vec<f32>,
        camera: Camera,
    }

    impl Scene {
        fn new(size: usize) -> Self {
            let (sphere, mut triangles) = uv_sphere(0.8, 24, 32);
            let copies = triangles.clone();
            triangles.extend(copies);
            let albedo = (0..sphere.len())
                .map(|i| [0.3 + (i % 7) as f32 * 0.1, 0.5, 0.9 - (i % 5) as f32 * 0.1])
                .collect();
            // Each face its own shape: the sphere squashed differently.
            let vertices = (0..4)
                .map(|f| {
                    sphere
                        .iter()
                        .map(|p| [p[0] * (1.0 + 0.1 * f as f32), p[1], p[2] * 0.9])
                        .collect()
                })
                .collect();
            Self {
                vertices,
                albedo,
                triangles,
                poses: vec![
                    ([0.0; 3], [0.0; 3]),
                    ([0.3, -0.5, 0.2], [0.1, -0.05, 0.5]),
                    ([0.0, 0.2, 0.0], [0.9, 0.4, 0.0]),
                    ([0.0; 3], [0.0, 0.0, 12.0]),
                ],
                gamma: (0..27)
                    .map(|i| ((i * 7) % 11) as f32 * 0.05 - 0.2)
                    .collect(),
                camera: Camera::scaled(size),
            }
        }

        fn faces(&self) -> Vec<FaceInput<'_>> {
            self.vertices
                .iter()
                .zip(&self.poses)
                .map(|(v, &(angles, translation))| FaceInput {
                    vertices: v,
                    albedo: &self.albedo,
                    pose: FacePose {
                        angles,
                        translation,
                        gamma: &self.gamma,
                    },
                })
                .collect()
        }
    }

    /// Masks and visible triangles exactly; barycentrics, depth and colours within `tol`.
    fn assert_matches(what: &str, got: &BatchRender, want: &BatchRender, tol: f32) {
        assert_eq!(got.mask, want.mask, "{what}: coverage differs");
        assert_eq!(
            got.triangle, want.triangle,
            "{what}: visible triangle differs"
        );
        for (name, g, w) in [
            ("barycentric", &got.barycentric, &want.barycentric),
            ("depth", &got.depth, &want.depth),
            ("image", &got.image, &want.image),
        ] {
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= tol, "{what}: {name} differs by {worst}");
        }
    }

    #[test]
    fn the_render_kernels_emulated_on_the_cpu_match_the_reference() {
        let dir = std::env::temp_dir().join(format!("sgpn-render-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let scene = Scene::new(96);
        let faces = scene.faces();
        let want = render_batch(&faces, &scene.triangles, &scene.camera).unwrap();
        // The scene tests what it claims: faces covered, the hidden face empty, ties present.
        let per_face = 96 * 96;
        let covered: Vec<usize> = want
            .mask
            .chunks(per_face)
            .map(|m| m.iter().filter(|&&v| v > 0.0).count())
            .collect();
        assert!(
            covered[0] > 1000 && covered[2] > 300 && covered[3] == 0,
            "{covered:?}"
        );
        let half = scene.triangles.len() as u32 / 2;
        assert!(
            want.triangle.iter().all(|&t| t == NO_TRIANGLE || t < half),
            "a copy won a tie"
        );

        let batch = PreparedBatch::new(&faces, &scene.triangles, &scene.camera).unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
        write(
            "params.bin",
            &struct_bytes(&RenderParams::new(&batch).unwrap()),
        );
        write("vertices.bin", &floats_to_bytes(&batch.vertices));
        write("normals.bin", &floats_to_bytes(&batch.normals));
        write("albedo.bin", &floats_to_bytes(&batch.albedo));
        write("poses.bin", &floats_to_bytes(&batch.poses));
        let tri_bytes: Vec<u8> = batch
            .triangles
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect();
        write("triangles.bin", &tri_bytes);
        // `render_warp_back` into 60-px crops through a scale-and-shift per face.
        let transforms: Vec<crate::affine::Affine2> = (0..4)
            .map(|f| crate::affine::Affine2::scale_translate(1.4, 3.3 + f as f32, 2.6))
            .collect();
        let back = WarpBackParams {
            n: 4,
            frame: 96,
            size: 60,
        };
        write("back_params.bin", &struct_bytes(&back));
        write(
            "transforms.bin",
            &floats_to_bytes(&flat_transforms(&transforms)),
        );
        run_emulator(&exe, "render", &dir);
        let read = |name: &str| bytes_to_floats(&std::fs::read(dir.join(name)).unwrap());
        let got = BatchRender {
            faces: batch.faces,
            size: 96,
            triangle: std::fs::read(dir.join("triangle.bin"))
                .unwrap()
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            barycentric: read("barycentric.bin"),
            depth: read("depth.bin"),
            image: read("image.bin"),
            mask: read("mask.bin"),
        };
        assert_matches("emulated render kernels", &got, &want, 1e-4);
        // `render_to_crops` on the emulated render equals the reference's mapping of it.
        let plane = 96 * 96;
        let mut want_crops = vec![0.0; 4 * 3 * plane];
        for ((image, mask), out) in got
            .image
            .chunks_exact(3 * plane)
            .zip(got.mask.chunks_exact(plane))
            .zip(want_crops.chunks_exact_mut(3 * plane))
        {
            crate::render::to_generator_input(image, mask, out);
        }
        assert_eq!(read("crops.bin"), want_crops, "emulated render_to_crops");
        assert!(want_crops.iter().any(|&v| v > -1.0) && want_crops.contains(&-1.0));
        let (mut want_back, mut want_coverage) = (vec![0.0; 4 * 3 * 3600], vec![0.0; 4 * 3600]);
        for (f, t) in transforms.iter().enumerate() {
            crate::render::warp_back(
                &got.image[3 * f * plane..3 * (f + 1) * plane],
                &got.mask[f * plane..(f + 1) * plane],
                96,
                t,
                60,
                &mut want_back[3 * f * 3600..3 * (f + 1) * 3600],
                &mut want_coverage[f * 3600..(f + 1) * 3600],
            );
        }
        assert_eq!(
            read("back_crops.bin"),
            want_back,
            "emulated render_warp_back"
        );
        assert_eq!(
            read("back_coverage.bin"),
            want_coverage,
            "emulated coverage warped back"
        );
        let partly = want_coverage
            .iter()
            .filter(|&&m| m > 0.0 && m < 1.0)
            .count();
        assert!(partly > 20, "the warp straddles coverage edges: {partly}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_render_kernels_on_a_gpu_match_the_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        for size in [96, 512] {
            let scene = Scene::new(size);
            let faces = scene.faces();
            let want = render_batch(&faces, &scene.triangles, &scene.camera).unwrap();
            let batch = PreparedBatch::new(&faces, &scene.triangles, &scene.camera).unwrap();
            let got = gpu.render_batch(&batch).unwrap();
            assert_matches(&format!("GPU render at {size} px"), &got, &want, 1e-4);
        }
    }

    /// The whole coefficient → `I_3d` chain on the device (morph, normals, render, then
    /// `render_to_crops` at 96 px, `render_warp_back` from the 512 frame into 300-px crops)
    /// against the reference `render::render_crops`: coverage exact in the crop, within 1e-5
    /// warped back; the generator's input within 2e-4 (the render's 1e-4, doubled by `2·c − 1`).
    #[test]
    fn renders_from_coefficients_on_a_gpu_match_the_reference() {
        use crate::backend::FaceKernels;
        use crate::render::morphable::tests::{SphereFaces, SphereModel};
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let (model, faces) = (SphereModel::new(), SphereFaces::new());
        let parts = model.parts();
        let loaded = gpu.load_morphable(&parts).unwrap();
        for size in [96, 512] {
            let camera = Camera::scaled(size);
            let shifted = [
                crate::affine::Affine2::scale_translate(1.3, -4.2, 2.7),
                crate::affine::Affine2::scale_translate(0.8, 3.1, -1.4),
                crate::affine::Affine2::scale_translate(1.0, 0.5, 0.25),
            ];
            let target = if size == 512 {
                RenderTarget::Frame {
                    crop_to_frame: &shifted,
                    size: 300,
                }
            } else {
                RenderTarget::Crop
            };
            let (want_crops, want_mask) =
                crate::render::render_crops(&parts, &faces.batch(), &camera, target).unwrap();
            let (crops, mask) = gpu
                .render_crops(&parts, &loaded, &faces.batch(), &camera, target)
                .unwrap();
            let mut got_mask = vec![0.0; want_mask.len()];
            gpu.download(&mask, &mut got_mask).unwrap();
            let worst_mask = got_mask
                .iter()
                .zip(&want_mask)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst_mask <= 1e-5,
                "coverage at {size} px differs by {worst_mask}"
            );
            if size == 96 {
                assert_eq!(got_mask, want_mask, "coverage in the crop at {size} px");
            }
            let mut got = vec![0.0; want_crops.len()];
            gpu.download(&crops, &mut got).unwrap();
            let worst = got
                .iter()
                .zip(&want_crops)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 2e-4, "render crops at {size} px differ by {worst}");
        }
    }
}
