//! The CUDA kernels against their CPU references on the benches' 1080p scene (4 faces of
//! ~300 px): batched warp into the generator's crops and paste-back (replace and residual),
//! each timed three ways through `FaceKernels` — the CPU reference (rayon), the GPU on
//! device-resident buffers (the element's GPU path: launch + stream sync), and the GPU with the
//! inputs uploaded and the outputs downloaded on every call. Then the batch face renderer and the AFFB
//! fusion on device-resident buffers at 256 and 512 px for 1, 8 and 16 faces, with the bytes
//! each moves at least (every input read once, every output written once) as a share of the
//! GPU's peak memory bandwidth. Prints tables of medians, or the reason it skipped. Run:
//! `cargo bench -p sgpn-kernels --bench cuda`.

use sgpn_kernels::cuda::CudaKernels;
use sgpn_kernels::frame::PixelFormat;
use sgpn_kernels::render::fixtures::uv_sphere;
use sgpn_kernels::render::{Camera, FaceInput, FacePose, PreparedBatch};
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

/// One face's region and alpha on some backend, with the region's width and height.
struct Region<B> {
    rgb: B,
    alpha: B,
    dims: (usize, usize),
}

/// The regions of `regions` (host) on backend `k`, alpha cleared.
fn regions_on<K: FaceKernels>(k: &K, regions: &[RgbImage]) -> Vec<Region<K::Buffer>> {
    regions
        .iter()
        .map(|r| Region {
            rgb: k.upload(&r.data).unwrap(),
            alpha: k.zeros(r.width * r.height).unwrap(),
            dims: (r.width, r.height),
        })
        .collect()
}

/// Backend `k`'s paste of crop `i` of `crops` into region `i`, for every region.
fn paste_all<K: FaceKernels>(
    k: &K,
    regions: &mut [Region<K::Buffer>],
    crops: &K::Buffer,
    residual: bool,
    size: usize,
    region_to_crop: &[Affine2],
) {
    let params = PasteParams::for_crop(size, 1.0);
    for (i, r) in regions.iter_mut().enumerate() {
        let reference = residual.then_some(crops);
        let at = (i, size);
        k.paste_back(
            &mut r.rgb,
            &mut r.alpha,
            r.dims,
            crops,
            reference,
            at,
            &region_to_crop[i],
            &params,
        )
        .unwrap();
    }
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
    let d_frame = gpu.upload(&frame.data).unwrap();
    let (upload, _) = median_ms(|| {
        let d = stream.clone_htod(&frame.data).unwrap();
        stream.synchronize().unwrap();
        std::hint::black_box(d);
    });
    println!("| upload frame (24.9 MB) | - | - | {upload:.3} | - |");
    for format in [PixelFormat::Nv12, PixelFormat::P010] {
        native_frame(&gpu, &frame, format);
    }
    for size in [512usize, 256] {
        let faces = faces(size);
        let transforms: Vec<Affine2> = faces.iter().map(|f| f.crop_to_frame).collect();
        let crop_len = 3 * size * size;
        let mut crops = vec![0.0f32; faces.len() * crop_len];
        let mut d_crops = gpu.zeros(crops.len()).unwrap();
        let (cpu, _) = median_ms(|| {
            CpuKernels
                .warp_face_crops(
                    &frame.data,
                    frame.width,
                    frame.height,
                    &transforms,
                    size,
                    &mut crops,
                    0,
                )
                .unwrap();
        });
        let (resident, _) = median_ms(|| {
            gpu.warp_face_crops(
                &d_frame,
                frame.width,
                frame.height,
                &transforms,
                size,
                &mut d_crops,
                0,
            )
            .unwrap();
            stream.synchronize().unwrap();
        });
        let mut host_out = crops.clone();
        let (host, _) = median_ms(|| {
            let d_src = gpu.upload(&frame.data).unwrap();
            let mut d_out = gpu.zeros(host_out.len()).unwrap();
            gpu.warp_face_crops(
                &d_src,
                frame.width,
                frame.height,
                &transforms,
                size,
                &mut d_out,
                0,
            )
            .unwrap();
            gpu.download(&d_out, &mut host_out).unwrap();
        });
        println!("| warp_face_crops ×4 | {size} | {cpu:.3} | {resident:.3} | {host:.3} |");

        for residual in [false, true] {
            let regions: Vec<RgbImage> = faces.iter().map(|f| region_of(&frame, f)).collect();
            let region_to_crop: Vec<Affine2> = faces
                .iter()
                .map(|f| {
                    f.crop_to_frame
                        .then(&region_offset(f.rect))
                        .inverse()
                        .unwrap()
                })
                .collect();
            let mut cpu_regions = regions_on(&CpuKernels, &regions);
            let (cpu, _) = median_ms(|| {
                paste_all(
                    &CpuKernels,
                    &mut cpu_regions,
                    &crops,
                    residual,
                    size,
                    &region_to_crop,
                )
            });
            let mut d_regions = regions_on(&gpu, &regions);
            let d_batch = gpu.upload(&crops).unwrap();
            let (resident, _) = median_ms(|| {
                paste_all(
                    &gpu,
                    &mut d_regions,
                    &d_batch,
                    residual,
                    size,
                    &region_to_crop,
                );
                stream.synchronize().unwrap();
            });
            let (host, _) = median_ms(|| {
                let mut up = regions_on(&gpu, &regions);
                let d_batch = gpu.upload(&crops).unwrap();
                paste_all(&gpu, &mut up, &d_batch, residual, size, &region_to_crop);
                for (r, host) in up.iter().zip(&regions) {
                    let mut back = host.data.clone();
                    gpu.download(&r.rgb, &mut back).unwrap();
                    let mut alpha = vec![0.0; host.width * host.height];
                    gpu.download(&r.alpha, &mut alpha).unwrap();
                }
            });
            let mode = if residual { " residual" } else { "" };
            println!("| paste_back{mode} ×4 | {size} | {cpu:.3} | {resident:.3} | {host:.3} |");
        }
    }
    render_and_affb(&gpu);
}

