// CUDA twin of the face renderer (kernels/src/render/: pose, camera, sh, raster, interpolate),
// for a batch of faces sharing one topology (a 3DMM): SGPN's rendered 3D face I_3d (paper
// Sec. 3.1), D3DFR's conventions. Compiled without fused multiply-add (kernels/src/cuda.rs), so
// every float is rounded as the Rust reference rounds it; coverage and the visible triangle are
// decided in integers and match the reference exactly.
//
// 1. render_vertices, one thread per (vertex, face): rotate (row vector times `rot`), translate,
//    to camera space, project; rotate the normal; SH shading (`sh_basis` · weights) × albedo.
// 2. raster_depth, one thread per (triangle, face): the reference's triangle setup (vertices
//    snapped to 1/256 px, positive orientation, top-left rule biases, pixel-centre bounds), then
//    each covered pixel centre gets atomicMax of (1/z bits << 32 | ~triangle): the nearest
//    surface wins, and on an exact tie the lowest triangle index — the reference's "first
//    submitted keeps the pixel" — whatever order the threads run in.
// 3. raster_resolve, one thread per (pixel, face): the winning triangle's perspective-correct
//    barycentrics, depth and interpolated colour, recomputed with the same setup.

#define RENDER_SUBPIXEL 256LL
#define RENDER_HALF 128LL
#define RENDER_MAX_SCREEN 2097152.0f
#define RENDER_NO_TRIANGLE 0xFFFFFFFFu
// Pose block per face: rot (3×3 row-major), translation (3), SH weights (3 channels × 9 bands,
// D3DFR's ambient 0.8 already added).
#define RENDER_POSE 39

struct RenderParams {
    int n;          // faces
    int vertices;   // V per face
    int triangles;  // T, shared by every face
    int size;       // S: renders are S×S
    float focal;    // camera (kernels/src/render/camera.rs)
    float center;
    float distance;
};

struct TriangleSetup {
    long long v[3][2];  // snapped, positively oriented
    int order[3];       // which of the triangle's own vertices v[k] is
    float inv_z[3];
    float inv_area;
    long long bias[3];
    int c0, c1, r0, r1;  // inclusive pixel ranges
};

__device__ __forceinline__ long long render_edge(const long long* a, const long long* b,
                                                 long long px, long long py) {
    return (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]);
}

