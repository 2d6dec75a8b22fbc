// CUDA twin of `render::vertex_normals` (kernels/src/render/normals.rs, D3DFR's `compute_norm`)
// for a batch of faces of one topology. Two passes, so that no float sum depends on thread
// timing: `triangle_normals`, one thread per (triangle, face), writes each triangle's unit
// normal normalize((v1 − v2) × (v2 − v3)); `vertex_normals`, one thread per (vertex, face), adds
// the normals of the triangles around its vertex from 0.0 in ascending triangle order (the
// adjacency lists of `render::VertexAdjacency`, a triangle once per corner that names the
// vertex) and normalises the sum. That is the reference's serial scatter, sum for sum, so the
// normals are the same floats.

struct NormalsParams {
    int n;          // faces
    int vertices;   // V per face
    int triangles;  // T, shared by every face
};

// x / max(|x|, 1e-12), as the reference's `normalize`.
__device__ __forceinline__ void normalize3(float& x, float& y, float& z) {
    float len = sqrtf(x * x + y * y + z * z);
    float inv = 1.0f / fmaxf(len, 1e-12f);
    x = x * inv;
    y = y * inv;
    z = z * inv;
}

extern "C" __global__ void triangle_normals(const NormalsParams p, const float* vertices,
                                            const unsigned int* triangles, float* face_normals) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (t >= p.triangles || face >= p.n) return;
    const float* v = vertices + (long long)face * p.vertices * 3;
    const float* a = v + 3ll * triangles[3 * t];
    const float* b = v + 3ll * triangles[3 * t + 1];
    const float* c = v + 3ll * triangles[3 * t + 2];
    float e0 = a[0] - b[0], e1 = a[1] - b[1], e2 = a[2] - b[2];
    float f0 = b[0] - c[0], f1 = b[1] - c[1], f2 = b[2] - c[2];
    float x = e1 * f2 - e2 * f1;
    float y = e2 * f0 - e0 * f2;
    float z = e0 * f1 - e1 * f0;
    normalize3(x, y, z);
    float* out = face_normals + ((long long)face * p.triangles + t) * 3;
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

extern "C" __global__ void vertex_normals(const NormalsParams p, const float* face_normals,
                                          const unsigned int* offsets,
                                          const unsigned int* adjacent, float* normals) {
    int v = blockIdx.x * blockDim.x + threadIdx.x;
    int face = blockIdx.y;
    if (v >= p.vertices || face >= p.n) return;
    const float* fn = face_normals + (long long)face * p.triangles * 3;
    float x = 0.0f, y = 0.0f, z = 0.0f;
    for (unsigned int i = offsets[v]; i < offsets[v + 1]; ++i) {
        const float* n = fn + 3ll * adjacent[i];
        x = x + n[0];
        y = y + n[1];
        z = z + n[2];
    }
    normalize3(x, y, z);
    float* out = normals + ((long long)face * p.vertices + v) * 3;
    out[0] = x;
    out[1] = y;
    out[2] = z;
}
