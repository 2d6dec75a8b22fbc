//! The CUDA kernels against their CPU references on the benches' 1080p scene (4 faces of
//! ~300 px): batched warp into the generator's crops and paste-back (replace and residual),
//! each timed three ways — the CPU reference (rayon), the GPU on device-resident buffers (the
//! GPU path of docs/gpu-path.md: launch + stream sync), and the GPU through the host-memory
//! `FaceKernels` methods (upload, launch, download). Prints a table of medians, or the reason
//! it skipped. Run: `cargo bench -p sgpn-kernels --bench cuda`.

use sgpn_kernels::cuda::CudaKernels;
use sgpn_kernels::{Affine2, CpuKernels, FaceKernels, PasteParams, RgbImage};
mod scene;
mod timing;
use scene::{FACE_PX, faces, region_offset, textured_rgb};
use timing::{ITERS, median_ms};

/// Copies the pixels of `face`'s rectangle out of `frame`.
fn region_of(frame: &RgbImage, face: &scene::Face) -> RgbImage {
    let r = face.rect;
    let mut region = RgbImage::new(r.width, r.height);
    for (y, row) in region.data.chunks_exact_mut(3 * r.width).enumerate() {
        let start = ((r.y + y) * frame.width + r.x) * 3;
        row.copy_from_slice(&frame.data[start..start + 3 * r.width]);
    }
    region
}

fn main() {
    // SAFETY: only probes whether libcuda can be opened.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        println!("skipped: no CUDA driver (libcuda.so) on this machine");
        return;
    }
    let gpu = match CudaKernels::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let stream = gpu.stream().clone();
    let frame = textured_rgb();
    println!(
        "sgpn-kernels CUDA vs CPU, 1080p RGB f32 frame, 4 faces of ~{FACE_PX} px, median of {ITERS} runs, {} rayon threads",
        rayon::current_num_threads()
    );
    println!("| stage | crop | CPU reference ms | GPU resident ms | GPU with host copies ms |");
    println!("|---|---|---|---|---|");
    let d_frame = stream.clone_htod(&frame.data).unwrap();
    let (upload, _) = median_ms(|| {
        let d = stream.clone_htod(&frame.data).unwrap();
        stream.synchronize().unwrap();
        std::hint::black_box(d);
    });
    println!("| upload frame (24.9 MB) | - | - | {upload:.3} | - |");
    for size in [512usize, 256] {
        let faces = faces(size);
        let transforms: Vec<Affine2> = faces.iter().map(|f| f.crop_to_frame).collect();
        let flat: Vec<f32> = transforms
            .iter()
            .flat_map(|t| t.m.into_iter().flatten())
            .collect();
        let d_t = stream.clone_htod(&flat).unwrap();
        let mut crops = vec![0.0f32; faces.len() * 3 * size * size];
        let mut d_crops = stream.alloc_zeros::<f32>(crops.len()).unwrap();
        let (cpu, _) = median_ms(|| {
            CpuKernels
                .warp_face_crops(&frame, &transforms, size, &mut crops)
                .unwrap();
        });
        let (resident, _) = median_ms(|| {
            gpu.launch_warp(
                &d_frame,
                frame.width,
                frame.height,
                &d_t,
                size,
                &mut d_crops,
            )
            .unwrap();
            stream.synchronize().unwrap();
        });
        let mut host_out = crops.clone();
        let (host, _) = median_ms(|| {
            gpu.warp_face_crops(&frame, &transforms, size, &mut host_out)
                .unwrap();
        });
        println!("| warp_face_crops ×4 | {size} | {cpu:.3} | {resident:.3} | {host:.3} |");

        let params = PasteParams::for_crop(size, 1.0);
        let crop_len = 3 * size * size;
        for residual in [false, true] {
            let mut regions: Vec<RgbImage> = faces.iter().map(|f| region_of(&frame, f)).collect();
            let mut alphas: Vec<Vec<f32>> =
                faces.iter().map(|f| vec![0.0; f.rect.area()]).collect();
            let region_to_crop: Vec<Affine2> = faces
                .iter()
                .map(|f| {
                    f.crop_to_frame
                        .then(&region_offset(f.rect))
                        .inverse()
                        .unwrap()
                })
                .collect();
            // The host-memory path of one backend: paste each face into its region.
            let mut paste_all = |kernels: &dyn FaceKernels| {
                for (i, (region, alpha)) in regions.iter_mut().zip(&mut alphas).enumerate() {
                    let crop = &crops[i * crop_len..(i + 1) * crop_len];
                    let reference = residual.then_some(crop);
                    let to_crop = &region_to_crop[i];
                    kernels
                        .paste_back(region, alpha, crop, reference, size, to_crop, &params)
                        .unwrap();
                }
            };
            let (cpu, _) = median_ms(|| paste_all(&CpuKernels));
            let (host, _) = median_ms(|| paste_all(&gpu));
            let mut d_regions: Vec<_> = regions
                .iter()
                .map(|r| stream.clone_htod(&r.data).unwrap())
                .collect();
            let mut d_alphas: Vec<_> = alphas
                .iter()
                .map(|a| stream.clone_htod(a).unwrap())
                .collect();
            let d_faces: Vec<_> = (0..faces.len())
                .map(|i| {
                    stream
                        .clone_htod(&crops[i * crop_len..(i + 1) * crop_len])
                        .unwrap()
                })
                .collect();
            let (resident, _) = median_ms(|| {
                for (i, (d_region, d_alpha)) in d_regions.iter_mut().zip(&mut d_alphas).enumerate()
                {
                    let reference = residual.then_some(&d_faces[i]);
                    gpu.launch_paste(
                        d_region,
                        d_alpha,
                        regions[i].width,
                        regions[i].height,
                        &d_faces[i],
                        reference,
                        size,
                        &region_to_crop[i],
                        &params,
                    )
                    .unwrap();
                }
                stream.synchronize().unwrap();
            });
            let mode = if residual { " residual" } else { "" };
            println!("| paste_back{mode} ×4 | {size} | {cpu:.3} | {resident:.3} | {host:.3} |");
        }
    }
}
