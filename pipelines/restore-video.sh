#!/usr/bin/env bash
# Restores every face of one video file with sgpnrestore into an MP4 (H.264, audio kept: copied,
# or AAC when the MP4 cannot hold it). It runs `sgpn-batch --preset access` on the one file; for
# folders, archive masters (FFV1), ProRes, resuming and clusters use sgpn-batch itself
# (pipelines/README.md).
#   pipelines/restore-video.sh IN OUT.mp4 [sgpnrestore property=value ...]
# Example: pipelines/restore-video.sh .deps/data/carphone_distorted.mp4 carphone_restored.mp4 blend=0.8
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 2 ] || { sed -n 2,7p "$0" >&2; exit 2; }
IN="$(realpath "$1")"; OUT="$(realpath -m "$2")"; shift 2
[ -f "$IN" ] || { echo "restore-video: input '$IN' does not exist" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sgpn-batch
mkdir -p "$(dirname "$OUT")"
WORK="$(mktemp -d "$(dirname "$OUT")/.restore-video.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SETS=()
for property in "$@"; do SETS+=(--set "$property"); done
"$ROOT/target/release/sgpn-batch" "$IN" --output "$WORK" --preset access "${SETS[@]}"
NAME="$(basename "$IN")"
mv "$WORK/${NAME%.*}.mp4" "$OUT"
echo "restore-video: wrote $OUT"
