// CUDA twins of `frame::read_region` and `frame::write_region` (kernels/src/frame.rs) for the
// 8-bit formats: a frame is uploaded once in its native layout (all planes in one byte buffer,
// 1.5 bytes per pixel for I420 and NV12) and each face region is converted on the device to the
// RGB the crop warp reads (interleaved float, 0..255): YUV pixels take their 4:2:0 block's
// chroma and convert with the frame's matrix and range, then clamp, in the reference's order of
// operations.
//
// Writing back: the restored RGB of a region is blended into the frame in its native layout,
// `native = orig + alpha·(convert(rgb) − convert(read(orig)))`, bytes of pixels with alpha 0
// untouched. Packed RGB in one pass; YUV in three, in the reference's order: each pixel's new
// luma from the original planes (frame_write_luma), then each 4:2:0 block's chroma from the
// alpha-weighted mean change of its pixels (frame_write_chroma, reading the original luma),
// then the luma stored (frame_store_luma).

struct FrameParams {
    int kind;           // 0 packed RGB, 1 I420 (three planes), 2 NV12 (Y, interleaved UV)
    int r, g, b;        // packed: byte offsets of R, G, B within a pixel
    int pixel_bytes;    // packed: bytes per pixel
    int stride[3];      // bytes per row of each plane
    int offset[3];      // where each plane starts in the buffer
    int x, y, w, h;     // the region
    float kr, kg, kb;   // YUV → RGB (`Yuv` in frame.rs)
    float y_black, y_gain, c_gain;
};

__device__ __forceinline__ float frame_weight(float a) { return a > 0.0f ? fminf(a, 1.0f) : 0.0f; }

// Rust's `(v + 0.5) as u8`: saturating, NaN to 0.
__device__ __forceinline__ unsigned char frame_to_u8(float v) {
    float x = fminf(fmaxf(v + 0.5f, 0.0f), 255.0f);
    return (unsigned char)x;
}

__device__ __forceinline__ long long frame_luma_at(const FrameParams& p, int x, int y) {
    return p.offset[0] + (long long)y * p.stride[0] + x;
}

__device__ __forceinline__ void frame_chroma_at(const FrameParams& p, int cx, int cy, long long* u,
                                                long long* v) {
    if (p.kind == 1) {
        *u = p.offset[1] + (long long)cy * p.stride[1] + cx;
        *v = p.offset[2] + (long long)cy * p.stride[2] + cx;
    } else {
        *u = p.offset[1] + (long long)cy * p.stride[1] + 2LL * cx;
        *v = *u + 1;
    }
}

// `Yuv::rgb_of` of pixel (x, y) as the planes hold it (the colour `read_region` gives).
__device__ void frame_read_back(const FrameParams& p, const unsigned char* frame, int x, int y,
                                float* rgb) {
    long long su, sv;
    frame_chroma_at(p, x / 2, y / 2, &su, &sv);
    float l = ((float)frame[frame_luma_at(p, x, y)] - p.y_black) * p.y_gain;
    float cb = ((float)frame[su] - 128.0f) * p.c_gain;
    float cr = ((float)frame[sv] - 128.0f) * p.c_gain;
    float red = l + 2.0f * (1.0f - p.kr) * cr;
    float blue = l + 2.0f * (1.0f - p.kb) * cb;
    float green = (l - p.kr * red - p.kb * blue) / p.kg;
    rgb[0] = fminf(fmaxf(red, 0.0f), 255.0f);
    rgb[1] = fminf(fmaxf(green, 0.0f), 255.0f);
    rgb[2] = fminf(fmaxf(blue, 0.0f), 255.0f);
}

__device__ __forceinline__ float frame_luma_of(const FrameParams& p, const float* c) {
    return p.y_black + (p.kr * c[0] + p.kg * c[1] + p.kb * c[2]) / p.y_gain;
}

__device__ __forceinline__ void frame_yuv_of(const FrameParams& p, const float* c, float* yuv) {
    float l = p.kr * c[0] + p.kg * c[1] + p.kb * c[2];
    float cb = (c[2] - l) / (2.0f * (1.0f - p.kb));
    float cr = (c[0] - l) / (2.0f * (1.0f - p.kr));
    yuv[0] = p.y_black + l / p.y_gain;
    yuv[1] = 128.0f + cb / p.c_gain;
    yuv[2] = 128.0f + cr / p.c_gain;
}

