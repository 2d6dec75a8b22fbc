//! Support shared by the integration tests and the bench (`benches/kernels.rs` includes this
//! file by path): a frame that owns its planes. The unit tests in `src/frame/tests.rs` keep
//! their own, with padded rows and a colorimetry field, since they cannot name this crate.

use sgpn_kernels::{Colorimetry, FrameMut, FrameRef, PixelFormat};

/// A frame that owns its planes (tight strides), viewed with the default colorimetry.
pub struct Owned {
    pub format: PixelFormat,
    pub w: usize,
    pub h: usize,
    pub planes: Vec<Vec<u8>>,
    pub strides: Vec<usize>,
}

impl Owned {
    /// A `w × h` frame of `format` with every byte 0.
    pub fn zeroed(format: PixelFormat, w: usize, h: usize) -> Self {
        let mut f = Owned {
            format,
            w,
            h,
            planes: Vec::new(),
            strides: Vec::new(),
        };
        for p in 0..format.plane_count() {
            let (row, rows) = format.plane_extent(p, w, h);
            f.planes.push(vec![0; row * rows]);
            f.strides.push(row);
        }
        f
    }

    pub fn view(&self) -> FrameRef<'_> {
        let planes = self.planes.iter().map(|p| &p[..]).collect();
        FrameRef::new(
            self.format,
            self.w,
            self.h,
            planes,
            self.strides.clone(),
            Colorimetry::default(),
        )
        .unwrap()
    }

    pub fn view_mut(&mut self) -> FrameMut<'_> {
        let planes = self.planes.iter_mut().map(|p| &mut p[..]).collect();
        FrameMut::new(
            self.format,
            self.w,
            self.h,
            planes,
            self.strides.clone(),
            Colorimetry::default(),
        )
        .unwrap()
    }
}
