// CUDA twins of `frame::read_region` and `frame::write_region` (kernels/src/frame.rs) for every
// format the element takes: a frame is uploaded once in its native layout (all planes in one
// byte buffer: 1.5 bytes per pixel for I420 and NV12, 3 for I420_10LE and P010, 8 for
// RGBA64, 16 bytes per 6 pixels for v210) and each face region is converted on the device to
// the RGB the crop warp reads (interleaved float, 0..255): YUV pixels take their chroma block's
// samples (2×2 pixels in 4:2:0, 2×1 in v210's 4:2:2) and convert with the frame's matrix and
// range, then clamp, in the reference's order of operations. Deep samples are read and
// written as the reference's `Samples` does: 16-bit little-endian words (P010: the code in the
// high 10 bits), or v210's 10-bit codes in little-endian 32-bit words, on the 0..255 scale
// through `scale` code units per level.
//
// Writing back: the restored RGB of a region is blended into the frame in its native layout,
// `native = orig + alpha·(convert(rgb) − convert(read(orig)))`, bytes of pixels with alpha 0
// untouched. Packed RGB in one pass; YUV in three, in the reference's order: each pixel's new
// luma from the original planes (frame_write_luma), then each chroma block's samples from the
// alpha-weighted mean change of its pixels (frame_write_chroma, reading the original luma),
// then the luma stored (frame_store_luma). A v210 word holds codes of neighbouring pixels and
// blocks, so there one thread owns each 16-byte group of 6 pixels (3 chroma blocks) in the
// chroma and luma stores: no two threads modify the same word.

struct FrameParams {
    int kind;           // 0 packed RGB, 1 planar YUV (three planes), 2 Y + interleaved UV, 3 v210
    int r, g, b;        // packed: sample offsets of R, G, B within a pixel
    int pixel_samples;  // packed: samples per pixel
    int stride[3];      // bytes per row of each plane
    int offset[3];      // where each plane starts in the buffer
    int x, y, w, h;     // the region
    int sample_bytes;   // 1 or 2 (v210: 4, the word that holds three codes)
    int code_shift;     // 16-bit samples: where the code sits (P010: 6)
    int chroma_rows;    // luma rows per chroma row: 2 (4:2:0) or 1 (v210)
    float kr, kg, kb;   // YUV → RGB (`Yuv` in frame.rs)
    float y_black, y_gain, c_gain;
    float scale;        // code units per 0..255 level (1, 4, 257)
    float max_code;
};

// One sample's place: byte offset of its storage unit and, in v210, its code's bit position.
struct FrameSite {
    long long at;
    int shift;
};

__device__ __forceinline__ float frame_weight(float a) { return a > 0.0f ? fminf(a, 1.0f) : 0.0f; }

// Rust's `(v + 0.5) as u8`: saturating, NaN to 0.
__device__ __forceinline__ unsigned char frame_to_u8(float v) {
    float x = fminf(fmaxf(v + 0.5f, 0.0f), 255.0f);
    return (unsigned char)x;
}

__device__ __forceinline__ unsigned int frame_word(const unsigned char* f, long long at) {
    return (unsigned int)f[at] | ((unsigned int)f[at + 1] << 8) | ((unsigned int)f[at + 2] << 16) |
           ((unsigned int)f[at + 3] << 24);
}

// `Samples::get`: the sample at byte `at`, on the 0..255 scale.
__device__ __forceinline__ float frame_get(const FrameParams& p, const unsigned char* f,
                                           long long at) {
    if (p.sample_bytes == 1) return (float)f[at];
    unsigned int word = (unsigned int)f[at] | ((unsigned int)f[at + 1] << 8);
    return (float)(word >> p.code_shift) / p.scale;
}

// The nearest code of `level`, saturating, NaN to 0 (Rust's `clamp` then `as`).
__device__ __forceinline__ unsigned int frame_code(const FrameParams& p, float level) {
    return (unsigned int)fminf(fmaxf(level * p.scale + 0.5f, 0.0f), p.max_code);
}

