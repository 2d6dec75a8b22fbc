// CPU emulation of the CUDA C subset our kernels use (docs/gpu-path.md, "Testing kernels
// without a GPU"): grid and block loops, no shared memory, no warp-level operations. Lets
// `cargo test` run the very .cu sources on machines without a GPU and compare them with the
// Rust references.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#define __global__
#define __device__
#define __forceinline__ inline

struct EmuDim3 {
    unsigned x, y, z;
};
static EmuDim3 blockIdx, threadIdx, blockDim, gridDim;
using std::max;
using std::min;

// Threads run one after another, so the atomics are plain read-modify-writes.
inline unsigned long long atomicMax(unsigned long long* address, unsigned long long value) {
    unsigned long long old = *address;
    if (value > old) *address = value;
    return old;
}

inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Runs `kernel(args...)` once per thread of the grid, sequentially.
template <typename Kernel, typename... Args>
void emulate_launch(EmuDim3 grid, EmuDim3 block, Kernel kernel, Args... args) {
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx)
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx) {
                            blockIdx = {bx, by, bz};
                            threadIdx = {tx, ty, tz};
                            kernel(args...);
                        }
}
