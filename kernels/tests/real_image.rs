//! One face through the kernels on a real photograph (`.deps/data/whitehouse/obama.jpg`):
//! read_region → warp_face_crop (512) → an unchanged "restoration" → paste_back →
//! write_region, for RGBx and I420. What a user checks: the frame outside the pasted area is
//! bit-identical, and inside it the face comes back without visible change.

use sgpn_kernels::{
    Affine2, Colorimetry, FrameMut, FrameRef, PasteParams, PixelFormat, Rect, RgbImage,
    crop_bounds, paste_back, read_region, warp_face_crop, write_region,
};
use std::path::PathBuf;

fn photo() -> Option<RgbImage> {
    let Some(deps) = std::env::var_os("SGPN_DEPS").map(PathBuf::from) else {
        println!("skipped: SGPN_DEPS is not set (cargo sets it through .cargo/config.toml)");
        return None;
    };
    let path = deps.join("data/whitehouse/obama.jpg");
    if !path.is_file() {
        println!(
            "skipped: {} not found (run scripts/setup.sh)",
            path.display()
        );
        return None;
    }
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    Some(RgbImage::from_rgb8(img.width() as usize, img.height() as usize, img.as_raw()).unwrap())
}

/// A frame that owns its planes (tight strides).
struct Owned {
    format: PixelFormat,
    w: usize,
    h: usize,
    planes: Vec<Vec<u8>>,
    strides: Vec<usize>,
}

impl Owned {
    fn from_photo(format: PixelFormat, img: &RgbImage) -> Self {
        let (w, h) = (img.width, img.height);
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
        write_region(
            &mut f.view_mut(),
            Rect::new(0, 0, w, h),
            img,
            &vec![1.0; w * h],
        );
        f
    }

    fn view(&self) -> FrameRef<'_> {
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

    fn view_mut(&mut self) -> FrameMut<'_> {
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

#[test]
fn face_round_trip_on_a_photograph() {
    let Some(img) = photo() else { return };
    let (w, h) = (img.width, img.height);
    let size = 512;
    // A rotated similarity covering a ~300 px square around the image centre.
    let (sn, cs) = 0.2f32.sin_cos();
    let s = 300.0 / size as f32;
    let half = (size as f32 - 1.0) / 2.0;
    let (a, b, c, d) = (s * cs, -s * sn, s * sn, s * cs);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.5);
    let crop_to_frame = Affine2 {
        m: [[a, b, cx - (a + b) * half], [c, d, cy - (c + d) * half]],
    };
    let rect = crop_bounds(&crop_to_frame, size, w, h).unwrap();
    let to_region = Affine2::scale_translate(1.0, -(rect.x as f32), -(rect.y as f32));

    for format in [PixelFormat::Rgbx, PixelFormat::I420] {
        let mut frame = Owned::from_photo(format, &img);
        let before = frame.planes.clone();
        let original = read_region(&frame.view(), rect);

        let mut crop = vec![0.0; 3 * size * size];
        let crop_to_region = crop_to_frame.then(&to_region);
        warp_face_crop(&original, &crop_to_region, size, &mut crop).unwrap();
        let mut region = original.clone();
        let mut alpha = vec![0.0; rect.area()];
        let region_to_crop = crop_to_region.inverse().unwrap();
        paste_back(
            &mut region,
            &mut alpha,
            &crop,
            size,
            &region_to_crop,
            &PasteParams::for_crop(size, 1.0),
        )
        .unwrap();
        write_region(&mut frame.view_mut(), rect, &region, &alpha);

        // Pixels with alpha 0 must not move. For I420 such a pixel may share a chroma sample
        // with a pasted neighbour, but only where the feathered mask is near 0, so its chroma
        // moves by less than a rounding step.
        let after = read_region(&frame.view(), Rect::new(0, 0, w, h));
        let orig_full = read_region(
            &FrameRef::new(
                format,
                w,
                h,
                before.iter().map(|p| &p[..]).collect(),
                frame.strides.clone(),
                Colorimetry::default(),
            )
            .unwrap(),
            Rect::new(0, 0, w, h),
        );
        let mut outside_changed = 0;
        let (mut se, mut n, mut pasted) = (0.0f64, 0usize, 0usize);
        for y in 0..h {
            for x in 0..w {
                let (p, q) = (after.pixel(x, y), orig_full.pixel(x, y));
                let inside = (rect.x..rect.x + rect.width).contains(&x)
                    && (rect.y..rect.y + rect.height).contains(&y);
                let a = if inside {
                    alpha[(y - rect.y) * rect.width + (x - rect.x)]
                } else {
                    0.0
                };
                if a == 0.0 {
                    if p != q {
                        outside_changed += 1;
                    }
                } else {
                    pasted += 1;
                    for c in 0..3 {
                        se += f64::from(p[c] - q[c]).powi(2);
                        n += 1;
                    }
                }
            }
        }
        let psnr = 10.0 * (255.0f64 * 255.0 / (se / n as f64)).log10();
        println!(
            "{format:?}: {pasted} pixels pasted, PSNR {psnr:.1} dB inside, {outside_changed} changed outside"
        );
        assert!(pasted > 50_000, "{format:?}: only {pasted} pixels pasted");
        assert_eq!(
            outside_changed, 0,
            "{format:?}: pixels with alpha 0 changed"
        );
        assert!(
            psnr > 33.0,
            "{format:?}: crop + paste degraded the face to {psnr:.1} dB"
        );
    }
}
