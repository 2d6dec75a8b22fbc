#!/usr/bin/env bash
# Restores every face of a video file into an H.264 mp4 with sgpnrestore.
#   pipelines/restore-video.sh IN OUT [sgpnrestore property=value ...]
# Example: pipelines/restore-video.sh .deps/data/carphone_distorted.mp4 carphone_restored.mp4 blend=0.8
# Audio is not carried over (the element works on video); remux it with your usual tool if needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 2 ] || { sed -n 2,5p "$0" >&2; exit 2; }
IN="$(realpath "$1")"; OUT="$(realpath -m "$2")"; shift 2
[ -f "$IN" ] || { echo "restore-video: input '$IN' does not exist" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p gstsgpn
export GST_PLUGIN_PATH="$ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export SGPN_DEPS="${SGPN_DEPS:-$ROOT/.deps}"

gst-launch-1.0 -e \
  filesrc location="$IN" ! decodebin ! videoconvert ! \
  sgpnrestore "$@" ! videoconvert ! 'video/x-raw,format=I420' ! \
  x264enc speed-preset=medium psy-tune=film qp-max=30 ! mp4mux ! filesink location="$OUT"
echo "restore-video: wrote $OUT"
