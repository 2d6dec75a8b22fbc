//! Launching the morphable model's combination (`kernels/cuda/morph.cu`) for a batch of faces;
//! CPU reference `morph::add_combination`.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{CudaKernels, to_i32};
use crate::error::{KernelError, check_len};

/// Scalars of `morph_combine` (kernels/cuda/morph.cu `MorphParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MorphParams {
    pub n: i32,
    pub rows: i32,
    pub k1: i32,
    pub k2: i32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (four ints).
unsafe impl DeviceRepr for MorphParams {}

impl MorphParams {
    pub fn new(faces: usize, rows: usize, k1: usize, k2: usize) -> Result<Self, KernelError> {
        Ok(Self {
            n: to_i32("faces", faces)?,
            rows: to_i32("rows", rows)?,
            k1: to_i32("components", k1)?,
            k2: to_i32("components", k2)?,
        })
    }
}

/// A linear model on the device: its mean `[R]` and up to two bases `[R, K]` (the second may
/// have no components).
pub struct DeviceMorph<'a> {
    pub mean: &'a CudaSlice<f32>,
    pub bases: [(&'a CudaSlice<f32>, usize); 2],
}

impl CudaKernels {
    /// `out[f] = mean + B1·c1[f] + B2·c2[f]` for every face f (`coeffs` `[N, K1]` and
    /// `[N, K2]`; `out` `[N, R]`).
    pub fn launch_morph(
        &self,
        model: &DeviceMorph<'_>,
        coeffs: [&CudaSlice<f32>; 2],
        faces: usize,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        let rows = model.mean.len();
        let [(b1, k1), (b2, k2)] = model.bases;
        // A basis without components is never read (its buffer may be a placeholder).
        if k1 > 0 {
            check_len("morph basis 1 [R, K1]", rows * k1, b1.len())?;
            check_len("morph coefficients 1 [N, K1]", faces * k1, coeffs[0].len())?;
        }
        if k2 > 0 {
            check_len("morph basis 2 [R, K2]", rows * k2, b2.len())?;
            check_len("morph coefficients 2 [N, K2]", faces * k2, coeffs[1].len())?;
        }
        check_len("morph output [N, R]", faces * rows, out.len())?;
        if faces * rows == 0 {
            return Ok(());
        }
        let params = MorphParams::new(faces, rows, k1, k2)?;
        let mut launch = self.stream.launch_builder(&self.morph_combine);
        launch
            .arg(&params)
            .arg(model.mean)
            .arg(b1)
            .arg(b2)
            .arg(coeffs[0])
            .arg(coeffs[1])
            .arg(out);
        let config = LaunchConfig {
            grid_dim: ((rows as u32).div_ceil(128), faces as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `morph_combine`; lengths checked above (an
        // empty basis is never read).
        unsafe { launch.launch(config) }?;
        Ok(())
    }

    /// Host-memory convenience: every face's `mean + B1·c1 + B2·c2`, `[N, R]`.
    pub fn morph(
        &self,
        mean: &[f32],
        bases: [(&[f32], usize); 2],
        coeffs: [&[f32]; 2],
        faces: usize,
    ) -> Result<Vec<f32>, KernelError> {
        if faces * mean.len() == 0 {
            return Ok(Vec::new());
        }
        let s = &self.stream;
        let upload = |v| self.upload_or_placeholder(v);
        let d_mean = upload(mean)?;
        let (d_b1, d_b2) = (upload(bases[0].0)?, upload(bases[1].0)?);
        let (d_c1, d_c2) = (upload(coeffs[0])?, upload(coeffs[1])?);
        let model = DeviceMorph {
            mean: &d_mean,
            bases: [(&d_b1, bases[0].1), (&d_b2, bases[1].1)],
        };
        let mut d_out = s.alloc_zeros::<f32>(faces * mean.len())?;
        self.launch_morph(&model, [&d_c1, &d_c2], faces, &mut d_out)?;
        let mut out = vec![0.0; faces * mean.len()];
        s.memcpy_dtoh(&d_out, &mut out)?;
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
    use crate::morph::add_combination;

    /// A BFM-sized row count would be slow to emulate; 3·500 rows, 80 + 64 components.
    fn model() -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let rows = 1500;
        let v = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 104729) % 2003) as f32 / 1000.0 - 1.0)
                .collect()
        };
        (
            v(rows, 1),
            v(rows * 80, 2),
            v(rows * 64, 3),
            v(3 * (80 + 64), 4),
        )
    }

    fn reference(
        mean: &[f32],
        b1: &[f32],
        b2: &[f32],
        c1: &[f32],
        c2: &[f32],
        faces: usize,
    ) -> Vec<f32> {
        let (k1, k2) = (c1.len() / faces, c2.len() / faces);
        let mut out = Vec::new();
        for f in 0..faces {
            let mut face = mean.to_vec();
            add_combination(&mut face, b1, k1, &c1[f * k1..(f + 1) * k1]);
            add_combination(&mut face, b2, k2, &c2[f * k2..(f + 1) * k2]);
            out.extend(face);
        }
        out
    }

    #[test]
    fn the_emulated_combination_matches_the_reference() {
        let dir = std::env::temp_dir().join(format!("sgpn-morph-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let (mean, b1, b2, coeffs) = model();
        let faces = 3;
        let (c1, c2): (Vec<f32>, Vec<f32>) =
            (coeffs[..faces * 80].to_vec(), coeffs[faces * 80..].to_vec());
        // Shape (identity + expression), then albedo (one basis).
        for (k2, b2, c2) in [(64, &b2[..], &c2[..]), (0, &[][..], &[][..])] {
            let want = reference(&mean, &b1, b2, &c1, c2, faces);
            let params = MorphParams::new(faces, mean.len(), 80, k2).unwrap();
            std::fs::write(dir.join("params.bin"), struct_bytes(&params)).unwrap();
            for (name, v) in [
                ("mean.bin", &mean[..]),
                ("b1.bin", &b1),
                ("b2.bin", b2),
                ("c1.bin", &c1),
                ("c2.bin", c2),
            ] {
                std::fs::write(dir.join(name), floats_to_bytes(v)).unwrap();
            }
            run_emulator(&exe, "morph", &dir);
            let got = bytes_to_floats(&std::fs::read(dir.join("out.bin")).unwrap());
            assert_eq!(got, want, "K2 = {k2}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_combination_on_a_gpu_matches_the_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let (mean, b1, b2, coeffs) = model();
        let (c1, c2) = (&coeffs[..3 * 80], &coeffs[3 * 80..]);
        let got = gpu
            .morph(&mean, [(&b1, 80), (&b2, 64)], [c1, c2], 3)
            .unwrap();
        assert_eq!(got, reference(&mean, &b1, &b2, c1, c2, 3));
    }
}
