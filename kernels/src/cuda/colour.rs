//! Launching the colour fix (`kernels/cuda/colour.cu`) on a batch of crops; CPU reference
//! `colour::match_coarse_colour`.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{CudaKernels, grid, to_i32};
use crate::colour::CELLS_PER_SIDE;
use crate::error::{KernelError, check_len};

/// Scalars of the colour kernels (kernels/cuda/colour.cu `ColourParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ColourParams {
    pub n: i32,
    pub size: i32,
    pub cells: i32,
    pub cell: f32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (three ints, one float).
unsafe impl DeviceRepr for ColourParams {}

impl ColourParams {
    pub fn new(faces: usize, size: usize) -> Result<Self, KernelError> {
        let cells = CELLS_PER_SIDE.min(size).max(1);
        Ok(Self {
            n: to_i32("faces", faces)?,
            size: to_i32("crop size", size)?,
            cells: cells as i32,
            cell: size as f32 / cells as f32,
        })
    }
}

impl CudaKernels {
    /// The colour fix of `faces` restored crops in place (`restored` and `lq` planar
    /// `[N,3,S,S]`); `means` is scratch of `N·3·cells²` floats.
    pub fn launch_colour_fix(
        &self,
        lq: &CudaSlice<f32>,
        restored: &mut CudaSlice<f32>,
        means: &mut CudaSlice<f32>,
        faces: usize,
        size: usize,
    ) -> Result<(), KernelError> {
        let p = ColourParams::new(faces, size)?;
        let len = faces * 3 * size * size;
        check_len("colour fix lq [N,3,S,S]", len, lq.len())?;
        check_len("colour fix restored [N,3,S,S]", len, restored.len())?;
        let cells = (p.cells * p.cells) as usize;
        check_len("colour fix cell means", faces * 3 * cells, means.len())?;
        if len == 0 {
            return Ok(());
        }
        let mut launch = self.stream.launch_builder(&self.colour_cell_means);
        launch.arg(&p).arg(lq).arg(&*restored).arg(&mut *means);
        let config = LaunchConfig {
            grid_dim: (1, 3, faces as u32),
            block_dim: (cells as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `colour_cell_means`; lengths checked above.
        unsafe { launch.launch(config) }?;
        let mut launch = self.stream.launch_builder(&self.colour_apply);
        launch.arg(&p).arg(&*means).arg(restored);
        // SAFETY: as above, for `colour_apply`.
        unsafe { launch.launch(grid(size, size, faces)) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        build_emulator, bytes_to_floats, floats_to_bytes, gpu_or_skip, run_emulator, struct_bytes,
    };
    use super::*;
    use crate::backend::FaceKernels;
    use crate::colour::match_coarse_colour;

    /// Two faces of restored crops with a tint, a ramp and fine detail over their LQ crops.
    fn crops(size: usize) -> (Vec<f32>, Vec<f32>) {
        let plane = size * size;
        let lq: Vec<f32> = (0..2 * 3 * plane)
            .map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect();
        let restored = lq
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (face, c, y) = (i / (3 * plane), (i / plane) % 3, (i % plane) / size);
                let detail = if i % 2 == 0 { 0.05 } else { -0.05 };
                v + 0.04 * (c as f32 - 1.0) + 0.001 * y as f32 * (face as f32 + 1.0) + detail
            })
            .collect();
        (lq, restored)
    }

    fn reference(lq: &[f32], restored: &[f32], size: usize) -> Vec<f32> {
        let mut want = restored.to_vec();
        let n = 3 * size * size;
        for (r, l) in want.chunks_exact_mut(n).zip(lq.chunks_exact(n)) {
            match_coarse_colour(l, r, size);
        }
        want
    }

    #[test]
    fn the_emulated_colour_fix_matches_the_reference() {
        let dir = std::env::temp_dir().join(format!("sgpn-colour-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        // 8 cells of 32 px; 8 cells of 12.5 px (uneven counts); fewer pixels than cells.
        for size in [256, 100, 5] {
            let (lq, restored) = crops(size);
            let want = reference(&lq, &restored, size);
            std::fs::write(
                dir.join("params.bin"),
                struct_bytes(&ColourParams::new(2, size).unwrap()),
            )
            .unwrap();
            std::fs::write(dir.join("lq.bin"), floats_to_bytes(&lq)).unwrap();
            std::fs::write(dir.join("restored.bin"), floats_to_bytes(&restored)).unwrap();
            run_emulator(&exe, "colour", &dir);
            let got = bytes_to_floats(&std::fs::read(dir.join("restored.bin")).unwrap());
            assert_eq!(got, want, "size {size}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_colour_fix_on_a_gpu_matches_the_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        for size in [512, 100] {
            let (lq, mut restored) = crops(size);
            let want = reference(&lq, &restored, size);
            let d_lq = gpu.upload(&lq).unwrap();
            let mut d_restored = gpu.upload(&restored).unwrap();
            gpu.colour_fix(&d_lq, &mut d_restored, size).unwrap();
            gpu.download(&d_restored, &mut restored).unwrap();
            assert_eq!(restored, want, "size {size}");
        }
    }
}
