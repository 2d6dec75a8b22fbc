// CUDA twin of `affb::affb_fuse` (kernels/src/affb.rs), the AFFB fusion of SGPN Sec. 3.2: one
// thread per (position, output channel, face). Planar NCHW float features; the mask is the 1×1
// convolution of [F_inter, F_lq(, F_3d)] through a sigmoid, and the output is
// [F_inter, F_blend] with F_blend = F_3d + (F_lq − F_3d)·M, or F_lq·M without the shape prior.
// The logit is accumulated in the reference's order (bias, then F_inter, F_lq, F_3d channels).

struct AffbParams {
    int n;          // faces
    int channels;   // C, channels of each feature input
    int positions;  // H·W
    int has_3d;     // 1: F_3d given, weight is [C, 3C]; 0: weight is [C, 2C]
};

extern "C" __global__ void affb_fuse(const AffbParams p, const float* f_inter, const float* f_lq,
                                     const float* f_3d, const float* weight, const float* bias,
                                     float* out) {
    int pos = blockIdx.x * blockDim.x + threadIdx.x;
    int o = blockIdx.y;
    int face = blockIdx.z;
    if (pos >= p.positions || o >= p.channels || face >= p.n) return;
    const int c = p.channels, k = p.has_3d ? 3 : 2;
    const long long P = p.positions, plane = (long long)c * P;
    const float* inter = f_inter + face * plane;
    const float* lq = f_lq + face * plane;
    const float* d3 = p.has_3d ? f_3d + face * plane : nullptr;
    const float* w = weight + (long long)o * k * c;
    float logit = bias[o];
    for (int i = 0; i < c; ++i) logit += w[i] * inter[i * P + pos];
    for (int i = 0; i < c; ++i) logit += w[c + i] * lq[i * P + pos];
    if (d3)
        for (int i = 0; i < c; ++i) logit += w[2 * c + i] * d3[i * P + pos];
    float m = 1.0f / (1.0f + expf(-logit));
    float* dst = out + face * 2 * plane;
    dst[o * P + pos] = inter[o * P + pos];
    float l = lq[o * P + pos];
    dst[plane + o * P + pos] = d3 ? d3[o * P + pos] + (l - d3[o * P + pos]) * m : l * m;
}
