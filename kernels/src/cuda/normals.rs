//! Launching the vertex normals of a batch of faces (`kernels/cuda/normals.cu`): the step
//! between the 3DMM's combination on the device (`morph.cu`) and the renderer (`render.cu`);
//! CPU reference `render::vertex_normals`.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{CudaKernels, to_i32};
use crate::error::{KernelError, check_len};
use crate::render::VertexAdjacency;

/// Scalars of both normals kernels (kernels/cuda/normals.cu `NormalsParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NormalsParams {
    pub n: i32,
    pub vertices: i32,
    pub triangles: i32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (three ints).
unsafe impl DeviceRepr for NormalsParams {}

impl NormalsParams {
    pub fn new(faces: usize, vertices: usize, triangles: usize) -> Result<Self, KernelError> {
        Ok(Self {
            n: to_i32("faces", faces)?,
            vertices: to_i32("vertices per face", vertices)?,
            triangles: to_i32("triangles", triangles)?,
        })
    }
}

/// One topology on the device: its triangles `[T, 3]` and their adjacency per vertex, uploaded
/// once per 3DMM.
pub struct DeviceMesh {
    pub vertices: usize,
    pub triangle_count: usize,
    triangles: CudaSlice<u32>,
    offsets: CudaSlice<u32>,
    adjacent: CudaSlice<u32>,
}

impl DeviceMesh {
    /// The triangles `[T, 3]` on the device (one placeholder index for an empty mesh).
    pub(crate) fn triangles(&self) -> &CudaSlice<u32> {
        &self.triangles
    }
}

/// Threads per block of both passes (one thread per triangle or vertex of a face).
const THREADS: u32 = 128;

impl CudaKernels {
    /// Uploads a topology of `vertices` vertices. An index past the vertex list is refused, as
    /// [`crate::render::vertex_normals`] refuses it.
    pub fn upload_mesh(
        &self,
        triangles: &[[u32; 3]],
        vertices: usize,
    ) -> Result<DeviceMesh, KernelError> {
        let adjacency = VertexAdjacency::new(triangles, vertices).map_err(KernelError::Render)?;
        let upload = |v| self.upload_or_placeholder(v);
        let flat: Vec<u32> = triangles.iter().flatten().copied().collect();
        Ok(DeviceMesh {
            vertices,
            triangle_count: triangles.len(),
            triangles: upload(&flat)?,
            offsets: upload(&adjacency.offsets)?,
            adjacent: upload(&adjacency.triangles)?,
        })
    }

