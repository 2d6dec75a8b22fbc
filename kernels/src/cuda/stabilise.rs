//! Launching the detail smoothing (`kernels/cuda/stabilise.cu`); CPU reference
//! `stabilise::blend_with_history`.

use cudarc::driver::{CudaSlice, DeviceRepr, PushKernelArg};

use super::{CudaKernels, grid, rect_to_i32};
use crate::error::{KernelError, check_len};
use crate::image::Rect;
use crate::stabilise::MOTION_LEVELS;

/// Scalars of `stabilise_blend` (kernels/cuda/stabilise.cu `StabiliseParams`, same order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StabiliseParams {
    pub rect: [i32; 4],
    pub previous: [i32; 4],
    pub strength: f32,
    pub motion_levels: f32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (eight ints, two floats).
unsafe impl DeviceRepr for StabiliseParams {}

impl StabiliseParams {
    pub fn new(rect: Rect, previous: Rect, strength: f32) -> Result<Self, KernelError> {
        Ok(Self {
            rect: rect_to_i32(rect)?,
            previous: rect_to_i32(previous)?,
            strength: strength.clamp(0.0, 1.0),
            motion_levels: MOTION_LEVELS,
        })
    }
}

/// The device buffers of one face's region and its history, as `blend_with_history` takes them.
pub struct StabiliseBuffers<'a> {
    pub input: &'a CudaSlice<f32>,
    pub pasted: &'a mut CudaSlice<f32>,
    pub change: &'a mut CudaSlice<f32>,
    pub previous_input: &'a CudaSlice<f32>,
    pub previous_change: &'a CudaSlice<f32>,
}

impl CudaKernels {
    /// `blend_with_history` on device buffers.
    pub fn launch_stabilise(
        &self,
        rect: Rect,
        previous: Rect,
        strength: f32,
        b: StabiliseBuffers<'_>,
    ) -> Result<(), KernelError> {
        let len = 3 * rect.area();
        check_len("stabilise input", len, b.input.len())?;
        check_len("stabilise pasted", len, b.pasted.len())?;
        check_len("stabilise change", len, b.change.len())?;
        check_len(
            "stabilise previous input",
            3 * previous.area(),
            b.previous_input.len(),
        )?;
        check_len(
            "stabilise previous change",
            3 * previous.area(),
            b.previous_change.len(),
        )?;
        if len == 0 || previous.area() == 0 {
            return Ok(());
        }
        let params = StabiliseParams::new(rect, previous, strength)?;
        let mut launch = self.stream.launch_builder(&self.stabilise_blend);
        launch
            .arg(&params)
            .arg(b.input)
            .arg(b.pasted)
            .arg(b.change)
            .arg(b.previous_input)
            .arg(b.previous_change);
        // SAFETY: argument types and order match `stabilise_blend`; lengths checked above.
        unsafe { launch.launch(grid(rect.width, rect.height, 1)) }?;
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
    use crate::stabilise::{Previous, blend_with_history};

    /// A face region and its previous one, shifted so they overlap in part; inputs that hold
    /// still in places and move in others, pasted values that clamp.
    struct Case {
        rect: Rect,
        previous: Rect,
        input: Vec<f32>,
        pasted: Vec<f32>,
        change: Vec<f32>,
        previous_input: Vec<f32>,
        previous_change: Vec<f32>,
    }

    fn case() -> Case {
        let (rect, previous) = (Rect::new(10, 7, 23, 19), Rect::new(14, 3, 21, 17));
        let values = |n: usize, seed: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 104729) % 1009) as f32 / 1009.0 * scale)
                .collect()
        };
        let input = values(3 * rect.area(), 1, 255.0);
        let pasted: Vec<f32> = values(3 * rect.area(), 2, 40.0)
            .iter()
            .zip(&input)
            .map(|(d, i)| (i + d - 20.0).clamp(0.0, 255.0))
            .collect();
        let change = pasted.iter().zip(&input).map(|(p, i)| p - i).collect();
        // The previous input: the current one where the regions overlap, plus a motion that
        // grows across the region (still, slow, past the threshold).
        let mut previous_input = values(3 * previous.area(), 3, 255.0);
        for y in 0..previous.height {
            for x in 0..previous.width {
                let (fx, fy) = (previous.x + x, previous.y + y);
                if fx >= rect.x
                    && fy >= rect.y
                    && fx < rect.x + rect.width
                    && fy < rect.y + rect.height
                {
                    let i = 3 * ((fy - rect.y) * rect.width + (fx - rect.x));
                    let k = 3 * (y * previous.width + x);
                    for c in 0..3 {
                        previous_input[k + c] = input[i + c] + x as f32 * 0.9;
                    }
                }
            }
        }
        let previous_change = values(3 * previous.area(), 4, 30.0);
        Case {
            rect,
            previous,
            input,
            pasted,
            change,
            previous_input,
            previous_change,
        }
    }

    fn reference(c: &Case, strength: f32) -> (Vec<f32>, Vec<f32>) {
        let (mut pasted, mut change) = (c.pasted.clone(), c.change.clone());
        let previous = Previous {
            rect: c.previous,
            input: c.previous_input.as_slice(),
            change: c.previous_change.as_slice(),
        };
        blend_with_history(
            c.rect,
            &c.input,
            &mut pasted,
            &mut change,
            &previous,
            strength,
        );
        (pasted, change)
    }

    #[test]
    fn the_emulated_detail_smoothing_matches_the_reference() {
        let dir =
            std::env::temp_dir().join(format!("sgpn-stabilise-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let c = case();
        for strength in [0.8, 0.3, 1.0] {
            let (want_pasted, want_change) = reference(&c, strength);
            assert_ne!(want_pasted, c.pasted, "the history changes some pixels");
            let params = StabiliseParams::new(c.rect, c.previous, strength).unwrap();
            std::fs::write(dir.join("params.bin"), struct_bytes(&params)).unwrap();
            for (name, v) in [
                ("input.bin", &c.input),
                ("pasted.bin", &c.pasted),
                ("change.bin", &c.change),
                ("prev_input.bin", &c.previous_input),
                ("prev_change.bin", &c.previous_change),
            ] {
                std::fs::write(dir.join(name), floats_to_bytes(v)).unwrap();
            }
            run_emulator(&exe, "stabilise", &dir);
            let read = |name: &str| bytes_to_floats(&std::fs::read(dir.join(name)).unwrap());
            assert_eq!(
                read("pasted.bin"),
                want_pasted,
                "pasted, strength {strength}"
            );
            assert_eq!(
                read("change.bin"),
                want_change,
                "change, strength {strength}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_detail_smoothing_on_a_gpu_matches_the_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let c = case();
        let (want_pasted, want_change) = reference(&c, 0.8);
        let up = |v: &[f32]| gpu.upload(v).unwrap();
        let (input, mut d_pasted, mut d_change) = (up(&c.input), up(&c.pasted), up(&c.change));
        let (previous_input, previous_change) = (up(&c.previous_input), up(&c.previous_change));
        let previous = Previous {
            rect: c.previous,
            input: &previous_input,
            change: &previous_change,
        };
        gpu.blend_with_history(c.rect, &input, &mut d_pasted, &mut d_change, &previous, 0.8)
            .unwrap();
        let (mut pasted, mut change) = (c.pasted.clone(), c.change.clone());
        gpu.download(&d_pasted, &mut pasted).unwrap();
        gpu.download(&d_change, &mut change).unwrap();
        assert_eq!((pasted, change), (want_pasted, want_change));
    }
}
