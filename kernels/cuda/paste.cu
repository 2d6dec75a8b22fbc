// CUDA twin of `paste::paste_back` (kernels/src/paste.rs): one thread per region pixel.
// Maps the pixel into the crop, computes the rounded-square smoothstep mask, samples the
// restored crop ([3, S, S] in [-1, 1]) bilinearly and blends it into the interleaved RGB region
// (0..255); alpha keeps the largest weight pasted so far. With a `reference` crop (the
// generator's input) it adds the restoration's change instead (residual mode), clamped to
// 0..255.

struct PasteParams {
    int width;      // region width in pixels
    int height;     // region height in pixels
    int size;       // crop side S in pixels
    float m00;      // region → crop transform, row-major 2×3
    float m01;
    float m02;
    float m10;
    float m11;
    float m12;
    float blend;    // weight of the restored face where the mask is full, 0..1
    float erode;    // crop pixels at the crop edge never pasted
    float feather;  // width in crop pixels of the smooth ramp
};

__device__ __forceinline__ float paste_mask(float cx, float cy, int size, float erode,
                                            float feather) {
    float half = (float)size * 0.5f;
    float centre = half - 0.5f;
    float radius = fminf(erode + feather, half);
    float qx = fabsf(cx - centre) - (half - radius);
    float qy = fabsf(cy - centre) - (half - radius);
    // Euclidean only in the corner zones, as the CPU reference.
    float outside = (qx > 0.0f && qy > 0.0f) ? sqrtf(qx * qx + qy * qy) : fmaxf(qx, qy);
    float inward = radius - outside;
    if (feather <= 0.0f) return inward > erode ? 1.0f : 0.0f;
    float t = fminf(fmaxf((inward - erode) / feather, 0.0f), 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

// Bilinear sample of one channel plane (S × S) at clamped crop coordinates; same expression
// and order as `sample_crop` in paste.rs, so equal crops give exactly equal samples.
__device__ __forceinline__ float sample_plane(const float* r, int size, int x0, int y0, int x1,
                                              int y1, float fx, float fy) {
    float t = r[y0 * size + x0] + fx * (r[y0 * size + x1] - r[y0 * size + x0]);
    float b = r[y1 * size + x0] + fx * (r[y1 * size + x1] - r[y1 * size + x0]);
    return t + fy * (b - t);
}

// grid: (ceil(width / block.x), ceil(height / block.y)); region: width × height × 3;
// alpha: width × height; restored: 3 × S × S; reference: 3 × S × S, or null to replace.
extern "C" __global__ void paste_back(const PasteParams p, float* region, float* alpha,
                                      const float* restored, const float* reference) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= p.width || y >= p.height) return;

    float cx = p.m00 * (float)x + p.m01 * (float)y + p.m02;
    float cy = p.m10 * (float)x + p.m11 * (float)y + p.m12;
    // Within `erode` of the crop edge (or outside it) the mask is 0.
    float e = fminf(p.erode, (float)p.size * 0.5f);
    float lo = -0.5f + e, hi = (float)p.size - 0.5f - e;
    if (!(cx > lo && cx < hi && cy > lo && cy < hi)) return;

    float a = p.blend * paste_mask(cx, cy, p.size, p.erode, p.feather);
    if (!(a > 0.0f)) return;

    float maxc = (float)(p.size - 1);
    float sx = fminf(fmaxf(cx, 0.0f), maxc), sy = fminf(fmaxf(cy, 0.0f), maxc);
    int x0 = (int)sx, y0 = (int)sy;
    float fx = sx - (float)x0, fy = sy - (float)y0;
    int x1 = min(x0 + 1, p.size - 1), y1 = min(y0 + 1, p.size - 1);
    long long plane = (long long)p.size * p.size;
    float* px = region + ((long long)y * p.width + x) * 3;
    for (int ch = 0; ch < 3; ++ch) {
        float r = sample_plane(restored + ch * plane, p.size, x0, y0, x1, y1, fx, fy);
        if (reference == nullptr) {
            px[ch] += a * ((r + 1.0f) * 127.5f - px[ch]);
        } else {
            float l = sample_plane(reference + ch * plane, p.size, x0, y0, x1, y1, fx, fy);
            px[ch] = fminf(fmaxf(px[ch] + a * ((r - l) * 127.5f), 0.0f), 255.0f);
        }
    }
    long long i = (long long)y * p.width + x;
    alpha[i] = fmaxf(alpha[i], a);
}

// The pixels a paste-back reached: covered = 1 where alpha > 0, else 0, one thread per pixel
// (the CPU twin is `CpuKernels::coverage`). The write-back then replaces exactly those pixels by
// the already blended region and leaves every other pixel of the frame bit-identical.
extern "C" __global__ void paste_coverage(const float* alpha, float* covered, const long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) covered[i] = alpha[i] > 0.0f ? 1.0f : 0.0f;
}
