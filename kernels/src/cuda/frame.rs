//! Frames on the device in their native layout, and face regions converted there
//! (`kernels/cuda/frame.cu`, twin of `frame::read_region`) for the 8-bit formats.

use cudarc::driver::{CudaSlice, DeviceRepr, PushKernelArg};

use super::{CudaKernels, grid, to_i32};
use crate::error::KernelError;
use crate::frame::{FrameRef, PixelFormat, Yuv};
use crate::image::{Rect, RgbImage};

/// Scalars of `frame_read_region` (kernels/cuda/frame.cu `FrameParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FrameParams {
    pub kind: i32,
    pub rgb: [i32; 3],
    pub pixel_bytes: i32,
    pub stride: [i32; 3],
    pub offset: [i32; 3],
    pub rect: [i32; 4],
    pub yuv: [f32; 6],
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (15 ints, then 6 floats).
unsafe impl DeviceRepr for FrameParams {}

impl FrameParams {
    /// The layout of `frame` (planes packed one after the other) and the region `rect`.
    pub fn new(frame: &FrameRef, rect: Rect) -> Result<Self, KernelError> {
        let kind = match frame.format {
            PixelFormat::I420 => 1,
            PixelFormat::Nv12 => 2,
            f if f.packed_layout().is_some() && f.sample_bytes() == 1 => 0,
            other => {
                return Err(KernelError::Cuda(format!(
                    "the GPU frame upload takes RGB, RGBx, RGBA, BGRx, BGRA, I420 and NV12, not {other:?}"
                )));
            }
        };
        let (rgb, spp) = frame.format.packed_layout().unwrap_or(([0, 0, 0], 0));
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
            pixel_bytes: spp as i32,
            stride,
            offset,
            rect: [
                to_i32("region x", rect.x)?,
                to_i32("region y", rect.y)?,
                to_i32("region width", rect.width)?,
                to_i32("region height", rect.height)?,
            ],
            yuv: Yuv::coefficients(frame.colorimetry),
        })
    }
}

/// One frame's planes on the device, one after the other.
pub struct DeviceFrame {
    pub bytes: CudaSlice<u8>,
}

impl CudaKernels {
    /// Uploads the frame's planes as they are (no conversion: 1.5 bytes per pixel for I420 and
    /// NV12).
    pub fn upload_frame(&self, frame: &FrameRef) -> Result<DeviceFrame, KernelError> {
        frame
            .validate()
            .map_err(|e| KernelError::Cuda(format!("frame upload: {e}")))?;
        // Refuses the formats the kernel does not read.
        FrameParams::new(frame, Rect::new(0, 0, 0, 0))?;
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

    /// Host-memory convenience: upload, convert, download.
    pub fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<RgbImage, KernelError> {
        let device = self.upload_frame(frame)?;
        let mut d_out = self.stream.alloc_zeros::<f32>((3 * rect.area()).max(1))?;
        self.launch_read_region(frame, &device, rect, &mut d_out)?;
        let mut out = RgbImage::new(rect.width, rect.height);
        if rect.area() > 0 {
            self.stream
                .memcpy_dtoh(&d_out.slice(..3 * rect.area()), &mut out.data)?;
        }
        self.stream.synchronize()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_emulator, bytes_to_floats, struct_bytes};
    use super::*;
    use crate::frame::read_region;
    use crate::frame::tests::colorimetries;

    const FORMATS: [PixelFormat; 7] = [
        PixelFormat::Rgb,
        PixelFormat::Rgbx,
        PixelFormat::Rgba,
        PixelFormat::Bgrx,
        PixelFormat::Bgra,
        PixelFormat::I420,
        PixelFormat::Nv12,
    ];

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

    /// Every 8-bit format in every colorimetry on a `w × h` frame of pseudo-random planes; the
    /// check gets the frame and its planes one after the other, as uploaded.
    fn each_frame(w: usize, h: usize, mut check: impl FnMut(&FrameRef, &[u8])) {
        for format in FORMATS {
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
            let out = std::process::Command::new(&exe)
                .arg("frame")
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "emulate frame: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = bytes_to_floats(&std::fs::read(dir.join("out.bin")).unwrap());
            let what = format!("{:?} {:?}", frame.format, frame.colorimetry);
            assert_eq!(got, read_region(frame, rect).data, "{what}");
        });
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn deep_formats_are_refused_by_name() {
        let format = PixelFormat::I420P10;
        let (planes, strides) = planes(format, 8, 8);
        let views = planes.iter().map(|p| &p[..]).collect();
        let frame = FrameRef::new(format, 8, 8, views, strides, colorimetries()[0]).unwrap();
        let err = FrameParams::new(&frame, Rect::new(0, 0, 8, 8))
            .unwrap_err()
            .to_string();
        assert!(err.contains("I420P10") && err.contains("NV12"), "{err}");
    }

    #[test]
    fn frame_regions_converted_on_a_gpu_match_read_region() {
        // SAFETY: only probes whether libcuda can be opened.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            println!("skipped: no CUDA driver (libcuda.so) on this machine");
            return;
        }
        let gpu = CudaKernels::new(0).unwrap_or_else(|e| panic!("{e}"));
        let rect = Rect::new(640, 301, 511, 611);
        each_frame(1921, 1081, |frame, _| {
            let got = gpu.read_region(frame, rect).unwrap();
            let what = format!("{:?} {:?}", frame.format, frame.colorimetry);
            assert_eq!(got, read_region(frame, rect), "{what}");
        });
    }
}
