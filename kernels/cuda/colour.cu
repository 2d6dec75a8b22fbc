// CUDA twin of `colour::match_coarse_colour` (kernels/src/colour.rs), the colour fix, for a
// batch of restored crops (planar [N,3,S,S] in [-1, 1]) and the crops the generator was given.
// 1. colour_cell_means, one thread per (cell, channel, face): the mean of restored − lq over
//    the cell, summed in the reference's order (row by row, left to right), so it is the same
//    float.
// 2. colour_apply, one thread per (pixel, face): the means interpolated bilinearly between cell
//    centres (the outer half cells extrapolate), subtracted, clamped to [-1, 1].

struct ColourParams {
    int n;       // faces
    int size;    // S
    int cells;   // cells per side: min(8, S)
    float cell;  // S / cells
};

__device__ __forceinline__ int colour_cell_of(int v, const ColourParams& p) {
    return min((int)((float)v / p.cell), p.cells - 1);
}

extern "C" __global__ void colour_cell_means(const ColourParams p, const float* lq,
                                             const float* restored, float* means) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    int c = blockIdx.y;
    int face = blockIdx.z;
    if (k >= p.cells * p.cells || c >= 3 || face >= p.n) return;
    int cy = k / p.cells, cx = k % p.cells;
    long long plane = (long long)p.size * p.size;
    const float* r = restored + (3LL * face + c) * plane;
    const float* l = lq + (3LL * face + c) * plane;
    float sum = 0.0f;
    int rows = 0, cols = 0;
    for (int x = 0; x < p.size; ++x) cols += colour_cell_of(x, p) == cx;
    for (int y = 0; y < p.size; ++y) {
        if (colour_cell_of(y, p) != cy) continue;
        ++rows;
        for (int x = 0; x < p.size; ++x)
            if (colour_cell_of(x, p) == cx) sum += r[(long long)y * p.size + x] - l[(long long)y * p.size + x];
    }
    means[((long long)face * 3 + c) * p.cells * p.cells + k] = sum / ((float)rows * (float)cols);
}

extern "C" __global__ void colour_apply(const ColourParams p, const float* means, float* restored) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int face = blockIdx.z;
    if (x >= p.size || y >= p.size || face >= p.n) return;
    int n = p.cells;
    int top_limit = max(n - 2, 0);
    float fy = ((float)y + 0.5f) / p.cell - 0.5f;
    int y0 = min((int)fmaxf(fy, 0.0f), top_limit);
    float ty = fy - (float)y0;
    float fx = ((float)x + 0.5f) / p.cell - 0.5f;
    int x0 = min((int)fmaxf(fx, 0.0f), top_limit);
    float tx = fx - (float)x0;
    int y1 = min(y0 + 1, n - 1), x1 = min(x0 + 1, n - 1);
    long long plane = (long long)p.size * p.size;
    for (int c = 0; c < 3; ++c) {
        const float* m = means + ((long long)face * 3 + c) * n * n;
        float left = m[y0 * n + x0] * (1.0f - ty) + m[y1 * n + x0] * ty;
        float right = m[y0 * n + x1] * (1.0f - ty) + m[y1 * n + x1] * ty;
        float coarse = left * (1.0f - tx) + right * tx;
        float* v = restored + (3LL * face + c) * plane + (long long)y * p.size + x;
        *v = fminf(fmaxf(*v - coarse, -1.0f), 1.0f);
    }
}
