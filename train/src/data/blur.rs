//! The blur kernels `k` of the paper's degradation (paper Eq. 16): isotropic Gaussian
//! blur with σ ∈ [0, 5], or one of 32 motion-blur kernels, and the 2-D convolution that applies
//! them. Borders are mirrored without repeating the edge pixel (OpenCV's default
//! `BORDER_REFLECT_101`, which `cv2.filter2D` in BasicSR/GFPGAN degradation code uses).
//!
//! The 32 motion kernels are generated here, deterministically from a fixed seed, as random-walk
//! camera trajectories rasterised with bilinear splatting (the construction of Boracchi & Foi,
//! "Modeling the performance of image restoration from motion blur", TIP 2012, simplified).

use std::sync::OnceLock;

use image::Rgb32FImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How many motion kernels the degradation chooses from (paper: 32).
pub const MOTION_KERNEL_COUNT: usize = 32;
/// Side of every motion kernel in pixels (odd, so the kernel has a centre pixel).
pub const MOTION_KERNEL_SIZE: usize = 21;
/// Seed of the motion-kernel generator: fixed so that kernel `i` is the same in every run.
const MOTION_KERNEL_SEED: u64 = 0x5347_504e_4d4f_5431;
/// Trajectory lengths (pixels, end to end at most) the generator draws from.
const MOTION_LENGTH_RANGE: (f32, f32) = (4.0, 17.0);

/// A square, odd-sized 2-D kernel, row-major, summing to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel2 {
    pub size: usize,
    pub weights: Vec<f32>,
}

/// 1-D Gaussian weights for standard deviation `sigma`, radius `ceil(3σ)`, normalised to sum 1.
/// `sigma <= 0` gives the identity `[1]`.
pub fn gaussian_kernel_1d(sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 || !sigma.is_finite() {
        return vec![1.0];
    }
    let radius = (3.0 * sigma).ceil() as i32;
    let w: Vec<f32> = (-radius..=radius)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Index into `0..n` with the border mirrored around the edge pixel (…, 2, 1 | 0, 1, 2, … n-1 |
/// n-2, …), OpenCV's `BORDER_REFLECT_101`.
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let mut i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    i as usize
}

/// Separable Gaussian blur of an RGB image (rows, then columns).
pub fn gaussian_blur(img: &Rgb32FImage, sigma: f32) -> Rgb32FImage {
    let k = gaussian_kernel_1d(sigma);
    if k.len() == 1 {
        return img.clone();
    }
    let r = (k.len() / 2) as isize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let mut tmp = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 3];
            for (j, kv) in k.iter().enumerate() {
                let sx = reflect101(x as isize + j as isize - r, w);
                let p = &src[3 * (y * w + sx)..][..3];
                for c in 0..3 {
                    acc[c] += kv * p[c];
                }
            }
            tmp[3 * (y * w + x)..][..3].copy_from_slice(&acc);
        }
    }
    let mut out = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 3];
            for (j, kv) in k.iter().enumerate() {
                let sy = reflect101(y as isize + j as isize - r, h);
                let p = &tmp[3 * (sy * w + x)..][..3];
                for c in 0..3 {
                    acc[c] += kv * p[c];
                }
            }
            out[3 * (y * w + x)..][..3].copy_from_slice(&acc);
        }
    }
    Rgb32FImage::from_raw(img.width(), img.height(), out).expect("same size")
}

/// Correlates an RGB image with a 2-D kernel (as `cv2.filter2D` does; for the point-symmetric
/// Gaussian this is the convolution, for a motion kernel it is the convolution with the kernel
/// rotated by 180°, which is just another motion kernel).
pub fn filter2d(img: &Rgb32FImage, kernel: &Kernel2) -> Rgb32FImage {
    let r = (kernel.size / 2) as isize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let mut out = vec![0.0f32; src.len()];
    // Only the non-zero taps: a motion kernel is a thin line in a mostly empty square.
    let taps: Vec<(isize, isize, f32)> = kernel
        .weights
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, v)| {
            (
                (i / kernel.size) as isize - r,
                (i % kernel.size) as isize - r,
                *v,
            )
        })
        .collect();
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 3];
            for &(dy, dx, kv) in &taps {
                let sy = reflect101(y as isize + dy, h);
                let sx = reflect101(x as isize + dx, w);
                let p = &src[3 * (sy * w + sx)..][..3];
                for c in 0..3 {
                    acc[c] += kv * p[c];
                }
            }
            out[3 * (y * w + x)..][..3].copy_from_slice(&acc);
        }
    }
    Rgb32FImage::from_raw(img.width(), img.height(), out).expect("same size")
}

/// The 32 motion-blur kernels, generated once per process from the fixed seed.
pub fn motion_kernels() -> &'static [Kernel2] {
    static KERNELS: OnceLock<Vec<Kernel2>> = OnceLock::new();
    KERNELS.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(MOTION_KERNEL_SEED);
        (0..MOTION_KERNEL_COUNT)
            .map(|_| random_walk_kernel(&mut rng))
            .collect()
    })
}