extern "C" __global__ void frame_read_region(const FrameParams p, const unsigned char* frame,
                                             float* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    int x = p.x + i, y = p.y + r;
    float* d = out + 3LL * ((long long)r * p.w + i);
    if (p.kind == 0) {
        const unsigned char* px = frame + p.offset[0] + (long long)y * p.stride[0] +
                                  (long long)x * p.pixel_bytes;
        d[0] = (float)px[p.r];
        d[1] = (float)px[p.g];
        d[2] = (float)px[p.b];
        return;
    }
    frame_read_back(p, frame, x, y, d);
}

extern "C" __global__ void frame_write_packed(const FrameParams p, unsigned char* frame,
                                              const float* rgb, const float* alpha) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    long long k = (long long)r * p.w + i;
    float a = frame_weight(alpha[k]);
    if (a == 0.0f) return;
    unsigned char* px = frame + p.offset[0] + (long long)(p.y + r) * p.stride[0] +
                        (long long)(p.x + i) * p.pixel_bytes;
    const int off[3] = {p.r, p.g, p.b};
    for (int c = 0; c < 3; ++c) {
        float o = (float)px[off[c]];
        px[off[c]] = frame_to_u8(o + a * (rgb[3 * k + c] - o));
    }
}

extern "C" __global__ void frame_write_luma(const FrameParams p, const unsigned char* frame,
                                            const float* rgb, const float* alpha, float* luma,
                                            unsigned char* written) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    long long k = (long long)r * p.w + i;
    float a = frame_weight(alpha[k]);
    written[k] = a > 0.0f;
    if (!(a > 0.0f)) return;
    int x = p.x + i, y = p.y + r;
    float o = (float)frame[frame_luma_at(p, x, y)];
    float back[3];
    frame_read_back(p, frame, x, y, back);
    float change = frame_luma_of(p, rgb + 3 * k) - frame_luma_of(p, back);
    luma[k] = o + a * change;
}

extern "C" __global__ void frame_write_chroma(const FrameParams p, unsigned char* frame,
                                              const float* rgb, const float* alpha,
                                              int frame_w, int frame_h) {
    int bx = blockIdx.x * blockDim.x + threadIdx.x;
    int by = blockIdx.y * blockDim.y + threadIdx.y;
    int cx = p.x / 2 + bx, cy = p.y / 2 + by;
    int x_end = p.x + p.w, y_end = p.y + p.h;
    if (cx >= (x_end + 1) / 2 || cy >= (y_end + 1) / 2) return;
    float sa = 0.0f, su = 0.0f, sv = 0.0f;
    int block_pixels = 0;
    for (int y = 2 * cy; y < min(2 * cy + 2, frame_h); ++y)
        for (int x = 2 * cx; x < min(2 * cx + 2, frame_w); ++x) {
            ++block_pixels;
            if (x < p.x || x >= x_end || y < p.y || y >= y_end) continue;
            long long k = (long long)(y - p.y) * p.w + (x - p.x);
            float a = frame_weight(alpha[k]);
            if (a == 0.0f) continue;
            float c[3], b[3], back[3];
            frame_yuv_of(p, rgb + 3 * k, c);
            frame_read_back(p, frame, x, y, back);
            frame_yuv_of(p, back, b);
            sa += a;
            su += a * (c[1] - b[1]);
            sv += a * (c[2] - b[2]);
        }
    if (sa == 0.0f) return;
    float du = su / sa, dv = sv / sa;
    float a = sa / (float)block_pixels;
    long long site_u, site_v;
    frame_chroma_at(p, cx, cy, &site_u, &site_v);
    float o = (float)frame[site_u];
    frame[site_u] = frame_to_u8(o + a * du);
    o = (float)frame[site_v];
    frame[site_v] = frame_to_u8(o + a * dv);
}

extern "C" __global__ void frame_store_luma(const FrameParams p, unsigned char* frame,
                                            const float* luma, const unsigned char* written) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    long long k = (long long)r * p.w + i;
    if (written[k]) frame[frame_luma_at(p, p.x + i, p.y + r)] = frame_to_u8(luma[k]);
}
