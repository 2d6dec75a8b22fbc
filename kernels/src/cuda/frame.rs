//! Frames on the device in their native layout, face regions converted there and restored
//! regions blended back (`kernels/cuda/frame.cu`, twins of `frame::read_region` and
//! `frame::write_region`) for every format, 8, 10 and 16 bits.

use cudarc::driver::{CudaSlice, DeviceRepr, PushKernelArg};

use super::{CudaKernels, grid, rect_to_i32, to_i32};
use crate::error::KernelError;
use crate::frame::{FrameMut, FrameRef, PixelFormat, Samples, Yuv};
use crate::image::Rect;

/// Scalars of the frame kernels (kernels/cuda/frame.cu `FrameParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FrameParams {
    pub kind: i32,
    pub rgb: [i32; 3],
    pub pixel_samples: i32,
    pub stride: [i32; 3],
    pub offset: [i32; 3],
    pub rect: [i32; 4],
    pub sample_bytes: i32,
    pub code_shift: i32,
    pub chroma_rows: i32,
    pub yuv: [f32; 6],
    pub scale: f32,
    pub max_code: f32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (18 ints, then 8 floats).
unsafe impl DeviceRepr for FrameParams {}

/// `FrameParams::kind` of the v210 layout, whose write-back threads own 6-pixel groups.
const KIND_V210: i32 = 3;

impl FrameParams {
    /// The layout of `frame` (planes packed one after the other) and the region `rect`.
    pub fn new(frame: &FrameRef, rect: Rect) -> Result<Self, KernelError> {
        let format = frame.format;
        let kind = match format {
            PixelFormat::V210 => KIND_V210,
            _ if format.packed_layout().is_some() => 0,
            _ if format.interleaved_chroma() => 2,
            _ => 1,
        };
        let (rgb, spp) = format.packed_layout().unwrap_or(([0, 0, 0], 0));
        let samples = Samples::of(format);
        let mut stride = [0; 3];
        let mut offset = [0; 3];
        let mut at = 0usize;
        for (p, plane) in frame.planes.iter().enumerate() {
            stride[p] = to_i32("plane stride", frame.strides[p])?;
            offset[p] = to_i32("plane offset", at)?;
            at += plane.len();
        }
        Ok(Self {
            kind,
            rgb: rgb.map(|c| c as i32),
            pixel_samples: spp as i32,
            stride,
            offset,
            rect: rect_to_i32(rect)?,
            sample_bytes: samples.bytes as i32,
            code_shift: samples.shift as i32,
            chroma_rows: format.chroma_rows() as i32,
            yuv: Yuv::coefficients(frame.colorimetry),
            scale: samples.scale,
            max_code: samples.max_code,
        })
    }

    /// Threads (x, y) of `frame_write_chroma`: one per chroma block the region touches, one per
    /// v210 group of 3 blocks.
    pub fn chroma_threads(&self) -> (usize, usize) {
        let [x, y, w, h] = self.rect.map(|v| v as usize);
        let (per, vsub) = (
            if self.kind == KIND_V210 { 3 } else { 1 },
            self.chroma_rows as usize,
        );
        let first = x / 2 / per * per;
        (
            (x + w).div_ceil(2).saturating_sub(first).div_ceil(per),
            (y + h).div_ceil(vsub) - y / vsub,
        )
    }

    /// Threads (x, y) of `frame_store_luma`: one per pixel, one per v210 group of 6.
    pub fn store_threads(&self) -> (usize, usize) {
        let [x, _, w, h] = self.rect.map(|v| v as usize);
        let per = if self.kind == KIND_V210 { 6 } else { 1 };
        ((x + w).saturating_sub(x / per * per).div_ceil(per), h)
    }
}

/// One frame's planes on the device, one after the other.
pub struct DeviceFrame {
    pub bytes: CudaSlice<u8>,
}

/// A frame kept on the device while its faces are read and written back
/// (`FaceKernels::begin_frame` to `end_frame`): uploaded once, downloaded once if written.
pub(crate) struct ResidentFrame {
    device: DeviceFrame,
    layout: (PixelFormat, usize, usize, Vec<usize>, Vec<usize>),
    written: bool,
}

impl ResidentFrame {
    pub(crate) fn new(gpu: &CudaKernels, frame: &FrameRef) -> Result<Self, KernelError> {
        Ok(Self {
            device: gpu.upload_frame(frame)?,
            layout: Self::layout_of(frame),
            written: false,
        })
    }

    fn layout_of(frame: &FrameRef) -> (PixelFormat, usize, usize, Vec<usize>, Vec<usize>) {
        let lens = frame.planes.iter().map(|p| p.len()).collect();
        (
            frame.format,
            frame.width,
            frame.height,
            frame.strides.clone(),
            lens,
        )
    }

