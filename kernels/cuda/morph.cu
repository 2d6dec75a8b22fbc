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

extern "C" __global__ void morph_combine(const MorphParams p, const float* mean, const float* basis1,
                                         const float* basis2, const float* coeffs1,
                                         const float* coeffs2, float* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (r >= p.rows || face >= p.n) return;
    float v = mean[r];
    if (p.k1 > 0) {
        const float* row = basis1 + (long long)r * p.k1;
        const float* c = coeffs1 + (long long)face * p.k1;
        float s = -0.0f;
        for (int k = 0; k < p.k1; ++k) s = s + row[k] * c[k];
        v = v + s;
    }
    if (p.k2 > 0) {
        const float* row = basis2 + (long long)r * p.k2;
        const float* c = coeffs2 + (long long)face * p.k2;
        float s = -0.0f;
        for (int k = 0; k < p.k2; ++k) s = s + row[k] * c[k];
        v = v + s;
    }
    out[(long long)face * p.rows + r] = v;
}