// floor(a / b) for b > 0 (Rust's div_euclid).
__device__ __forceinline__ long long render_floor_div(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

__device__ __forceinline__ long long render_snap(float c) {
    float f = c * (float)RENDER_SUBPIXEL;
    return (long long)(f + copysignf(0.5f, f));
}

// The reference's `setup`: false when the triangle is dropped, degenerate or covers no centre.
__device__ bool render_setup(const float* screen, const unsigned* tri, int size, TriangleSetup* s) {
    float p[3][3];
    for (int k = 0; k < 3; ++k) {
        const float* q = screen + 3LL * tri[k];
        p[k][0] = q[0];
        p[k][1] = q[1];
        p[k][2] = q[2];
        // Drawable: |x|, |y| within range, depth positive and finite (NaN fails every test).
        if (!(fabsf(q[0]) <= RENDER_MAX_SCREEN && fabsf(q[1]) <= RENDER_MAX_SCREEN && q[2] > 0.0f &&
              q[2] <= 3.402823466e38f))
            return false;
    }
    for (int k = 0; k < 3; ++k) {
        s->order[k] = k;
        s->v[k][0] = render_snap(p[k][0]);
        s->v[k][1] = render_snap(p[k][1]);
    }
    long long area = render_edge(s->v[0], s->v[1], s->v[2][0], s->v[2][1]);
    if (area == 0) return false;
    if (area < 0) {
        for (int a = 0; a < 2; ++a) {
            long long t = s->v[1][a];
            s->v[1][a] = s->v[2][a];
            s->v[2][a] = t;
        }
        s->order[1] = 2;
        s->order[2] = 1;
        area = -area;
    }
    for (int k = 0; k < 3; ++k) {
        const long long* a = s->v[(k + 1) % 3];
        const long long* b = s->v[(k + 2) % 3];
        long long dx = b[0] - a[0], dy = b[1] - a[1];
        s->bias[k] = (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1;
    }
    long long lo[2], hi[2];
    for (int axis = 0; axis < 2; ++axis) {
        long long mn = s->v[0][axis], mx = s->v[0][axis];
        for (int k = 1; k < 3; ++k) {
            mn = min(mn, s->v[k][axis]);
            mx = max(mx, s->v[k][axis]);
        }
        lo[axis] = max(-render_floor_div(RENDER_HALF - mn, RENDER_SUBPIXEL), 0LL);
        hi[axis] = min(render_floor_div(mx - RENDER_HALF, RENDER_SUBPIXEL), (long long)size - 1);
    }
    if (lo[0] > hi[0] || lo[1] > hi[1]) return false;
    s->c0 = (int)lo[0];
    s->c1 = (int)hi[0];
    s->r0 = (int)lo[1];
    s->r1 = (int)hi[1];
    for (int k = 0; k < 3; ++k) s->inv_z[k] = 1.0f / p[s->order[k]][2];
    s->inv_area = 1.0f / (float)area;
    return true;
}

// Edge values at the centre of pixel (x, y); true when the centre is inside.
__device__ __forceinline__ bool render_inside(const TriangleSetup* s, int x, int y, long long* e) {
    long long px = (long long)x * RENDER_SUBPIXEL + RENDER_HALF;
    long long py = (long long)y * RENDER_SUBPIXEL + RENDER_HALF;
    bool inside = true;
    for (int k = 0; k < 3; ++k) {
        e[k] = render_edge(s->v[(k + 1) % 3], s->v[(k + 2) % 3], px, py);
        inside = inside && e[k] + s->bias[k] >= 0;
    }
    return inside;
}

__device__ __forceinline__ void render_weights(const TriangleSetup* s, const long long* e,
                                               float* w, float* inv_z) {
    for (int k = 0; k < 3; ++k) w[k] = (float)e[k] * s->inv_area * s->inv_z[k];
    *inv_z = w[0] + w[1] + w[2];
}

extern "C" __global__ void render_vertices(const RenderParams p, const float* vertices,
                                           const float* normals, const float* albedo,
                                           const float* pose, float* screen, float* colours) {
    int v = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (v >= p.vertices || face >= p.n) return;
    const float* rot = pose + (long long)face * RENDER_POSE;
    const float* t = rot + 9;
    const float* w = rot + 12;
    long long i = ((long long)face * p.vertices + v) * 3;
    float x = vertices[i], y = vertices[i + 1], z = vertices[i + 2];
    float world[3];
    for (int j = 0; j < 3; ++j) world[j] = x * rot[j] + y * rot[3 + j] + z * rot[6 + j] + t[j];
    float depth = p.distance - world[2];
    float inv_z = 1.0f / depth;
    screen[i] = p.focal * world[0] * inv_z + p.center;
    screen[i + 1] = p.center - p.focal * world[1] * inv_z;
    screen[i + 2] = depth;
    float n[3];
    for (int j = 0; j < 3; ++j)
        n[j] = normals[i] * rot[j] + normals[i + 1] * rot[3 + j] + normals[i + 2] * rot[6 + j];
    const float A0C0 = 0.8862269f, A1C1 = 1.7724539f, A2C2 = 2.4270324f;
    const float A2C2_HALF_SQRT3 = 0.7006239f, A2C2_HALF = 1.2135162f;
    float Y[9] = {A0C0,
                  -A1C1 * n[1],
                  A1C1 * n[2],
                  -A1C1 * n[0],
                  A2C2 * n[0] * n[1],
                  -A2C2 * n[1] * n[2],
                  A2C2_HALF_SQRT3 * (3.0f * n[2] * n[2] - 1.0f),
                  -A2C2 * n[0] * n[2],
                  A2C2_HALF * (n[0] * n[0] - n[1] * n[1])};
    for (int c = 0; c < 3; ++c) {
        float lit = 0.0f;
        for (int b = 0; b < 9; ++b) lit = lit + Y[b] * w[c * 9 + b];
        colours[i + c] = albedo[i + c] * lit;
    }
}

extern "C" __global__ void raster_depth(const RenderParams p, const float* screen,
                                        const unsigned* triangles, unsigned long long* zbuf) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (t >= p.triangles || face >= p.n) return;
    TriangleSetup s;
    if (!render_setup(screen + (long long)face * p.vertices * 3, triangles + 3LL * t, p.size, &s))
        return;
    unsigned long long* out = zbuf + (long long)face * p.size * p.size;
    unsigned long long id = (unsigned long long)(RENDER_NO_TRIANGLE - (unsigned)t);
    for (int y = s.r0; y <= s.r1; ++y)
        for (int x = s.c0; x <= s.c1; ++x) {
            long long e[3];
            if (!render_inside(&s, x, y, e)) continue;
            float w[3], inv_z;
            render_weights(&s, e, w, &inv_z);
            if (!(inv_z > 0.0f)) continue;
            unsigned long long key = ((unsigned long long)__float_as_uint(inv_z) << 32) | id;
            atomicMax(out + (long long)y * p.size + x, key);
        }
}

extern "C" __global__ void raster_resolve(const RenderParams p, const float* screen,
                                          const unsigned* triangles, const float* colours,
                                          const unsigned long long* zbuf, unsigned* triangle_out,
                                          float* barycentric, float* depth, float* image,
                                          float* mask) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int face = blockIdx.z;
    if (x >= p.size || y >= p.size || face >= p.n) return;
    long long i = ((long long)face * p.size + y) * p.size + x;
    unsigned long long key = zbuf[i];
    float b[3] = {0.0f, 0.0f, 0.0f}, d = 0.0f, rgb[3] = {0.0f, 0.0f, 0.0f}, m = 0.0f;
    unsigned t = RENDER_NO_TRIANGLE;
    TriangleSetup s;
    long long e[3];
    const float* face_screen = screen + (long long)face * p.vertices * 3;
    if (key != 0) {
        t = RENDER_NO_TRIANGLE - (unsigned)(key & 0xFFFFFFFFull);
        const unsigned* tri = triangles + 3LL * t;
        if (render_setup(face_screen, tri, p.size, &s) && render_inside(&s, x, y, e)) {
            float w[3], inv_z;
            render_weights(&s, e, w, &inv_z);
            float r = 1.0f / inv_z;
            for (int k = 0; k < 3; ++k) b[s.order[k]] = w[k] * r;
            d = 1.0f / inv_z;
            const float* col = colours + (long long)face * p.vertices * 3;
            for (int c = 0; c < 3; ++c)
                rgb[c] = b[0] * col[3LL * tri[0] + c] + b[1] * col[3LL * tri[1] + c] +
                         b[2] * col[3LL * tri[2] + c];
            m = 1.0f;
        } else {
            t = RENDER_NO_TRIANGLE;  // unreachable: the key came from this very setup
        }
    }
    triangle_out[i] = t;
    for (int k = 0; k < 3; ++k) barycentric[3 * i + k] = b[k];
    depth[i] = d;
    for (int c = 0; c < 3; ++c) image[3 * i + c] = rgb[c];
    mask[i] = m;
}

