//! The 3D morphable model's linear combination, the CPU reference (CUDA twin:
//! `kernels/cuda/morph.cu`): a face's shape `S̄ + B_id·α + B_exp·β` and albedo `T̄ + B_t·δ`
//! (paper Sec. 3.1; `sgpn_models::morphable` holds the model and calls this).

/// Adds `basis · coefficients` to `out` row by row: `basis` is row-major `[out.len(),
/// components]`; each row's products are summed in order, then added. The caller has checked
/// the lengths.
pub fn add_combination(out: &mut [f32], basis: &[f32], components: usize, coefficients: &[f32]) {
    if components == 0 {
        return;
    }
    for (value, row) in out.iter_mut().zip(basis.chunks_exact(components)) {
        *value += row
            .iter()
            .zip(coefficients)
            .map(|(b, c)| b * c)
            .sum::<f32>();
    }
}
