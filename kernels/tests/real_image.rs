//! One face through the kernels on a real photograph (`.deps/data/whitehouse/obama.jpg`):
//! read_region → warp_face_crop (512) → an unchanged "restoration" → paste_back →
//! write_region, for RGBx and I420. What a user checks: the frame outside the pasted area is
//! bit-identical, and inside it the face comes back without visible change (replace mode) or
//! unchanged to the level (residual mode).

use sgpn_kernels::{
    Affine2, Colorimetry, FrameRef, PasteParams, PixelFormat, Rect, RgbImage, crop_bounds,
    paste_back, read_region, warp_face_crop, write_region,
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

mod support;

use support::Owned;

/// `img` encoded as a `format` frame.
fn owned_photo(format: PixelFormat, img: &RgbImage) -> Owned {
    let (w, h) = (img.width, img.height);
    let mut f = Owned::zeroed(format, w, h);
    write_region(
        &mut f.view_mut(),
        Rect::new(0, 0, w, h),
        img,
        &vec![1.0; w * h],
    );
    f
}

/// A similarity rotated by 0.2 rad that maps a `size` crop onto a `side`-pixel square around
/// the upper centre of a `w × h` frame.
fn face_transform(w: usize, h: usize, size: usize, side: f32) -> Affine2 {
    let (sn, cs) = 0.2f32.sin_cos();
    let s = side / size as f32;
    let half = (size as f32 - 1.0) / 2.0;
    let (a, b, c, d) = (s * cs, -s * sn, s * sn, s * cs);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.5);
    Affine2 {
        m: [[a, b, cx - (a + b) * half], [c, d, cy - (c + d) * half]],
    }
}

#[test]
fn face_round_trip_on_a_photograph() {
    let Some(img) = photo() else { return };
    let (w, h) = (img.width, img.height);
    let size = 512;
    // A rotated similarity covering a ~300 px square around the image centre.
    let crop_to_frame = face_transform(w, h, size, 300.0);
    let rect = crop_bounds(&crop_to_frame, size, w, h).unwrap();
    let to_region = Affine2::scale_translate(1.0, -(rect.x as f32), -(rect.y as f32));

    for format in [PixelFormat::Rgbx, PixelFormat::I420] {
        let mut frame = owned_photo(format, &img);
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
            None,
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

/// Largest byte change over all planes, and how many bytes changed.
fn byte_delta(before: &[Vec<u8>], after: &[Vec<u8>]) -> (u8, usize) {
    let pairs = before.iter().flatten().zip(after.iter().flatten());
    pairs.fold((0, 0), |(worst, n), (&p, &q)| {
        (worst.max(p.abs_diff(q)), n + usize::from(p != q))
    })
}

/// align → warp → identity "generator" → paste → write_region, as the face pipeline does it
/// (region read from the frame, written where alpha > 0); returns the frame's planes after.
fn identity_round_trip(
    img: &RgbImage,
    format: PixelFormat,
    crop_to_frame: &Affine2,
    size: usize,
    residual: bool,
) -> (Vec<Vec<u8>>, usize) {
    let (w, h) = (img.width, img.height);
    let rect = crop_bounds(crop_to_frame, size, w, h).unwrap();
    let crop_to_region = crop_to_frame.then(&Affine2::scale_translate(
        1.0,
        -(rect.x as f32),
        -(rect.y as f32),
    ));
    let mut frame = owned_photo(format, img);
    let mut region = read_region(&frame.view(), rect);
    let mut crop = vec![0.0; 3 * size * size];
    warp_face_crop(&region, &crop_to_region, size, &mut crop).unwrap();
    // The generator returns its input unchanged: restored and reference are the same crop.
    let restored = crop.clone();
    let mut alpha = vec![0.0; rect.area()];
    paste_back(
        &mut region,
        &mut alpha,
        &restored,
        residual.then_some(&crop[..]),
        size,
        &crop_to_region.inverse().unwrap(),
        &PasteParams::for_crop(size, 1.0),
    )
    .unwrap();
    let written: Vec<f32> = alpha
        .iter()
        .map(|&a| if a > 0.0 { 1.0 } else { 0.0 })
        .collect();
    write_region(&mut frame.view_mut(), rect, &region, &written);
    let pasted = alpha.iter().filter(|&&a| a > 0.0).count();
    (frame.planes, pasted)
}

#[test]
fn residual_paste_of_an_unchanged_crop_keeps_the_photograph() {
    // The product requirement: with an identity generator a frame comes out within a level of
    // the input. Replace mode cannot meet it (double bilinear resampling moves sharp edges, and
    // a face larger than the crop comes back at the crop's resolution); residual mode must.
    let Some(img) = photo() else { return };
    let (w, h) = (img.width, img.height);
    // (crop size, face side in frame pixels): face upsampled into a 512 crop, and a close-up
    // downsampled (supersampled) into a 256 crop.
    for (size, side) in [(512, 300.0), (256, 600.0)] {
        let crop_to_frame = face_transform(w, h, size, side);
        for format in [PixelFormat::Rgbx, PixelFormat::I420] {
            let before = owned_photo(format, &img).planes;
            let (after, pasted) = identity_round_trip(&img, format, &crop_to_frame, size, true);
            let (worst, changed) = byte_delta(&before, &after);
            let (replace, _) = identity_round_trip(&img, format, &crop_to_frame, size, false);
            let (replace_worst, replace_changed) = byte_delta(&before, &replace);
            println!(
                "{format:?}, {side} px face through a {size} crop: {pasted} pixels pasted; \
                 residual max |Δ| {worst} ({changed} bytes changed), \
                 replace max |Δ| {replace_worst} ({replace_changed} bytes changed)"
            );
            assert!(
                pasted > 50_000,
                "{format:?} {size}: only {pasted} pixels pasted"
            );
            assert!(
                worst <= 1,
                "{format:?} {size}: residual paste of an unchanged crop moved a byte by {worst}"
            );
        }
    }
}