// The renders as the generator's `render` input (CPU twin `render::to_generator_input`): per
// face and pixel, the colour clamped to 0..1 and mapped by 2·c − 1 into the planar [N,3,S,S]
// batch, −1 where no triangle covers the pixel. One thread per (pixel, face).
extern "C" __global__ void render_to_crops(const RenderParams p, const float* image,
                                           const float* mask, float* crops) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int face = blockIdx.z;
    if (x >= p.size || y >= p.size || face >= p.n) return;
    long long plane = (long long)p.size * p.size;
    long long i = (long long)y * p.size + x;
    long long px = face * plane + i;
    bool covered = mask[px] > 0.0f;
    for (int c = 0; c < 3; ++c) {
        float v = fminf(fmaxf(image[3 * px + c], 0.0f), 1.0f);
        crops[(3LL * face + c) * plane + i] = covered ? 2.0f * v - 1.0f : -1.0f;
    }
}

struct WarpBackParams {
    int n;      // faces
    int frame;  // side of the render (D3DFR's frame)
    int size;   // side of the crops
};

// The official `d3dfr` crop's `render` input (CPU twin `render::warp_back`): each face's render
// in D3DFR's frame warped back into its crop through its crop → frame transform (`transforms`,
// six floats per face), bilinear with zero outside the frame; the colour weighted by the
// coverage twice, `2·Σw·m·clamp(c)·Σw·m − 1`, as the official code. One thread per (pixel, face).
extern "C" __global__ void render_warp_back(const WarpBackParams p, const float* image,
                                            const float* mask, const float* transforms,
                                            float* crops, float* coverage) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int face = blockIdx.z;
    if (x >= p.size || y >= p.size || face >= p.n) return;
    const float* t = transforms + 6 * face;
    float sx = t[0] * (float)x + t[1] * (float)y + t[2];
    float sy = t[3] * (float)x + t[4] * (float)y + t[5];
    float x0 = floorf(sx), y0 = floorf(sy);
    float fx = sx - x0, fy = sy - y0;
    int ix = (int)x0, iy = (int)y0;
    long long frame_plane = (long long)p.frame * p.frame;
    const float* img = image + 3 * face * frame_plane;
    const float* msk = mask + face * frame_plane;
    float colour[3] = {0.0f, 0.0f, 0.0f};
    float m = 0.0f;
    const int dxs[4] = {0, 1, 0, 1}, dys[4] = {0, 0, 1, 1};
    const float ws[4] = {(1.0f - fx) * (1.0f - fy), fx * (1.0f - fy), (1.0f - fx) * fy, fx * fy};
    for (int k = 0; k < 4; ++k) {
        int tx = ix + dxs[k], ty = iy + dys[k];
        if (tx < 0 || ty < 0 || tx >= p.frame || ty >= p.frame) continue;
        long long i = (long long)ty * p.frame + tx;
        m += ws[k] * msk[i];
        for (int c = 0; c < 3; ++c)
            colour[c] += ws[k] * msk[i] * fminf(fmaxf(img[3 * i + c], 0.0f), 1.0f);
    }
    long long plane = (long long)p.size * p.size;
    long long at = (long long)y * p.size + x;
    coverage[face * plane + at] = m;
    for (int c = 0; c < 3; ++c) crops[(3LL * face + c) * plane + at] = 2.0f * colour[c] * m - 1.0f;
}