/// One motion kernel: a camera trajectory of 64 steps whose velocity turns a little at every step
/// (a smooth random walk with occasional jerks), scaled to a random length, centred, and
/// rasterised with bilinear splatting so that sub-pixel positions spread their weight.
fn random_walk_kernel(rng: &mut ChaCha8Rng) -> Kernel2 {
    const STEPS: usize = 64;
    let mut angle = rng.random_range(0.0..std::f32::consts::TAU);
    let mut pos = [0.0f32; 2];
    let mut path = Vec::with_capacity(STEPS + 1);
    path.push(pos);
    for _ in 0..STEPS {
        // Small steering noise, and with probability 0.05 a sharp jerk (camera shake).
        angle += rng.random_range(-0.25f32..0.25);
        if rng.random_bool(0.05) {
            angle += rng.random_range(-1.5f32..1.5);
        }
        pos[0] += angle.cos();
        pos[1] += angle.sin();
        path.push(pos);
    }
    // Scale so that the trajectory's larger extent equals the drawn length, then centre it.
    let (min, max) = path
        .iter()
        .fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), p| {
            (
                [lo[0].min(p[0]), lo[1].min(p[1])],
                [hi[0].max(p[0]), hi[1].max(p[1])],
            )
        });
    let extent = (max[0] - min[0]).max(max[1] - min[1]).max(1e-3);
    let length = rng.random_range(MOTION_LENGTH_RANGE.0..MOTION_LENGTH_RANGE.1);
    let scale = length / extent;
    let centre = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
    let size = MOTION_KERNEL_SIZE;
    let c = (size / 2) as f32;
    let mut weights = vec![0.0f32; size * size];
    for p in &path {
        let x = (p[0] - centre[0]) * scale + c;
        let y = (p[1] - centre[1]) * scale + c;
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
            for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                let (xi, yi) = (x0 as i32 + dx, y0 as i32 + dy);
                if (0..size as i32).contains(&xi) && (0..size as i32).contains(&yi) {
                    weights[yi as usize * size + xi as usize] += wx * wy;
                }
            }
        }
    }
    let sum: f32 = weights.iter().sum();
    weights.iter_mut().for_each(|v| *v /= sum);
    Kernel2 { size, weights }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_weights_match_hand_computation() {
        // σ = 1: radius 3, weights ∝ exp(-i²/2) for i = -3..3.
        let k = gaussian_kernel_1d(1.0);
        assert_eq!(k.len(), 7);
        let raw: Vec<f32> = (-3..=3)
            .map(|i: i32| (-(i * i) as f32 / 2.0).exp())
            .collect();
        let s: f32 = raw.iter().sum();
        for (a, b) in k.iter().zip(&raw) {
            assert!((a - b / s).abs() < 1e-7);
        }
        assert!((k[3] - 0.398_943).abs() < 2e-3); // ≈ 1/sqrt(2π) at the centre
        assert_eq!(gaussian_kernel_1d(0.0), vec![1.0]);
        assert_eq!(gaussian_kernel_1d(5.0).len(), 31);
    }

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        let idx: Vec<usize> = (-3..8).map(|i| reflect101(i, 5)).collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect101(-4, 1), 0);
    }

    #[test]
    fn blurs_preserve_a_constant_image_and_spread_an_impulse() {
        let flat = Rgb32FImage::from_pixel(16, 12, image::Rgb([50.0, 100.0, 200.0]));
        for out in [
            gaussian_blur(&flat, 2.3),
            filter2d(&flat, &motion_kernels()[5]),
        ] {
            for (a, b) in out.as_raw().iter().zip(flat.as_raw()) {
                assert!((a - b).abs() < 1e-3);
            }
        }
        let mut impulse = Rgb32FImage::new(31, 31);
        impulse.put_pixel(15, 15, image::Rgb([255.0; 3]));
        let g = gaussian_blur(&impulse, 1.0);
        let k = gaussian_kernel_1d(1.0);
        // An impulse far from the borders reproduces the outer product of the 1-D kernel.
        assert!((g.get_pixel(15, 15)[0] - 255.0 * k[3] * k[3]).abs() < 1e-3);
        assert!((g.get_pixel(16, 14)[1] - 255.0 * k[4] * k[2]).abs() < 1e-3);
        let total: f32 = g.as_raw().iter().step_by(3).sum();
        assert!((total - 255.0).abs() < 1e-2);
    }

    #[test]
    fn motion_kernels_are_normalised_distinct_and_reproducible() {
        let ks = motion_kernels();
        assert_eq!(ks.len(), MOTION_KERNEL_COUNT);
        for k in ks {
            let sum: f32 = k.weights.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
            assert!(k.weights.iter().all(|v| *v >= 0.0));
            // A line, not a point: the weight spreads over several pixels.
            assert!(k.weights.iter().filter(|v| **v > 1e-4).count() >= 4);
        }
        assert_ne!(ks[0], ks[1]);
        let mut rng = ChaCha8Rng::seed_from_u64(MOTION_KERNEL_SEED);
        assert_eq!(random_walk_kernel(&mut rng), ks[0]);
    }
}