    /// Whether this is a copy of a frame laid out as `frame`.
    pub(crate) fn holds(&self, frame: &FrameRef) -> bool {
        self.layout == Self::layout_of(frame)
    }

    /// Region `rect` as interleaved RGB floats on the device.
    pub(crate) fn read_region(
        &self,
        gpu: &CudaKernels,
        frame: &FrameRef,
        rect: Rect,
    ) -> Result<CudaSlice<f32>, KernelError> {
        if rect.area() == 0 {
            return Ok(gpu.stream.null()?);
        }
        let mut d_out = gpu.stream.alloc_zeros::<f32>(3 * rect.area())?;
        gpu.launch_read_region(frame, &self.device, rect, &mut d_out)?;
        Ok(d_out)
    }

    /// Blends device region `rgb` into `rect` under `alpha`.
    pub(crate) fn write_region(
        &mut self,
        gpu: &CudaKernels,
        frame: &FrameRef,
        rect: Rect,
        rgb: &CudaSlice<f32>,
        alpha: &CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        if rect.area() == 0 {
            return Ok(());
        }
        let s = &gpu.stream;
        let (mut luma, mut written) = (
            s.alloc_zeros::<f32>(rect.area())?,
            s.alloc_zeros::<u8>(rect.area())?,
        );
        gpu.launch_write_region(
            frame,
            &mut self.device,
            rect,
            rgb,
            alpha,
            &mut luma,
            &mut written,
        )?;
        self.written = true;
        Ok(())
    }

    /// Downloads the planes into `frame` if a region was written.
    pub(crate) fn store(self, gpu: &CudaKernels, frame: &mut FrameMut) -> Result<(), KernelError> {
        if !self.written {
            return Ok(());
        }
        let mut host = vec![0u8; self.device.bytes.len()];
        gpu.stream.memcpy_dtoh(&self.device.bytes, &mut host)?;
        gpu.stream.synchronize()?;
        let mut at = 0;
        for plane in frame.planes.iter_mut() {
            let n = plane.len();
            plane.copy_from_slice(&host[at..at + n]);
            at += n;
        }
        Ok(())
    }
}

impl CudaKernels {
    /// Uploads the frame's planes as they are (no conversion: 1.5 bytes per pixel for I420 and
    /// NV12, 3 for I420_10LE and P010).
    pub fn upload_frame(&self, frame: &FrameRef) -> Result<DeviceFrame, KernelError> {
        frame
            .validate()
            .map_err(|e| KernelError::Cuda(format!("frame upload: {e}")))?;
        let mut host = Vec::with_capacity(frame.planes.iter().map(|p| p.len()).sum());
        for plane in &frame.planes {
            host.extend_from_slice(plane);
        }
        Ok(DeviceFrame {
            bytes: self.stream.clone_htod(&host)?,
        })
    }

    /// Converts region `rect` of an uploaded frame (described by `frame`) into `out`,
    /// interleaved RGB floats `[h, w, 3]`, as `frame::read_region` does.
    pub fn launch_read_region(
        &self,
        frame: &FrameRef,
        device: &DeviceFrame,
        rect: Rect,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        if !rect.fits_in(frame.width, frame.height) {
            return Err(KernelError::Cuda(format!(
                "region {rect:?} lies outside the {}x{} frame",
                frame.width, frame.height
            )));
        }
        crate::error::check_len(
            "frame_read_region output [h, w, 3]",
            3 * rect.area(),
            out.len(),
        )?;
        if rect.area() == 0 {
            return Ok(());
        }
        let params = FrameParams::new(frame, rect)?;
        let mut launch = self.stream.launch_builder(&self.frame_read_region);
        launch.arg(&params).arg(&device.bytes).arg(out);
        // SAFETY: argument types and order match `frame_read_region`; the region lies inside the
        // frame whose planes `device` holds, and `out` has 3 floats per region pixel.
        unsafe { launch.launch(grid(rect.width, rect.height, 1)) }?;
        Ok(())
    }

