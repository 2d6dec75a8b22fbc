// Runs the CUDA kernels on the CPU through emulate.h, for `cargo test` (kernels/src/cuda.rs).
// Usage: emulate warp DIR | emulate paste DIR | emulate paste-residual DIR (reads reference.bin
// too) | emulate affb DIR. Inputs and outputs are raw little-endian files in
// DIR written by the Rust test; params.bin holds the kernel's params struct exactly as the Rust
// launcher passes it, so the test also checks that both sides agree on its layout.
#include "emulate.h"
#include "warp.cu"
#include "paste.cu"
#include "affb.cu"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static std::vector<char> read_file(const std::string& path) {
    std::vector<char> data;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "cannot open %s\n", path.c_str());
        std::exit(2);
    }
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
    std::fclose(f);
    return data;
}

static std::vector<float> read_floats(const std::string& path) {
    std::vector<char> bytes = read_file(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

template <typename T>
static T read_struct(const std::string& path) {
    std::vector<char> bytes = read_file(path);
    if (bytes.size() != sizeof(T)) {
        std::fprintf(stderr, "%s: %zu bytes, the CUDA struct has %zu\n", path.c_str(), bytes.size(),
                     sizeof(T));
        std::exit(3);
    }
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

static void write_floats(const std::string& path, const std::vector<float>& v) {
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(v.data(), sizeof(float), v.size(), f);
    std::fclose(f);
}

static unsigned blocks(int n, unsigned block) { return (unsigned)((n + block - 1) / block); }

int main(int argc, char** argv) {
    if (argc != 3) return 1;
    std::string mode = argv[1], dir = std::string(argv[2]) + "/";
    const unsigned B = 16;
    if (mode == "warp") {
        WarpParams p = read_struct<WarpParams>(dir + "params.bin");
        std::vector<float> src = read_floats(dir + "src.bin");
        std::vector<float> transforms = read_floats(dir + "transforms.bin");
        std::vector<float> out((size_t)p.count * 3 * p.size * p.size, 0.0f);
        emulate_launch({blocks(p.size, B), blocks(p.size, B), (unsigned)p.count}, {B, B, 1},
                       warp_face_crops, p, (const float*)src.data(),
                       (const float*)transforms.data(), out.data());
        write_floats(dir + "out.bin", out);
        return 0;
    }
    if (mode == "paste" || mode == "paste-residual") {
        PasteParams p = read_struct<PasteParams>(dir + "params.bin");
        std::vector<float> region = read_floats(dir + "region.bin");
        std::vector<float> alpha = read_floats(dir + "alpha.bin");
        std::vector<float> restored = read_floats(dir + "restored.bin");
        std::vector<float> reference;
        if (mode == "paste-residual") reference = read_floats(dir + "reference.bin");
        emulate_launch({blocks(p.width, B), blocks(p.height, B), 1}, {B, B, 1}, paste_back, p,
                       region.data(), alpha.data(), (const float*)restored.data(),
                       (const float*)(reference.empty() ? nullptr : reference.data()));
        write_floats(dir + "region.bin", region);
        write_floats(dir + "alpha.bin", alpha);
        return 0;
    }
    if (mode == "affb") {
        AffbParams p = read_struct<AffbParams>(dir + "params.bin");
        std::vector<float> inter = read_floats(dir + "inter.bin");
        std::vector<float> lq = read_floats(dir + "lq.bin");
        std::vector<float> d3 = p.has_3d ? read_floats(dir + "d3.bin") : std::vector<float>();
        std::vector<float> weight = read_floats(dir + "weight.bin");
        std::vector<float> bias = read_floats(dir + "bias.bin");
        std::vector<float> out((size_t)p.n * 2 * p.channels * p.positions, 0.0f);
        emulate_launch({blocks(p.positions, 256), (unsigned)p.channels, (unsigned)p.n}, {256, 1, 1},
                       affb_fuse, p, (const float*)inter.data(), (const float*)lq.data(),
                       (const float*)(p.has_3d ? d3.data() : nullptr), (const float*)weight.data(),
                       (const float*)bias.data(), out.data());
        write_floats(dir + "out.bin", out);
        return 0;
    }
    return 1;
}
