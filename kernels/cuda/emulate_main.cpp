// Runs the CUDA kernels on the CPU through emulate.h, for `cargo test` (kernels/src/cuda.rs).
// Usage: emulate warp DIR | emulate paste DIR | emulate paste-residual DIR (reads reference.bin
// too) | emulate affb DIR | emulate render DIR | emulate frame DIR |
// emulate colour DIR | emulate stabilise DIR | emulate morph DIR | emulate normals DIR |
// emulate frame-write DIR | emulate elementwise DIR. Inputs and outputs are raw little-endian files in
// DIR written by the Rust test; params.bin holds the kernel's params struct exactly as the Rust
// launcher passes it, so the test also checks that both sides agree on its layout.
#include "emulate.h"
#include "warp.cu"
#include "paste.cu"
#include "affb.cu"
#include "render.cu"
#include "frame.cu"
#include "colour.cu"
#include "stabilise.cu"
#include "morph.cu"
#include "normals.cu"

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

template <typename T>
static std::vector<T> read_values(const std::string& path) {
    std::vector<char> bytes = read_file(path);
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
}

template <typename T>
static void write_values(const std::string& path, const std::vector<T>& v) {
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(v.data(), sizeof(T), v.size(), f);
    std::fclose(f);
}


static unsigned blocks(int n, unsigned block) { return (unsigned)((n + block - 1) / block); }

