// CUDA twin of `stabilise::blend_with_history` (kernels/src/stabilise.rs), the detail
// smoothing of one face's region: one thread per region pixel. Where the pixel lay in the
// previous frame's region, the pasted change is averaged with the one kept there, with the
// history's weight falling to 0 as the input's change reaches `motion_levels`; the pasted pixel
// becomes input + averaged change, clamped to 0..255.

struct StabiliseParams {
    int x, y, w, h;       // this frame's region
    int px, py, pw, ph;   // the previous frame's region
    float strength;       // the history's weight where the input holds still, 0..1
    float motion_levels;  // input change (mean over R, G, B) at which the history is dropped
};

extern "C" __global__ void stabilise_blend(const StabiliseParams p, const float* input,
                                           float* pasted, float* change, const float* prev_input,
                                           const float* prev_change) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    int fx = p.x + i, fy = p.y + r;
    if (fx < p.px || fy < p.py || fx >= p.px + p.pw || fy >= p.py + p.ph) return;
    long long k = 3LL * ((long long)(fy - p.py) * p.pw + (fx - p.px));
    long long at = 3LL * ((long long)r * p.w + i);
    float motion = 0.0f;
    for (int c = 0; c < 3; ++c) motion += fabsf(input[at + c] - prev_input[k + c]);
    motion = motion / 3.0f;
    float keep = p.strength * fmaxf(1.0f - motion / p.motion_levels, 0.0f);
    for (int c = 0; c < 3; ++c) {
        float averaged = keep * prev_change[k + c] + (1.0f - keep) * change[at + c];
        change[at + c] = averaged;
        pasted[at + c] = fminf(fmaxf(input[at + c] + averaged, 0.0f), 255.0f);
    }
}

// What a paste-back changed in a region: change = pasted − input, one thread per value (the
// CPU twin is `CpuKernels::region_change`); the detail smoothing then averages it over frames.
extern "C" __global__ void region_change(const float* pasted, const float* input, float* change,
                                         const long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) change[i] = pasted[i] - input[i];
}
