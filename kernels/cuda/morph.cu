// CUDA twin of `morph::add_combination` (kernels/src/morph.rs) for a batch of faces: one thread
// per (row, face) computes `mean[r] + Σ_k B1[r,k]·c1[k] + Σ_k B2[r,k]·c2[k]`, each sum taken in
// the reference's order (from −0.0, as Rust sums floats) and added after the previous one, so
// the shape S̄ + B_id·α + B_exp·β (or the albedo, with no second basis) is the same float.

struct MorphParams {
    int n;      // faces
    int rows;   // 3·V
    int k1;     // components of the first basis (identity, or albedo)
    int k2;     // components of the second (expression; 0 for none)
};

// Σ_k row[k]·coeffs[k], from −0.0 in order.
__device__ __forceinline__ float morph_dot(const float* row, const float* coeffs, int k) {
    float s = -0.0f;
    for (int i = 0; i < k; ++i) s = s + row[i] * coeffs[i];
    return s;
}

extern "C" __global__ void morph_combine(const MorphParams p, const float* mean, const float* basis1,
                                         const float* basis2, const float* coeffs1,
                                         const float* coeffs2, float* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (r >= p.rows || face >= p.n) return;
    float v = mean[r];
    if (p.k1 > 0) v = v + morph_dot(basis1 + (long long)r * p.k1, coeffs1 + (long long)face * p.k1, p.k1);
    if (p.k2 > 0) v = v + morph_dot(basis2 + (long long)r * p.k2, coeffs2 + (long long)face * p.k2, p.k2);
    out[(long long)face * p.rows + r] = v;
}