int main(int argc, char** argv) {
    if (argc != 3) return 1;
    std::string mode = argv[1], dir = std::string(argv[2]) + "/";
    const unsigned B = 16;
    if (mode == "warp") {
        WarpParams p = read_struct<WarpParams>(dir + "params.bin");
        std::vector<float> src = read_values<float>(dir + "src.bin");
        std::vector<float> transforms = read_values<float>(dir + "transforms.bin");
        std::vector<float> out((size_t)p.count * 3 * p.size * p.size, 0.0f);
        emulate_launch({blocks(p.size, B), blocks(p.size, B), (unsigned)p.count}, {B, B, 1},
                       warp_face_crops, p, (const float*)src.data(),
                       (const float*)transforms.data(), out.data());
        write_values(dir + "out.bin", out);
        return 0;
    }
    if (mode == "paste" || mode == "paste-residual") {
        PasteParams p = read_struct<PasteParams>(dir + "params.bin");
        std::vector<float> region = read_values<float>(dir + "region.bin");
        std::vector<float> alpha = read_values<float>(dir + "alpha.bin");
        std::vector<float> restored = read_values<float>(dir + "restored.bin");
        std::vector<float> reference;
        if (mode == "paste-residual") reference = read_values<float>(dir + "reference.bin");
        emulate_launch({blocks(p.width, B), blocks(p.height, B), 1}, {B, B, 1}, paste_back, p,
                       region.data(), alpha.data(), (const float*)restored.data(),
                       (const float*)(reference.empty() ? nullptr : reference.data()));
        write_values(dir + "region.bin", region);
        write_values(dir + "alpha.bin", alpha);
        return 0;
    }
    if (mode == "affb") {
        AffbParams p = read_struct<AffbParams>(dir + "params.bin");
        std::vector<float> inter = read_values<float>(dir + "inter.bin");
        std::vector<float> lq = read_values<float>(dir + "lq.bin");
        std::vector<float> d3 = p.has_3d ? read_values<float>(dir + "d3.bin") : std::vector<float>();
        std::vector<float> weight = read_values<float>(dir + "weight.bin");
        std::vector<float> bias = read_values<float>(dir + "bias.bin");
        std::vector<float> out((size_t)p.n * 2 * p.channels * p.positions, 0.0f);
        emulate_launch({blocks(p.positions, 256), (unsigned)p.channels, (unsigned)p.n}, {256, 1, 1},
                       affb_fuse, p, (const float*)inter.data(), (const float*)lq.data(),
                       (const float*)(p.has_3d ? d3.data() : nullptr), (const float*)weight.data(),
                       (const float*)bias.data(), out.data());
        write_values(dir + "out.bin", out);
        return 0;
    }
    if (mode == "render") {
        RenderParams p = read_struct<RenderParams>(dir + "params.bin");
        std::vector<float> vertices = read_values<float>(dir + "vertices.bin");
        std::vector<float> normals = read_values<float>(dir + "normals.bin");
        std::vector<float> albedo = read_values<float>(dir + "albedo.bin");
        std::vector<float> poses = read_values<float>(dir + "poses.bin");
        std::vector<unsigned> triangles = read_values<unsigned>(dir + "triangles.bin");
        size_t per_vertex = (size_t)p.n * p.vertices * 3, pixels = (size_t)p.n * p.size * p.size;
        std::vector<float> screen(per_vertex), colours(per_vertex);
        std::vector<unsigned long long> zbuf(pixels, 0);
        std::vector<unsigned> triangle(pixels);
        std::vector<float> bary(3 * pixels), depth(pixels), image(3 * pixels), mask(pixels);
        emulate_launch({blocks(p.vertices, 128), (unsigned)p.n, 1}, {128, 1, 1}, render_vertices, p,
                       (const float*)vertices.data(), (const float*)normals.data(),
                       (const float*)albedo.data(), (const float*)poses.data(), screen.data(),
                       colours.data());
        emulate_launch({blocks(p.triangles, 128), (unsigned)p.n, 1}, {128, 1, 1}, raster_depth, p,
                       (const float*)screen.data(), (const unsigned*)triangles.data(), zbuf.data());
        emulate_launch({blocks(p.size, B), blocks(p.size, B), (unsigned)p.n}, {B, B, 1},
                       raster_resolve, p, (const float*)screen.data(),
                       (const unsigned*)triangles.data(), (const float*)colours.data(),
                       (const unsigned long long*)zbuf.data(), triangle.data(), bary.data(),
                       depth.data(), image.data(), mask.data());
        std::vector<float> crops(3 * pixels);
        emulate_launch({blocks(p.size, B), blocks(p.size, B), (unsigned)p.n}, {B, B, 1},
                       render_to_crops, p, (const float*)image.data(), (const float*)mask.data(),
                       crops.data());
        write_values(dir + "crops.bin", crops);
        // Warped back into crops of `back.size` through one transform per face.
        WarpBackParams back = read_struct<WarpBackParams>(dir + "back_params.bin");
        std::vector<float> transforms = read_values<float>(dir + "transforms.bin");
        size_t crop = (size_t)back.size * back.size;
        std::vector<float> back_crops(3 * crop * p.n), back_coverage(crop * p.n);
        emulate_launch({blocks(back.size, B), blocks(back.size, B), (unsigned)back.n}, {B, B, 1},
                       render_warp_back, back, (const float*)image.data(),
                       (const float*)mask.data(), (const float*)transforms.data(),
                       back_crops.data(), back_coverage.data());
        write_values(dir + "back_crops.bin", back_crops);
        write_values(dir + "back_coverage.bin", back_coverage);
        write_values(dir + "triangle.bin", triangle);
        write_values(dir + "barycentric.bin", bary);
        write_values(dir + "depth.bin", depth);
        write_values(dir + "image.bin", image);
        write_values(dir + "mask.bin", mask);
        return 0;
    }
    if (mode == "frame") {
        FrameParams p = read_struct<FrameParams>(dir + "params.bin");
        std::vector<unsigned char> frame = read_values<unsigned char>(dir + "frame.bin");
        std::vector<float> out((size_t)3 * p.w * p.h, 0.0f);
        emulate_launch({blocks(p.w, B), blocks(p.h, B), 1}, {B, B, 1}, frame_read_region, p,
                       (const unsigned char*)frame.data(), out.data());
        write_values(dir + "out.bin", out);
        return 0;
    }
    if (mode == "colour") {
        ColourParams p = read_struct<ColourParams>(dir + "params.bin");
        std::vector<float> lq = read_values<float>(dir + "lq.bin");
        std::vector<float> restored = read_values<float>(dir + "restored.bin");
        std::vector<float> means((size_t)p.n * 3 * p.cells * p.cells, 0.0f);
        emulate_launch({1, 3, (unsigned)p.n}, {(unsigned)(p.cells * p.cells), 1, 1},
                       colour_cell_means, p, (const float*)lq.data(),
                       (const float*)restored.data(), means.data());
        emulate_launch({blocks(p.size, B), blocks(p.size, B), (unsigned)p.n}, {B, B, 1},
                       colour_apply, p, (const float*)means.data(), restored.data());
        write_values(dir + "restored.bin", restored);
        return 0;
    }
    if (mode == "stabilise") {
        StabiliseParams p = read_struct<StabiliseParams>(dir + "params.bin");
        std::vector<float> input = read_values<float>(dir + "input.bin");
        std::vector<float> pasted = read_values<float>(dir + "pasted.bin");
        std::vector<float> change = read_values<float>(dir + "change.bin");
        std::vector<float> prev_input = read_values<float>(dir + "prev_input.bin");
        std::vector<float> prev_change = read_values<float>(dir + "prev_change.bin");
        emulate_launch({blocks(p.w, B), blocks(p.h, B), 1}, {B, B, 1}, stabilise_blend, p,
                       (const float*)input.data(), pasted.data(), change.data(),
                       (const float*)prev_input.data(), (const float*)prev_change.data());
        write_values(dir + "pasted.bin", pasted);
        write_values(dir + "change.bin", change);
        return 0;
    }
    if (mode == "elementwise") {
        std::vector<float> pasted = read_values<float>(dir + "pasted.bin");
        std::vector<float> input = read_values<float>(dir + "input.bin");
        std::vector<float> alpha = read_values<float>(dir + "alpha.bin");
        long long n = (long long)pasted.size(), m = (long long)alpha.size();
        std::vector<float> change(pasted.size(), -1.0f), covered(alpha.size(), -1.0f);
        emulate_launch({blocks((int)n, 256), 1, 1}, {256, 1, 1}, region_change,
                       (const float*)pasted.data(), (const float*)input.data(), change.data(), n);
        emulate_launch({blocks((int)m, 256), 1, 1}, {256, 1, 1}, paste_coverage,
                       (const float*)alpha.data(), covered.data(), m);
        std::vector<float> crops = read_values<float>(dir + "crops.bin");
        int size = (int)std::lround(std::sqrt(crops.size() / 6.0));  // two crops
        std::vector<float> region((size_t)3 * size * size, -1.0f);
        emulate_launch({blocks(size * size, 256), 1, 1}, {256, 1, 1}, crop_to_region,
                       (const float*)crops.data(), region.data(), size,
                       (long long)3 * size * size);
        write_values(dir + "change.bin", change);
        write_values(dir + "covered.bin", covered);
        write_values(dir + "region.bin", region);
        return 0;
    }
    if (mode == "morph") {
        MorphParams p = read_struct<MorphParams>(dir + "params.bin");
        std::vector<float> mean = read_values<float>(dir + "mean.bin");
        std::vector<float> b1 = read_values<float>(dir + "b1.bin");
        std::vector<float> b2 = read_values<float>(dir + "b2.bin");
        std::vector<float> c1 = read_values<float>(dir + "c1.bin");
        std::vector<float> c2 = read_values<float>(dir + "c2.bin");
        std::vector<float> out((size_t)p.n * p.rows, 0.0f);
        emulate_launch({blocks(p.rows, 128), (unsigned)p.n, 1}, {128, 1, 1}, morph_combine, p,
                       (const float*)mean.data(), (const float*)b1.data(),
                       (const float*)b2.data(), (const float*)c1.data(), (const float*)c2.data(),
                       out.data());
        write_values(dir + "out.bin", out);
        return 0;
    }
    if (mode == "normals") {
        NormalsParams p = read_struct<NormalsParams>(dir + "params.bin");
        std::vector<float> vertices = read_values<float>(dir + "vertices.bin");
        std::vector<unsigned int> triangles = read_values<unsigned int>(dir + "triangles.bin");
        std::vector<unsigned int> offsets = read_values<unsigned int>(dir + "offsets.bin");
        std::vector<unsigned int> adjacent = read_values<unsigned int>(dir + "adjacent.bin");
        std::vector<float> face_normals((size_t)p.n * p.triangles * 3, 0.0f);
        std::vector<float> normals((size_t)p.n * p.vertices * 3, 0.0f);
        emulate_launch({blocks(p.triangles, 128), (unsigned)p.n, 1}, {128, 1, 1}, triangle_normals,
                       p, (const float*)vertices.data(), (const unsigned int*)triangles.data(),
                       face_normals.data());
        emulate_launch({blocks(p.vertices, 128), (unsigned)p.n, 1}, {128, 1, 1}, vertex_normals, p,
                       (const float*)face_normals.data(), (const unsigned int*)offsets.data(),
                       (const unsigned int*)adjacent.data(), normals.data());
        write_values(dir + "normals.bin", normals);
        return 0;
    }
    if (mode == "frame-write") {
        FrameParams p = read_struct<FrameParams>(dir + "params.bin");
        std::vector<int> size = read_values<int>(dir + "size.bin");
        std::vector<unsigned char> frame = read_values<unsigned char>(dir + "frame.bin");
        std::vector<float> rgb = read_values<float>(dir + "rgb.bin");
        std::vector<float> alpha = read_values<float>(dir + "alpha.bin");
        EmuDim3 pixels = {blocks(p.w, B), blocks(p.h, B), 1};
        if (p.kind == 0) {
            emulate_launch(pixels, {B, B, 1}, frame_write_packed, p, frame.data(),
                           (const float*)rgb.data(), (const float*)alpha.data());
        } else {
            std::vector<float> luma((size_t)p.w * p.h);
            std::vector<unsigned char> written((size_t)p.w * p.h);
            emulate_launch(pixels, {B, B, 1}, frame_write_luma, p, (const unsigned char*)frame.data(),
                           (const float*)rgb.data(), (const float*)alpha.data(), luma.data(),
                           written.data());
            // size.bin: frame width and height, then the threads (x, y) of the chroma pass and
            // of the luma store, as the Rust launcher computes them.
            emulate_launch({blocks(size[2], B), blocks(size[3], B), 1}, {B, B, 1},
                           frame_write_chroma, p, frame.data(), (const float*)rgb.data(),
                           (const float*)alpha.data(), size[0], size[1]);
            emulate_launch({blocks(size[4], B), blocks(size[5], B), 1}, {B, B, 1},
                           frame_store_luma, p, frame.data(), (const float*)luma.data(),
                           (const unsigned char*)written.data());
        }
        write_values(dir + "frame.bin", frame);
        return 0;
    }
    return 1;
}