// `Samples::set`: stores `level` at byte `at`, rounded to the nearest code.
__device__ __forceinline__ void frame_set(const FrameParams& p, unsigned char* f, long long at,
                                          float level) {
    if (p.sample_bytes == 1) {
        f[at] = frame_to_u8(level);
        return;
    }
    unsigned int code = frame_code(p, level) << p.code_shift;
    f[at] = (unsigned char)(code & 0xff);
    f[at + 1] = (unsigned char)((code >> 8) & 0xff);
}

// `Samples::read`: the YUV sample at `s`.
__device__ __forceinline__ float frame_read(const FrameParams& p, const unsigned char* f,
                                            FrameSite s) {
    if (p.kind == 3) return (float)((frame_word(f, s.at) >> s.shift) & 0x3ffu) / p.scale;
    return frame_get(p, f, s.at);
}

// `Samples::write`: v210 keeps the word's other codes and its top bits.
__device__ __forceinline__ void frame_write(const FrameParams& p, unsigned char* f, FrameSite s,
                                            float level) {
    if (p.kind != 3) {
        frame_set(p, f, s.at, level);
        return;
    }
    unsigned int word = frame_word(f, s.at);
    word = (word & ~(0x3ffu << s.shift)) | (frame_code(p, level) << s.shift);
    for (int k = 0; k < 4; ++k) f[s.at + k] = (unsigned char)((word >> (8 * k)) & 0xff);
}

// (word, bit shift) of luma i (0..6) and of chroma pair j (0..3) in a v210 group (`V210_Y`,
// `V210_CB`, `V210_CR` in frame.rs).
__device__ __forceinline__ FrameSite frame_v210(long long group, int word, int shift) {
    FrameSite s = {group + 4LL * word, shift};
    return s;
}

// `luma_site`.
__device__ FrameSite frame_luma_site(const FrameParams& p, int x, int y) {
    long long row = p.offset[0] + (long long)y * p.stride[0];
    if (p.kind == 3) {
        const int word[6] = {0, 1, 1, 2, 3, 3};
        const int shift[6] = {10, 0, 20, 10, 0, 20};
        return frame_v210(row + 16LL * (x / 6), word[x % 6], shift[x % 6]);
    }
    FrameSite s = {row + (long long)x * p.sample_bytes, 0};
    return s;
}

// `chroma_sites`: the U and the V sample of chroma position (cx, cy).
__device__ void frame_chroma_sites(const FrameParams& p, int cx, int cy, FrameSite* u,
                                   FrameSite* v) {
    long long n = p.sample_bytes;
    if (p.kind == 3) {
        const int cb_word[3] = {0, 1, 2}, cb_shift[3] = {0, 10, 20};
        const int cr_word[3] = {0, 2, 3}, cr_shift[3] = {20, 0, 10};
        long long group = p.offset[0] + (long long)cy * p.stride[0] + 16LL * (cx / 3);
        *u = frame_v210(group, cb_word[cx % 3], cb_shift[cx % 3]);
        *v = frame_v210(group, cr_word[cx % 3], cr_shift[cx % 3]);
    } else if (p.kind == 2) {
        long long i = p.offset[1] + (long long)cy * p.stride[1] + 2LL * cx * n;
        u->at = i;
        v->at = i + n;
        u->shift = v->shift = 0;
    } else {
        u->at = p.offset[1] + (long long)cy * p.stride[1] + cx * n;
        v->at = p.offset[2] + (long long)cy * p.stride[2] + cx * n;
        u->shift = v->shift = 0;
    }
}

