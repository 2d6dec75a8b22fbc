// CUDA twin of `warp::warp_face_crop` (kernels/src/warp.rs): one thread per crop pixel of one
// face; a batch of N crops [N, 3, S, S] in [-1, 1] out of one interleaved RGB source (0..255).
// Same sampling as the CPU reference: bilinear, taps outside the source read the border colour,
// k×k footprint supersampling when a crop pixel spans more than 1.5 source pixels.

struct WarpParams {
    int src_w;            // source image width in pixels
    int src_h;            // source image height in pixels
    int size;             // crop side S in pixels
    int count;            // number of crops N (one transform each)
    int max_supersample;  // cap on samples per axis (MAX_SUPERSAMPLE)
    float border_r;       // colour of samples outside the source, 0..255
    float border_g;
    float border_b;
};

__device__ __forceinline__ void warp_tap(const WarpParams p, const float* src, int x, int y,
                                         float* rgb) {
    if (x >= 0 && y >= 0 && x < p.src_w && y < p.src_h) {
        const float* s = src + ((long long)y * p.src_w + x) * 3;
        rgb[0] = s[0];
        rgb[1] = s[1];
        rgb[2] = s[2];
    } else {
        rgb[0] = p.border_r;
        rgb[1] = p.border_g;
        rgb[2] = p.border_b;
    }
}

// Bilinear sample at (sx, sy), adding `weight` times it to acc.
__device__ __forceinline__ void warp_sample(const WarpParams p, const float* src, float sx,
                                            float sy, float weight, float* acc) {
    // Beyond [-2, size + 1] every tap is border (same clamp as the CPU reference).
    sx = fminf(fmaxf(sx, -2.0f), (float)p.src_w + 1.0f);
    sy = fminf(fmaxf(sy, -2.0f), (float)p.src_h + 1.0f);
    float x0f = floorf(sx), y0f = floorf(sy);
    float fx = sx - x0f, fy = sy - y0f;
    int x0 = (int)x0f, y0 = (int)y0f;
    float a[3], b[3], c[3], d[3];
    warp_tap(p, src, x0, y0, a);
    warp_tap(p, src, x0 + 1, y0, b);
    warp_tap(p, src, x0, y0 + 1, c);
    warp_tap(p, src, x0 + 1, y0 + 1, d);
    for (int ch = 0; ch < 3; ++ch) {
        float top = a[ch] + fx * (b[ch] - a[ch]);
        float bot = c[ch] + fx * (d[ch] - c[ch]);
        acc[ch] += weight * (top + fy * (bot - top));
    }
}

// grid: (ceil(S / block.x), ceil(S / block.y), N); transforms: N × 6 floats (crop → source,
// row-major 2×3); out: N × 3 × S × S.
extern "C" __global__ void warp_face_crops(const WarpParams p, const float* src,
                                           const float* transforms, float* out) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int n = blockIdx.z;
    if (x >= p.size || y >= p.size || n >= p.count) return;

    const float* m = transforms + n * 6;
    // Samples per axis: ceil(scale) when scale > 1.5, as `warp::supersampling`.
    float scale = sqrtf(fabsf(m[0] * m[4] - m[1] * m[3]));
    int k = 1;
    if (scale > 1.5f) k = min((int)ceilf(scale), p.max_supersample);

    // Same expression order as the CPU: the row origin, then the column step.
    float sx0 = m[0] * 0.0f + m[1] * (float)y + m[2];
    float sy0 = m[3] * 0.0f + m[4] * (float)y + m[5];
    float sx = sx0 + m[0] * (float)x;
    float sy = sy0 + m[3] * (float)x;

    float acc[3] = {0.0f, 0.0f, 0.0f};
    if (k == 1) {
        warp_sample(p, src, sx, sy, 1.0f, acc);
    } else {
        float inv_n = 1.0f / (float)(k * k);
        for (int i = 0; i < k * k; ++i) {
            float ox = ((float)(i % k) + 0.5f) / (float)k - 0.5f;
            float oy = ((float)(i / k) + 0.5f) / (float)k - 0.5f;
            float dx = m[0] * ox + m[1] * oy;
            float dy = m[3] * ox + m[4] * oy;
            warp_sample(p, src, sx + dx, sy + dy, 1.0f, acc);
        }
        for (int ch = 0; ch < 3; ++ch) acc[ch] *= inv_n;
    }
    long long plane = (long long)p.size * p.size;
    float* o = out + (long long)n * 3 * plane + (long long)y * p.size + x;
    for (int ch = 0; ch < 3; ++ch) o[ch * plane] = acc[ch] * (1.0f / 127.5f) - 1.0f;
}

// One planar crop of a batch ([3, S, S] in [-1, 1], at float `offset`) as an interleaved RGB
// region of S×S pixels in 0..255, (v + 1)·127.5, so that the crop can be warped again (the
// shape regressor's input is cut out of the generator's crop). One thread per pixel; the CPU
// twin is `CpuKernels::crop_to_region`.
extern "C" __global__ void crop_to_region(const float* crops, float* region, const int size,
                                          const long long offset) {
    long long plane = (long long)size * size;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= plane) return;
    for (int c = 0; c < 3; ++c) region[3 * i + c] = (crops[offset + c * plane + i] + 1.0f) * 127.5f;
}
