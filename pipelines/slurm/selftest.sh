#!/usr/bin/env bash
# Self-test of the Slurm recipe on this machine: starts a one-node Slurm (Debian's slurm-wlm and
# munge, installed if missing), submits pipelines/slurm/restore.sbatch as a three-task array over
# sample clips on the CPU, and checks that every clip was restored exactly once, by one task, with
# its frames and audio. Needs root (it starts the daemons); stops them again at the end.
#   pipelines/slurm/selftest.sh            # ~2-4 min on 2 cores
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d /tmp/sgpn-slurm-selftest.XXXXXX)"
SHARED="${SGPN_SHARED_DATA:-$ROOT/../shared/data}"
say() { printf 'slurm-selftest: %s\n' "$*" >&2; }
die() { printf 'slurm-selftest: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it starts slurmctld, slurmd and munged)"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

say "building sgpn-batch"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sgpn-batch

# --- a one-node cluster in $WORK ---------------------------------------------------------------
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
mkdir -p "$WORK/state/ctld" "$WORK/state/d" "$WORK/munge" "$WORK/in/reel1"
cat > "$WORK/slurm.conf" <<CONF
ClusterName=sgpn-selftest
SlurmctldHost=$HOST
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/state/ctld
SlurmdSpoolDir=$WORK/state/d
SlurmctldPidFile=$WORK/state/slurmctld.pid
SlurmdPidFile=$WORK/state/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=selftest Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$WORK/slurm.conf"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/seed"
stop() {
  scancel --quiet --user=root 2>/dev/null || true
  for pid in "$WORK/state/slurmd.pid" "$WORK/state/slurmctld.pid" "$WORK/munge/munged.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
}
trap stop EXIT
slurmctld -i
slurmd
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o '%T' | grep -q idle || die "the node did not come up (see $WORK/slurmctld.log, $WORK/slurmd.log)"
say "cluster up: $(sinfo -h -o '%P %D %c %T')"

# --- the batch ------------------------------------------------------------------------------------
cp "$SHARED/video/short_hamilton_clip.mp4" "$SHARED/video/talking_d3.mp4" "$WORK/in/"
cp "$SHARED/video/talking_d6.mp4" "$WORK/in/reel1/"
cp "$ROOT/.deps/data/carphone_distorted.mp4" "$WORK/in/reel1/"
OUT="$WORK/out"
JOB="$(cd "$WORK" && SGPN_BATCH="$ROOT/target/release/sgpn-batch" SGPN_DEVICE=cpu SGPN_DEPS="$ROOT/.deps" \
  sbatch --parsable --array=1-3 --gres=none --cpus-per-task=1 --mem=4G --time=30 \
  "$ROOT/pipelines/slurm/restore.sbatch" "$WORK/in" "$OUT" --preset access --set threads=1)"
say "submitted job array $JOB (tasks 1-3)"
for _ in $(seq 900); do
  [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$JOB")" ] || die "the array did not finish in 15 minutes"

# --- checks -----------------------------------------------------------------------------------------
python3 - "$WORK" "$OUT" "$JOB" <<'PY'
import json, os, sys, glob
work, out, job = sys.argv[1:]
inputs = sorted(os.path.relpath(p, f"{work}/in") for p in glob.glob(f"{work}/in/**/*.mp4", recursive=True))
reports = sorted(glob.glob(f"{out}/.sgpn-batch/reports/{job}_*.json"))
assert len(reports) == 3, f"expected 3 task reports, found {reports}"
seen = {}
for r in reports:
    data = json.load(open(r))
    for f in data["files"]:
        rel = os.path.relpath(f["input"], f"{work}/in")
        assert f["status"] == "restored", f"{rel}: {f['status']} {f.get('error')}"
        assert f["frames"] > 0, rel
        assert rel not in seen, f"{rel} restored by two tasks ({seen[rel]} and {data['shard']})"
        seen[rel] = data["shard"]
        assert os.path.getsize(f["output"]) > 0
    print(f"task shard {data['shard']}: {[os.path.relpath(f['input'], work + '/in') for f in data['files']]}, "
          f"{sum(f['frames'] for f in data['files'])} frames, {sum(f['faces'] for f in data['files'])} faces, {data['seconds']:.0f} s")
assert sorted(seen) == inputs, f"restored {sorted(seen)}, inputs {inputs}"
audio = [f for r in reports for f in json.load(open(r))["files"] if any("audio" in n for n in f["notes"])]
assert any("short_hamilton_clip" in f["input"] for f in audio), "the stage clip's audio was kept"
print(f"every one of {len(inputs)} clips restored exactly once, by one of 3 tasks")
PY
for log in "$WORK"/sgpn-restore-"$JOB"_*.log; do sed 's/^/  /' "$log" >&2; done
say "passed (work folder $WORK)"