    /// Blends `rgb` (interleaved `[h, w, 3]`, 0..255) into region `rect` of an uploaded frame
    /// under `alpha` (`[h, w]`), as `frame::write_region` does; `luma` (`[h, w]` floats) and
    /// `written` (`[h, w]` bytes) are scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn launch_write_region(
        &self,
        frame: &FrameRef,
        device: &mut DeviceFrame,
        rect: Rect,
        rgb: &CudaSlice<f32>,
        alpha: &CudaSlice<f32>,
        luma: &mut CudaSlice<f32>,
        written: &mut CudaSlice<u8>,
    ) -> Result<(), KernelError> {
        if !rect.fits_in(frame.width, frame.height) {
            return Err(KernelError::Cuda(format!(
                "region {rect:?} lies outside the {}x{} frame",
                frame.width, frame.height
            )));
        }
        let area = rect.area();
        crate::error::check_len("frame_write rgb [h, w, 3]", 3 * area, rgb.len())?;
        crate::error::check_len("frame_write alpha [h, w]", area, alpha.len())?;
        crate::error::check_len("frame_write luma scratch", area, luma.len())?;
        crate::error::check_len("frame_write flags scratch", area, written.len())?;
        if area == 0 {
            return Ok(());
        }
        let p = FrameParams::new(frame, rect)?;
        let pixels = grid(rect.width, rect.height, 1);
        if p.kind == 0 {
            let mut launch = self.stream.launch_builder(&self.frame_write_packed);
            launch.arg(&p).arg(&mut device.bytes).arg(rgb).arg(alpha);
            // SAFETY: argument types and order match `frame_write_packed`; the region lies in
            // the frame `device` holds; lengths checked above.
            unsafe { launch.launch(pixels) }?;
            return Ok(());
        }
        let mut launch = self.stream.launch_builder(&self.frame_write_luma);
        launch
            .arg(&p)
            .arg(&device.bytes)
            .arg(rgb)
            .arg(alpha)
            .arg(&mut *luma)
            .arg(&mut *written);
        // SAFETY: as above, for `frame_write_luma`.
        unsafe { launch.launch(pixels) }?;
        let (frame_w, frame_h) = (
            to_i32("frame width", frame.width)?,
            to_i32("frame height", frame.height)?,
        );
        let (blocks_x, blocks_y) = p.chroma_threads();
        let mut launch = self.stream.launch_builder(&self.frame_write_chroma);
        launch
            .arg(&p)
            .arg(&mut device.bytes)
            .arg(rgb)
            .arg(alpha)
            .arg(&frame_w)
            .arg(&frame_h);
        // SAFETY: as above, for `frame_write_chroma`; one thread per chroma block the region
        // touches (per v210 group of three).
        unsafe { launch.launch(grid(blocks_x, blocks_y, 1)) }?;
        let (store_x, store_y) = p.store_threads();
        let mut launch = self.stream.launch_builder(&self.frame_store_luma);
        launch
            .arg(&p)
            .arg(&mut device.bytes)
            .arg(&*luma)
            .arg(&*written);
        // SAFETY: as above, for `frame_store_luma`; one thread per pixel (per v210 group of 6).
        unsafe { launch.launch(grid(store_x, store_y, 1)) }?;
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
    use crate::frame::tests::{DEEP_FORMATS, FORMATS, colorimetries};
    use crate::frame::{read_region, write_region};
    use crate::image::RgbImage;

    /// Planes of pseudo-random bytes for an odd-sized frame, rows padded by 3 bytes.
    fn planes(format: PixelFormat, w: usize, h: usize) -> (Vec<Vec<u8>>, Vec<usize>) {
        let mut state = 0x2545_f491_u32;
        (0..format.plane_count())
            .map(|p| {
                let (row, rows) = format.plane_extent(p, w, h);
                let bytes = (0..(row + 3) * rows)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        (state >> 24) as u8
                    })
                    .collect();
                (bytes, row + 3)
            })
            .unzip()
    }

    /// Every format (8, 10 and 16 bits) in every colorimetry on a `w × h` frame of
    /// pseudo-random planes (deep samples with codes beyond their bits too); the check gets the
    /// frame and its planes one after the other, as uploaded.
    fn each_frame(w: usize, h: usize, mut check: impl FnMut(&FrameRef, &[u8])) {
        for format in FORMATS.into_iter().chain(DEEP_FORMATS) {
            for colorimetry in colorimetries() {
                let (planes, strides) = planes(format, w, h);
                let views = planes.iter().map(|p| &p[..]).collect();
                let frame = FrameRef::new(format, w, h, views, strides, colorimetry).unwrap();
                check(&frame, &planes.concat());
            }
        }
    }

    #[test]
    fn frame_regions_converted_by_the_emulated_kernel_match_read_region() {
        let dir = std::env::temp_dir().join(format!("sgpn-frame-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let rect = Rect::new(3, 5, 21, 17);
        each_frame(37, 29, |frame, bytes| {
            let params = FrameParams::new(frame, rect).unwrap();
            std::fs::write(dir.join("params.bin"), struct_bytes(&params)).unwrap();
            std::fs::write(dir.join("frame.bin"), bytes).unwrap();
            run_emulator(&exe, "frame", &dir);
            let got = bytes_to_floats(&std::fs::read(dir.join("out.bin")).unwrap());
            let what = format!("{:?} {:?}", frame.format, frame.colorimetry);
            assert_eq!(got, read_region(frame, rect).data, "{what}");
        });
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Restored colours (some beyond 0..255) and alphas (0, partial, 1, above 1, NaN) for a
    /// region.
    fn paste(rect: Rect) -> (RgbImage, Vec<f32>) {
        let mut rgb = RgbImage::new(rect.width, rect.height);
        for (i, v) in rgb.data.iter_mut().enumerate() {
            *v = ((i * 7919) % 311) as f32 - 20.0;
        }
        let alpha = (0..rect.area())
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => 1.0,
                2 => 1.5,
                3 if i % 5 == 0 => f32::NAN,
                k => k as f32 / 7.0,
            })
            .collect();
        (rgb, alpha)
    }

    /// `bytes` (the frame's planes one after the other) split into owned planes.
    fn owned_planes(frame: &FrameRef, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut at = 0;
        frame
            .planes
            .iter()
            .map(|p| {
                at += p.len();
                bytes[at - p.len()..at].to_vec()
            })
            .collect()
    }

    /// The planes after `write` blended `rgb` under `alpha` into a copy of the frame.
    fn written_by(frame: &FrameRef, bytes: &[u8], write: impl FnOnce(&mut FrameMut)) -> Vec<u8> {
        let mut planes = owned_planes(frame, bytes);
        let views = planes.iter_mut().map(|p| &mut p[..]).collect();
        let (w, h, strides) = (frame.width, frame.height, frame.strides.clone());
        let mut target =
            FrameMut::new(frame.format, w, h, views, strides, frame.colorimetry).unwrap();
        write(&mut target);
        planes.concat()
    }

    #[test]
    fn regions_written_back_by_the_emulated_kernels_match_write_region() {
        let dir = std::env::temp_dir().join(format!("sgpn-frame-write-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        // An odd origin: the region only partly covers its first and last chroma blocks.
        let rect = Rect::new(3, 5, 21, 17);
        let (rgb, alpha) = paste(rect);
        each_frame(37, 29, |frame, bytes| {
            let want = written_by(frame, bytes, |f| write_region(f, rect, &rgb, &alpha));
            assert_ne!(want, bytes, "the paste changes the frame");
            let params = FrameParams::new(frame, rect).unwrap();
            std::fs::write(dir.join("params.bin"), struct_bytes(&params)).unwrap();
            // The frame's size, then the thread counts of the chroma pass and the luma store.
            let ((cx, cy), (sx, sy)) = (params.chroma_threads(), params.store_threads());
            let size: Vec<u8> = [37, 29, cx, cy, sx, sy]
                .iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect();
            std::fs::write(dir.join("size.bin"), size).unwrap();
            std::fs::write(dir.join("frame.bin"), bytes).unwrap();
            std::fs::write(dir.join("rgb.bin"), floats_to_bytes(&rgb.data)).unwrap();
            std::fs::write(dir.join("alpha.bin"), floats_to_bytes(&alpha)).unwrap();
            run_emulator(&exe, "frame-write", &dir);
            let got = std::fs::read(dir.join("frame.bin")).unwrap();
            assert!(
                got == want,
                "{:?} {:?}: the written planes differ",
                frame.format,
                frame.colorimetry
            );
        });
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn frame_regions_converted_on_a_gpu_match_read_region() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let rect = Rect::new(640, 301, 511, 611);
        each_frame(1921, 1081, |frame, _| {
            let region = gpu.read_region(frame, rect).unwrap();
            let mut got = vec![0.0; 3 * rect.area()];
            gpu.download(&region, &mut got).unwrap();
            let what = format!("{:?} {:?}", frame.format, frame.colorimetry);
            assert_eq!(got, read_region(frame, rect).data, "{what}");
        });
    }

    #[test]
    fn regions_written_back_on_a_gpu_match_write_region() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let rect = Rect::new(641, 301, 511, 611);
        let (rgb, alpha) = paste(rect);
        each_frame(1921, 1081, |frame, bytes| {
            let want = written_by(frame, bytes, |f| write_region(f, rect, &rgb, &alpha));
            let (d_rgb, d_alpha) = (gpu.upload(&rgb.data).unwrap(), gpu.upload(&alpha).unwrap());
            let got = written_by(frame, bytes, |f| {
                gpu.write_region(f, rect, &d_rgb, &d_alpha).unwrap()
            });
            assert!(got == want, "{:?} {:?}", frame.format, frame.colorimetry);
        });
    }
}
