#!/bin/bash
# The GPU checks of sgpn-kernels, for sessions that are lent a GPU machine (docs/gpu-checks.md).
#   scripts/gpu-check.sh build   on the dev VM: builds the kernels' test binary and the CUDA
#                                bench and copies them into .gpu/ (git-ignored via
#                                .git/info/exclude; carry it to the GPU machine)
#   scripts/gpu-check.sh run     on the GPU machine, from the repository root: every kernels
#                                unit test (the GPU test included), compute-sanitizer memcheck
#                                and racecheck on the GPU test, and the CUDA bench; the log goes
#                                to $OUT/gpu-log.txt
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
    strip -g .gpu/sgpn_kernels .gpu/cuda-bench
    ls -la .gpu
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
    # The layout `load_nvrtc` and the ptxas test expect under $SGPN_DEPS.
    mkdir -p /tmp/deps/cuda
    ln -sf "$nvrtc" /tmp/deps/cuda/libnvrtc.so.13
    ln -sf "$builtins" /tmp/deps/cuda/libnvrtc-builtins.so.13.0
    ln -sf "$ptxas" /tmp/deps/cuda/ptxas
    export SGPN_DEPS=/tmp/deps LD_LIBRARY_PATH="$(dirname "$nvrtc"):${LD_LIBRARY_PATH:-}"
    # The emulation test finds kernels/cuda by the build machine's absolute path.
    [ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
    echo "== sgpn-kernels unit tests"
    timeout 300 .gpu/sgpn_kernels --nocapture --test-threads 8 2>&1 | grep -vE '^test .* ok$'
    echo "== compute-sanitizer memcheck"
    timeout 180 compute-sanitizer --tool memcheck --leak-check full .gpu/sgpn_kernels gpu 2>&1 | tail -6
    echo "== compute-sanitizer racecheck"
    timeout 120 compute-sanitizer --tool racecheck .gpu/sgpn_kernels gpu 2>&1 | tail -4
    echo "== bench"
    timeout 240 .gpu/cuda-bench
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
