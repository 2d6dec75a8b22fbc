#!/usr/bin/env bash
# Soak test of sgpn-batch: the stage clip (short_hamilton_clip.mp4: 275 frames, up to 5 faces)
# copied COPIES times (default 37: 10,175 frames) into one batch, restored by one sgpn-batch
# process; its resident memory is sampled every 2 s. Prints the peak resident memory of each
# file: after the first (warm-up: models loaded, caches filled) it must stay flat.
#   pipelines/soak.sh [COPIES] [sgpn-batch options]     e.g. pipelines/soak.sh 37 --preset access
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SGPN_SHARED_DATA:-$ROOT/../shared/data}"
COPIES="${1:-37}"; shift || true
WORK="$(mktemp -d /tmp/sgpn-soak.XXXXXX)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sgpn-batch
mkdir -p "$WORK/in"
for i in $(seq -w 1 "$COPIES"); do ln -s "$SHARED/video/short_hamilton_clip.mp4" "$WORK/in/stage_$i.mp4"; done
"$ROOT/target/release/sgpn-batch" "$WORK/in" --output "$WORK/out" --report "$WORK/report.json" "$@" \
  2> "$WORK/log.txt" &
PID=$!
START=$(date +%s)
echo "seconds,rss_kib,files_done" > "$WORK/rss.csv"
while kill -0 "$PID" 2>/dev/null; do
  RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
  DONE=$(grep -c '^restored' "$WORK/log.txt" || true)
  [ -n "$RSS" ] && echo "$(( $(date +%s) - START )),$RSS,$DONE" >> "$WORK/rss.csv"
  sleep 2
done
wait "$PID"
python3 - "$WORK" <<'PY'
import csv, json, sys
work = sys.argv[1]
rows = [(int(s), int(r), int(d)) for s, r, d in list(csv.reader(open(f"{work}/rss.csv")))[1:]]
report = json.load(open(f"{work}/report.json"))
frames = sum(f["frames"] for f in report["files"])
faces = sum(f["faces"] for f in report["files"])
# Peak resident memory while each file was being restored (file k+1 runs while k are done).
peaks = {}
for _, r, d in rows:
    peaks[d] = max(peaks.get(d, 0), r)
files = sorted(peaks)
print(f"{len(report['files'])} files, {frames} frames, {faces} faces in {report['seconds']:.0f} s "
      f"({frames / report['seconds']:.1f} fps); restored {report['restored']}, failed {report['failed']}")
first, last = peaks[files[min(1, len(files) - 1)]], peaks[files[-1]]
print(f"peak resident memory per file: {first / 1024:.0f} MiB for file 2 (after warm-up), "
      f"{last / 1024:.0f} MiB for the last; change {(last - first) / 1024:+.0f} MiB over {len(files) - 1} files")
lows = {}
for _, r, d in rows:
    lows[d] = min(lows.get(d, r), r)
for d in files:
    print(f"  file {d + 1:3d}: peak {peaks[d] / 1024:.0f} MiB, lowest {lows[d] / 1024:.0f} MiB")
PY
echo "soak: work folder $WORK"