/// The frame as a decoder hands it over, NV12 (1.5 bytes per pixel) or its 10-bit twin P010
/// (3 bytes per pixel): uploaded once, and the 4 face regions converted to RGB on the device.
fn native_frame(gpu: &CudaKernels, rgb: &RgbImage, format: PixelFormat) {
    use sgpn_kernels::frame::{Colorimetry, FrameRef, YuvMatrix};
    let (w, h) = (rgb.width, rgb.height);
    // 8-bit codes, or P010's 10-bit codes in the high bits of little-endian words.
    let store = |levels: &mut dyn Iterator<Item = u8>| -> Vec<u8> {
        match format {
            PixelFormat::P010 => levels
                .flat_map(|v| ((u16::from(v) * 4) << 6).to_le_bytes())
                .collect(),
            _ => levels.collect(),
        }
    };
    let luma = store(
        &mut rgb
            .data
            .chunks_exact(3)
            .map(|p| p[1].clamp(0.0, 255.0) as u8),
    );
    let chroma = store(&mut std::iter::repeat_n(
        128u8,
        w.div_ceil(2) * 2 * h.div_ceil(2),
    ));
    let bytes = format.sample_bytes();
    let frame = FrameRef::new(
        format,
        w,
        h,
        vec![&luma, &chroma],
        vec![w * bytes, w.div_ceil(2) * 2 * bytes],
        Colorimetry {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        },
    )
    .unwrap();
    let stream = gpu.stream().clone();
    let (upload, _) = median_ms(|| {
        let d = gpu.upload_frame(&frame).unwrap();
        stream.synchronize().unwrap();
        std::hint::black_box(d);
    });
    let device = gpu.upload_frame(&frame).unwrap();
    let rects: Vec<_> = faces(512).iter().map(|f| f.rect).collect();
    let mut outs: Vec<_> = rects
        .iter()
        .map(|r| stream.alloc_zeros::<f32>(3 * r.area()).unwrap())
        .collect();
    let (convert, _) = median_ms(|| {
        for (r, out) in rects.iter().zip(&mut outs) {
            gpu.launch_read_region(&frame, &device, *r, out).unwrap();
        }
        stream.synchronize().unwrap();
    });
    let cpu = median_ms(|| {
        for r in &rects {
            std::hint::black_box(sgpn_kernels::frame::read_region(&frame, *r));
        }
    })
    .0;
    let mb = (luma.len() + chroma.len()) as f64 / 1e6;
    let name = format!("{format:?}").to_uppercase();
    println!("| upload {name} frame ({mb:.1} MB) | - | - | {upload:.3} | - |");
    println!("| frame_read_region {name} ×4 | - | {cpu:.3} | {convert:.3} | - |");
}

