//! Colour fix, the CPU reference (CUDA twin: `kernels/cuda/colour.cu`): the coarse part of a
//! restored face's change (restored − the crop the generator was given) is averaged over
//! [`CELLS_PER_SIDE`]² cells, interpolated bilinearly between cell centres, and subtracted, so
//! the face keeps the input's colour and shading and gains only the generator's detail. Why:
//! `face/src/colour.rs`.

/// Cells per crop side: 8 (32-px cells at 256), coarser than features (an eye is ~40 px), finer
/// than a tint across the face.
pub const CELLS_PER_SIDE: usize = 8;

/// Removes the coarse part of `restored − lq` from `restored` (both planar `[3,S,S]` in
/// [-1, 1], `S = size`), clamped to [-1, 1].
pub fn match_coarse_colour(lq: &[f32], restored: &mut [f32], size: usize) {
    let plane = size * size;
    debug_assert_eq!(lq.len(), 3 * plane);
    debug_assert_eq!(restored.len(), 3 * plane);
    let n = CELLS_PER_SIDE.min(size);
    let cell = size as f32 / n as f32;
    // Along one axis, for every pixel: its cell, and its position between cell centres (the
    // lower centre's index and the upper one's weight). The outer half cells extrapolate the
    // nearest two centres, so a ramp is followed to the crop's edge.
    let cell_of: Vec<usize> = (0..size)
        .map(|v| ((v as f32 / cell) as usize).min(n - 1))
        .collect();
    let between: Vec<(usize, f32)> = (0..size)
        .map(|v| {
            let f = (v as f32 + 0.5) / cell - 0.5;
            let lower = (f.max(0.0) as usize).min(n.saturating_sub(2));
            (lower, f - lower as f32)
        })
        .collect();
    let upper = |i: usize| (i + 1).min(n - 1);
    let mut mean = vec![0f32; n * n];
    let mut row = vec![0f32; n];
    for c in 0..3 {
        let channel = c * plane..(c + 1) * plane;
        let (r, l) = (&mut restored[channel.clone()], &lq[channel]);
        mean.fill(0.0);
        for y in 0..size {
            let cells = &mut mean[cell_of[y] * n..(cell_of[y] + 1) * n];
            for x in 0..size {
                cells[cell_of[x]] += r[y * size + x] - l[y * size + x];
            }
        }
        // Every cell holds the same number of pixels but the last row and column's, when n
        // does not divide S: count them per axis.
        let mut count = vec![0f32; n];
        for &k in &cell_of {
            count[k] += 1.0;
        }
        for (k, m) in mean.iter_mut().enumerate() {
            *m /= count[k / n] * count[k % n];
        }
        for y in 0..size {
            let (y0, ty) = between[y];
            let (top, bottom) = (&mean[y0 * n..(y0 + 1) * n], &mean[upper(y0) * n..][..n]);
            for (v, (t, b)) in row.iter_mut().zip(top.iter().zip(bottom)) {
                *v = t * (1.0 - ty) + b * ty;
            }
            for (x, v) in r[y * size..(y + 1) * size].iter_mut().enumerate() {
                let (x0, tx) = between[x];
                let coarse = row[x0] * (1.0 - tx) + row[upper(x0)] * tx;
                *v = (*v - coarse).clamp(-1.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 64;

    fn planes(f: impl Fn(usize, usize, usize) -> f32) -> Vec<f32> {
        (0..3 * SIZE * SIZE)
            .map(|i| f(i / (SIZE * SIZE), (i / SIZE) % SIZE, i % SIZE))
            .collect()
    }

    #[test]
    fn a_tint_and_a_shading_ramp_are_removed() {
        let lq = planes(|c, y, x| ((x + y + c) % 5) as f32 * 0.02);
        let tint = [0.05f32, -0.03, 0.01];
        let mut restored =
            planes(|c, y, x| lq[(c * SIZE + y) * SIZE + x] + tint[c] + y as f32 * 0.002);
        match_coarse_colour(&lq, &mut restored, SIZE);
        let worst = restored
            .iter()
            .zip(&lq)
            .map(|(r, l)| (r - l).abs())
            .fold(0f32, f32::max);
        assert!(worst < 2e-3, "a coarse change is left: {worst}");
    }

    #[test]
    fn fine_detail_is_kept() {
        let lq = planes(|_, _, _| 0.0);
        // A 2-px checkerboard of ±0.1: its cell averages are 0.
        let detail = planes(|_, y, x| if (x + y) % 2 == 0 { 0.1 } else { -0.1 });
        let mut restored = detail.clone();
        match_coarse_colour(&lq, &mut restored, SIZE);
        assert_eq!(restored, detail);
    }
}
