#!/bin/bash
# The GPU checks of sgpn-kernels, run whenever a GPU machine is available (docs/gpu-checks.md).
#   scripts/gpu-check.sh build   on the dev VM: builds the kernels' test binary, the CUDA
#                                bench, the face path's GPU test and the pipeline bench, and
#                                copies them into .gpu/
#                                with what that test reads (ONNX Runtime's CPU library as xz,
#                                the detector, two photos); git-ignored via .git/info/exclude;
#                                carry it to the GPU machine
#   scripts/gpu-check.sh run     on the GPU machine, from the repository root: every kernels
#                                unit test (the GPU tests included), compute-sanitizer memcheck
#                                and racecheck on the GPU tests, the CUDA bench, the face
#                                path with kernels=cuda against the CPU path (networks on ONNX
#                                Runtime CPU), and the pipeline's stage timings with
#                                kernels=cuda (1080p, 1 to 8 faces); the log goes to
#                                $OUT/gpu-log.txt
# The GPU machine has no Rust toolchain and no package registries, hence prebuilt binaries.
set -euo pipefail
case "${1:-}" in
build)
    grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >>.git/info/exclude
    mkdir -p .gpu
    exe() { # the executable of cargo's JSON messages for target $1
        python3 -c "import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get('reason') == 'compiler-artifact' and m['target']['name'] == '$1' and m.get('executable'):
        print(m['executable'])"
    }
    cp "$(cargo test -p sgpn-kernels --lib --no-run --message-format=json | exe sgpn_kernels)" .gpu/sgpn_kernels
    cp "$(cargo bench -p sgpn-kernels --bench cuda --no-run --message-format=json | exe cuda)" .gpu/cuda-bench
    cp "$(cargo test -p sgpn-face --test gpu_kernels --no-run --message-format=json | exe gpu_kernels)" .gpu/face-gpu-kernels
    cp "$(cargo bench -p sgpn-face --bench pipeline --no-run --message-format=json | exe pipeline)" .gpu/pipeline-bench
    strip -g .gpu/sgpn_kernels .gpu/cuda-bench .gpu/face-gpu-kernels .gpu/pipeline-bench
    xz -9 -T0 -c .deps/onnxruntime/libonnxruntime.so.1.32.0 >.gpu/libonnxruntime.so.1.32.0.xz
    cp .deps/models/retinaface_mnet025.onnx .deps/data/whitehouse/obama.jpg .deps/data/whitehouse/biden.jpg .gpu/
    ls -la .gpu
    du -cb .gpu/* $(git ls-files) | tail -1 # must stay under 64 MiB (67,108,864 bytes)
    ;;
run)
    log=${OUT:-/tmp}/gpu-log.txt
    exec > >(tee "$log") 2>&1
    set +e
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    nvrtc=$(find /usr/local /opt /usr/lib -name 'libnvrtc.so.13' 2>/dev/null | head -1)
    builtins=$(find "$(dirname "$nvrtc")" -name 'libnvrtc-builtins.so.13*' | head -1)
    ptxas=$(command -v ptxas || find /usr/local /opt -name ptxas -type f 2>/dev/null | head -1)
    echo "nvrtc=$nvrtc builtins=$builtins ptxas=$ptxas"
    # The layout `load_nvrtc`, the ptxas test and the face test expect under $SGPN_DEPS.
    deps=$PWD/.deps
    mkdir -p "$deps/cuda" "$deps/onnxruntime" "$deps/models" "$deps/data/whitehouse"
    ln -sf "$nvrtc" "$deps/cuda/libnvrtc.so.13"
    ln -sf "$builtins" "$deps/cuda/libnvrtc-builtins.so.13.0"
    ln -sf "$ptxas" "$deps/cuda/ptxas"
    xz -dc .gpu/libonnxruntime.so.1.32.0.xz >"$deps/onnxruntime/libonnxruntime.so.1.32.0"
    cp .gpu/retinaface_mnet025.onnx "$deps/models/"
    cp .gpu/obama.jpg .gpu/biden.jpg "$deps/data/whitehouse/"
    export SGPN_DEPS=$deps ORT_DYLIB_PATH=$deps/onnxruntime/libonnxruntime.so.1.32.0
    export LD_LIBRARY_PATH="$(dirname "$nvrtc"):${LD_LIBRARY_PATH:-}"
    # The tests find kernels/cuda, models/ and .deps by the build machine's absolute paths.
    [ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
    echo "== sgpn-kernels unit tests"
    timeout 300 .gpu/sgpn_kernels --nocapture --test-threads 8 2>&1 | grep -vE '^test .* ok$'
    echo "== compute-sanitizer memcheck"
    timeout 180 compute-sanitizer --tool memcheck --leak-check full .gpu/sgpn_kernels gpu 2>&1 | tail -6
    echo "== compute-sanitizer racecheck"
    timeout 120 compute-sanitizer --tool racecheck .gpu/sgpn_kernels gpu 2>&1 | tail -4
    echo "== bench"
    timeout 240 .gpu/cuda-bench
    echo "== face path, kernels=cuda against cpu"
    timeout 120 .gpu/face-gpu-kernels --nocapture
    echo "== pipeline stage timings, kernels=cuda (networks on ONNX Runtime CPU)"
    SGPN_BENCH_KERNELS=cuda timeout 150 .gpu/pipeline-bench
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
