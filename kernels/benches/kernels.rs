//! Per-frame cost of the kernels around the network on a 1080p frame with 4 faces:
//! detector copy, read_region + warp (crop 512 and 256), paste_back + write_region, for RGBx
//! and I420. Prints a table of medians. Run: `cargo bench -p sgpn-kernels --bench kernels`.

use sgpn_kernels::{
    PasteParams, PixelFormat, Rect, RgbImage, paste_back, read_region, resize_to_rgb,
    warp_face_crop, write_region,
};
mod scene;
mod timing;
use scene::{FACE_PX, H, W, faces, region_offset};
use timing::{ITERS, median_ms};

#[path = "../tests/support/mod.rs"]
mod support;

use support::Owned;

/// A 1080p frame of `format` with a deterministic texture, so that nothing is constant.
fn textured_frame(format: PixelFormat) -> Owned {
    let mut frame = Owned::zeroed(format, W, H);
    for (plane, &row) in frame.planes.iter_mut().zip(&frame.strides) {
        for (i, v) in plane.iter_mut().enumerate() {
            *v = ((i * 31 + i / row * 7) % 200 + 20) as u8;
        }
    }
    frame
}

fn main() {
    println!(
        "sgpn-kernels, 1080p frame, 4 faces of ~{FACE_PX} px, median of {ITERS} runs, {} rayon threads",
        rayon::current_num_threads()
    );
    println!("| format | stage | crop | wall ms / frame | CPU ms / frame |");
    println!("|---|---|---|---|---|");
    for format in [PixelFormat::Rgbx, PixelFormat::I420] {
        let mut frame = textured_frame(format);
        let (t, c) = median_ms(|| {
            std::hint::black_box(resize_to_rgb(&frame.view(), 640, 360));
        });
        println!("| {format:?} | resize_to_rgb → 640×360 | - | {t:.2} | {c:.2} |");
        let rects: Vec<Rect> = faces(512).iter().map(|f| f.rect).collect();
        let (t, c) = median_ms(|| {
            for &rect in &rects {
                std::hint::black_box(read_region(&frame.view(), rect));
            }
        });
        println!("| {format:?} | read_region ×4 | - | {t:.2} | {c:.2} |");
        let mut regions: Vec<RgbImage> = rects
            .iter()
            .map(|&r| read_region(&frame.view(), r))
            .collect();
        for size in [512usize, 256] {
            let faces = faces(size);
            let mut crops = vec![0.0f32; 4 * 3 * size * size];
            let (t, c) = median_ms(|| {
                let crops = crops.chunks_exact_mut(3 * size * size);
                for ((face, crop), region) in faces.iter().zip(crops).zip(&regions) {
                    let crop_to_region = face.crop_to_frame.then(&region_offset(face.rect));
                    warp_face_crop(region, &crop_to_region, size, crop).unwrap();
                }
            });
            println!("| {format:?} | warp_face_crop ×4 | {size} | {t:.2} | {c:.2} |");
            // The pipeline keeps each face's region from the warp step and pastes into it.
            let params = PasteParams::for_crop(size, 1.0);
            let mut alphas: Vec<Vec<f32>> =
                faces.iter().map(|f| vec![0.0; f.rect.area()]).collect();
            // Replace mode, then residual mode, which samples a second crop (the generator's
            // input) per pixel.
            for residual in [false, true] {
                let (t, c) = median_ms(|| {
                    let crops = crops.chunks_exact(3 * size * size);
                    for (((face, crop), region), alpha) in
                        faces.iter().zip(crops).zip(&mut regions).zip(&mut alphas)
                    {
                        alpha.fill(0.0);
                        let region_to_crop = face
                            .crop_to_frame
                            .then(&region_offset(face.rect))
                            .inverse()
                            .unwrap();
                        let reference = residual.then_some(crop);
                        paste_back(
                            region,
                            alpha,
                            crop,
                            reference,
                            size,
                            &region_to_crop,
                            &params,
                        )
                        .unwrap();
                    }
                });
                let mode = if residual { " residual" } else { "" };
                println!("| {format:?} | paste_back{mode} ×4 | {size} | {t:.2} | {c:.2} |");
            }
            let (t, c) = median_ms(|| {
                for ((face, region), alpha) in faces.iter().zip(&regions).zip(&alphas) {
                    write_region(&mut frame.view_mut(), face.rect, region, alpha);
                }
            });
            println!("| {format:?} | write_region ×4 | {size} | {t:.2} | {c:.2} |");
        }
    }
}