    /// Unit vertex normals `[N, V, 3]` of `faces` shaped faces `vertices` `[N, V, 3]` of `mesh`;
    /// `face_normals` `[N, T, 3]` is scratch.
    pub fn launch_vertex_normals(
        &self,
        mesh: &DeviceMesh,
        vertices: &CudaSlice<f32>,
        faces: usize,
        face_normals: &mut CudaSlice<f32>,
        normals: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        let per_face = mesh.vertices * 3;
        check_len("vertices [N, V, 3]", faces * per_face, vertices.len())?;
        check_len("normals [N, V, 3]", faces * per_face, normals.len())?;
        check_len(
            "triangle normals [N, T, 3]",
            faces * mesh.triangle_count * 3,
            face_normals.len(),
        )?;
        if faces * mesh.vertices == 0 {
            return Ok(());
        }
        let params = NormalsParams::new(faces, mesh.vertices, mesh.triangle_count)?;
        let config = |items: usize| LaunchConfig {
            grid_dim: ((items as u32).div_ceil(THREADS), faces as u32, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        if mesh.triangle_count > 0 {
            let mut launch = self.stream.launch_builder(&self.triangle_normals);
            launch
                .arg(&params)
                .arg(vertices)
                .arg(&mesh.triangles)
                .arg(&mut *face_normals);
            // SAFETY: argument types and order match `triangle_normals`; lengths checked above,
            // triangle indices checked against the vertex count by `upload_mesh`.
            unsafe { launch.launch(config(mesh.triangle_count)) }?;
        }
        let mut launch = self.stream.launch_builder(&self.vertex_normals);
        launch
            .arg(&params)
            .arg(&*face_normals)
            .arg(&mesh.offsets)
            .arg(&mesh.adjacent)
            .arg(normals);
        // SAFETY: argument types and order match `vertex_normals`; the adjacency indexes the
        // triangles of this mesh only (`VertexAdjacency::new`).
        unsafe { launch.launch(config(mesh.vertices)) }?;
        Ok(())
    }

    /// Host-memory convenience: the unit vertex normals `[N, V, 3]` of `faces` faces
    /// (`vertices` `[N, V, 3]`) of one topology.
    pub fn vertex_normals(
        &self,
        vertices: &[f32],
        faces: usize,
        triangles: &[[u32; 3]],
    ) -> Result<Vec<f32>, KernelError> {
        if faces == 0 || vertices.is_empty() {
            return Ok(Vec::new());
        }
        let per_face = vertices.len() / faces;
        check_len("vertices [N, V, 3]", faces * per_face, vertices.len())?;
        let mesh = self.upload_mesh(triangles, per_face / 3)?;
        let s = &self.stream;
        let d_vertices = s.clone_htod(vertices)?;
        let mut scratch = s.alloc_zeros::<f32>((faces * triangles.len() * 3).max(1))?;
        let mut d_normals = s.alloc_zeros::<f32>(vertices.len())?;
        self.launch_vertex_normals(&mesh, &d_vertices, faces, &mut scratch, &mut d_normals)?;
        let mut out = vec![0.0; vertices.len()];
        s.memcpy_dtoh(&d_normals, &mut out)?;
        s.synchronize()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        build_emulator, bytes_to_floats, floats_to_bytes, gpu_or_skip, run_emulator, struct_bytes,
    };
    use super::*;
    use crate::render::vertex_normals;

    /// Two faces of a bumpy grid of 17×13 vertices (triangles of both windings), one degenerate
    /// triangle (a vertex named twice), one unused vertex: the cases the reference treats
    /// specially.
    fn mesh() -> (Vec<[u32; 3]>, Vec<Vec<[f32; 3]>>) {
        let (w, h) = (17u32, 13u32);
        let mut triangles = Vec::new();
        for y in 0..h - 1 {
            for x in 0..w - 1 {
                let i = y * w + x;
                triangles.push([i, i + 1, i + w]);
                triangles.push([i + 1, i + w + 1, i + w]);
            }
        }
        triangles.push([0, 0, w + 1]);
        let vertices = (w * h + 1) as usize;
        let faces = (0..2)
            .map(|f| {
                (0..vertices)
                    .map(|i| {
                        let (x, y) = ((i as u32 % w) as f32, (i as u32 / w) as f32);
                        let z = ((x * 0.7 + f as f32).sin() * (y * 0.4).cos()) * 1.3;
                        [x * 0.25 - 2.0, y * 0.25 - 1.5, z + 5.0]
                    })
                    .collect()
            })
            .collect();
        (triangles, faces)
    }

    fn reference(triangles: &[[u32; 3]], faces: &[Vec<[f32; 3]>]) -> Vec<f32> {
        faces
            .iter()
            .flat_map(|v| vertex_normals(v, triangles).unwrap())
            .flatten()
            .collect()
    }

    #[test]
    fn the_emulated_normals_match_the_reference_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("sgpn-normals-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let (triangles, faces) = mesh();
        let vertices = faces[0].len();
        let adjacency = VertexAdjacency::new(&triangles, vertices).unwrap();
        let params = NormalsParams::new(faces.len(), vertices, triangles.len()).unwrap();
        let flat: Vec<f32> = faces.iter().flatten().flatten().copied().collect();
        let u32_bytes = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|i| i.to_le_bytes()).collect() };
        let tri_flat: Vec<u32> = triangles.iter().flatten().copied().collect();
        std::fs::write(dir.join("params.bin"), struct_bytes(&params)).unwrap();
        std::fs::write(dir.join("vertices.bin"), floats_to_bytes(&flat)).unwrap();
        std::fs::write(dir.join("triangles.bin"), u32_bytes(&tri_flat)).unwrap();
        std::fs::write(dir.join("offsets.bin"), u32_bytes(&adjacency.offsets)).unwrap();
        std::fs::write(dir.join("adjacent.bin"), u32_bytes(&adjacency.triangles)).unwrap();
        run_emulator(&exe, "normals", &dir);
        let got = bytes_to_floats(&std::fs::read(dir.join("normals.bin")).unwrap());
        let want = reference(&triangles, &faces);
        assert_eq!(got.len(), want.len());
        let differ = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differ,
            0,
            "{differ} of {} normal components differ",
            want.len()
        );
        // The unused vertex has the zero normal, as the reference gives it.
        let unused = (vertices - 1) * 3;
        assert_eq!(&got[unused..unused + 3], &[0.0, 0.0, 0.0]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_normals_on_a_gpu_match_the_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let (triangles, faces) = mesh();
        let flat: Vec<f32> = faces.iter().flatten().flatten().copied().collect();
        let got = gpu.vertex_normals(&flat, faces.len(), &triangles).unwrap();
        assert_eq!(got, reference(&triangles, &faces));
        // A triangle past the vertex list is refused before any launch.
        let bad = [[0, 1, 9_999]];
        assert!(gpu.vertex_normals(&flat, faces.len(), &bad).is_err());
    }
}