/// Peak DRAM bandwidth in bytes/s from the device's memory clock and bus width (DDR: ×2).
fn peak_bandwidth(gpu: &CudaKernels) -> Option<f64> {
    use cudarc::driver::sys::CUdevice_attribute::*;
    let ctx = gpu.stream().context();
    let clock_khz = ctx.attribute(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE).ok()? as f64;
    let bus_bits = ctx
        .attribute(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)
        .ok()? as f64;
    Some(2.0 * clock_khz * 1e3 * bus_bits / 8.0)
}

fn share(bytes: f64, ms: f64, peak: Option<f64>) -> String {
    let rate = bytes / (ms * 1e-3);
    match peak {
        Some(p) => format!("{:.0} GB/s ({:.0} %)", rate / 1e9, 100.0 * rate / p),
        None => format!("{:.0} GB/s", rate / 1e9),
    }
}

/// The batch renderer on a 3DMM-sized mesh (a UV sphere of 65,024 triangles, about BFM09's
/// 70,789) and the AFFB fusion with the official decoder's 64 channels.
fn render_and_affb(gpu: &CudaKernels) {
    let stream = gpu.stream().clone();
    let peak = peak_bandwidth(gpu);
    println!();
    match peak {
        Some(p) => println!("peak memory bandwidth {:.0} GB/s", p / 1e9),
        None => println!("peak memory bandwidth unknown"),
    }
    println!("| kernel | px | faces | GPU resident ms | bytes moved (at least) |");
    println!("|---|---|---|---|---|");
    let (sphere, triangles) = uv_sphere(0.8, 128, 256);
    let albedo = vec![[0.7f32, 0.6, 0.5]; sphere.len()];
    let gamma: Vec<f32> = (0..27).map(|i| (i % 5) as f32 * 0.05).collect();
    for size in [256usize, 512] {
        for n in [1usize, 8, 16] {
            let faces: Vec<FaceInput<'_>> = (0..n)
                .map(|f| FaceInput {
                    vertices: &sphere,
                    albedo: &albedo,
                    pose: FacePose {
                        angles: [0.0, 0.05 * f as f32, 0.0],
                        translation: [0.0; 3],
                        gamma: &gamma,
                    },
                })
                .collect();
            let batch = PreparedBatch::new(&faces, &triangles, &Camera::scaled(size)).unwrap();
            let mut d = gpu.upload_render_batch(&batch).unwrap();
            let (ms, _) = median_ms(|| {
                gpu.launch_render(&mut d).unwrap();
                stream.synchronize().unwrap();
            });
            let v = (n * sphere.len()) as f64;
            let pixels = (n * size * size) as f64;
            // Vertices: 3 inputs read, screen and colours written then read; triangles read
            // once per face; z-buffer cleared, then read; outputs 9 floats per pixel.
            let bytes =
                v * 12.0 * 7.0 + (n * triangles.len()) as f64 * 12.0 + pixels * (8.0 * 2.0 + 36.0);
            println!(
                "| render (vertices, z-buffer, resolve) | {size} | {n} | {ms:.3} | {} |",
                share(bytes, ms, peak)
            );
        }
    }
    let channels = 64usize;
    for size in [256usize, 512] {
        for n in [1usize, 8, 16] {
            let shape = sgpn_kernels::affb::AffbShape {
                n,
                channels,
                positions: size * size,
            };
            let len = n * channels * size * size;
            let d_in: Vec<_> = (0..3)
                .map(|_| stream.alloc_zeros::<f32>(len).unwrap())
                .collect();
            let d_w = stream.alloc_zeros::<f32>(channels * 3 * channels).unwrap();
            let d_b = stream.alloc_zeros::<f32>(channels).unwrap();
            let mut d_out = stream.alloc_zeros::<f32>(2 * len).unwrap();
            let (ms, _) = median_ms(|| {
                gpu.launch_affb(
                    shape,
                    &d_in[0],
                    &d_in[1],
                    Some(&d_in[2]),
                    &d_w,
                    &d_b,
                    &mut d_out,
                )
                .unwrap();
                stream.synchronize().unwrap();
            });
            let bytes = len as f64 * 4.0 * 5.0;
            println!(
                "| affb_fuse (C = {channels}, with F_3d) | {size} | {n} | {ms:.3} | {} |",
                share(bytes, ms, peak)
            );
        }
    }
}