// `Yuv::rgb_of` of pixel (x, y) as the planes hold it (the colour `read_region` gives).
__device__ void frame_read_back(const FrameParams& p, const unsigned char* frame, int x, int y,
                                float* rgb) {
    FrameSite su, sv;
    frame_chroma_sites(p, x / 2, y / p.chroma_rows, &su, &sv);
    float l = (frame_read(p, frame, frame_luma_site(p, x, y)) - p.y_black) * p.y_gain;
    float cb = (frame_read(p, frame, su) - 128.0f) * p.c_gain;
    float cr = (frame_read(p, frame, sv) - 128.0f) * p.c_gain;
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

// Byte offset of packed pixel (x, y)'s sample `c` (0, 1, 2: R, G, B).
__device__ __forceinline__ long long frame_packed_at(const FrameParams& p, int x, int y, int c) {
    const int off[3] = {p.r, p.g, p.b};
    return p.offset[0] + (long long)y * p.stride[0] +
           ((long long)x * p.pixel_samples + off[c]) * p.sample_bytes;
}

extern "C" __global__ void frame_read_region(const FrameParams p, const unsigned char* frame,
                                             float* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= p.w || r >= p.h) return;
    int x = p.x + i, y = p.y + r;
    float* d = out + 3LL * ((long long)r * p.w + i);
    if (p.kind == 0) {
        for (int c = 0; c < 3; ++c) d[c] = frame_get(p, frame, frame_packed_at(p, x, y, c));
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
    for (int c = 0; c < 3; ++c) {
        long long at = frame_packed_at(p, p.x + i, p.y + r, c);
        float o = frame_get(p, frame, at);
        frame_set(p, frame, at, o + a * (rgb[3 * k + c] - o));
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
    float o = frame_read(p, frame, frame_luma_site(p, x, y));
    float back[3];
    frame_read_back(p, frame, x, y, back);
    float change = frame_luma_of(p, rgb + 3 * k) - frame_luma_of(p, back);
    luma[k] = o + a * change;
}

// Chroma blocks per thread along x: the 3 of a v210 group, else 1.
__device__ __forceinline__ int frame_blocks_per_thread(const FrameParams& p) {
    return p.kind == 3 ? 3 : 1;
}

// One chroma block (cx, cy) of the region's write-back.
__device__ void frame_write_block(const FrameParams& p, unsigned char* frame, const float* rgb,
                                  const float* alpha, int frame_w, int frame_h, int cx, int cy) {
    int x_end = p.x + p.w, y_end = p.y + p.h, vsub = p.chroma_rows;
    float sa = 0.0f, su = 0.0f, sv = 0.0f;
    int block_pixels = 0;
    for (int y = vsub * cy; y < min(vsub * cy + vsub, frame_h); ++y)
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
    FrameSite site_u, site_v;
    frame_chroma_sites(p, cx, cy, &site_u, &site_v);
    float o = frame_read(p, frame, site_u);
    frame_write(p, frame, site_u, o + a * du);
    o = frame_read(p, frame, site_v);
    frame_write(p, frame, site_v, o + a * dv);
}

// One thread per chroma block the region touches (per v210 group of 3 blocks), from the block
// column `first_block` (the region's first, or its v210 group's first).
extern "C" __global__ void frame_write_chroma(const FrameParams p, unsigned char* frame,
                                              const float* rgb, const float* alpha,
                                              int frame_w, int frame_h) {
    int bx = blockIdx.x * blockDim.x + threadIdx.x;
    int by = blockIdx.y * blockDim.y + threadIdx.y;
    int per = frame_blocks_per_thread(p);
    int first_block = p.x / 2 / per * per;
    int cy = p.y / p.chroma_rows + by;
    int x_end = p.x + p.w, y_end = p.y + p.h;
    if (cy >= (y_end + p.chroma_rows - 1) / p.chroma_rows) return;
    for (int j = 0; j < per; ++j) {
        int cx = first_block + bx * per + j;
        if (cx < p.x / 2 || cx >= (x_end + 1) / 2) continue;
        frame_write_block(p, frame, rgb, alpha, frame_w, frame_h, cx, cy);
    }
}

// Pixels per thread along x in the luma store: the 6 of a v210 group, else 1.
__device__ __forceinline__ int frame_pixels_per_thread(const FrameParams& p) {
    return p.kind == 3 ? 6 : 1;
}

extern "C" __global__ void frame_store_luma(const FrameParams p, unsigned char* frame,
                                            const float* luma, const unsigned char* written) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    int per = frame_pixels_per_thread(p);
    int first = p.x / per * per;
    if (r >= p.h) return;
    for (int j = 0; j < per; ++j) {
        int x = first + t * per + j;
        if (x < p.x || x >= p.x + p.w) continue;
        long long k = (long long)r * p.w + (x - p.x);
        if (written[k]) frame_write(p, frame, frame_luma_site(p, x, p.y + r), luma[k]);
    }
}
