// CUDA twin of `frame::read_region` (kernels/src/frame.rs) for the 8-bit formats: a frame is
// uploaded once in its native layout (all planes in one byte buffer, 1.5 bytes per pixel for
// I420 and NV12) and each face region is converted on the device to the RGB the crop warp
// reads (interleaved float, 0..255). YUV pixels take their 4:2:0 block's chroma and convert with
// the frame's matrix and range, then clamp, in the reference's order of operations.

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
    float luma = (float)frame[p.offset[0] + (long long)y * p.stride[0] + x];
    int cx = x / 2, cy = y / 2;
    float u, v;
    if (p.kind == 1) {
        u = (float)frame[p.offset[1] + (long long)cy * p.stride[1] + cx];
        v = (float)frame[p.offset[2] + (long long)cy * p.stride[2] + cx];
    } else {
        long long at = p.offset[1] + (long long)cy * p.stride[1] + 2LL * cx;
        u = (float)frame[at];
        v = (float)frame[at + 1];
    }
    float l = (luma - p.y_black) * p.y_gain;
    float cb = (u - 128.0f) * p.c_gain;
    float cr = (v - 128.0f) * p.c_gain;
    float red = l + 2.0f * (1.0f - p.kr) * cr;
    float blue = l + 2.0f * (1.0f - p.kb) * cb;
    float green = (l - p.kr * red - p.kb * blue) / p.kg;
    d[0] = fminf(fmaxf(red, 0.0f), 255.0f);
    d[1] = fminf(fmaxf(green, 0.0f), 255.0f);
    d[2] = fminf(fmaxf(blue, 0.0f), 255.0f);
}
