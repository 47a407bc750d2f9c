#!/usr/bin/env bash
# A data-parallel training run on a cluster on loopback beside CPU hogs (twice the cores
# unless HOGS is set), with the default [heartbeat] settings: nothing is killed, so every
# ring change counted is a healthy worker taken for dead. Prints the rings, the changes,
# the coordinator's metrics of lost workers, and whether `tessera train --replay` gives
# the run's weights bit for bit.
#   tools/training_under_load.sh [WORKERS=2] [STEPS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-2}
STEPS=${2:-30}
HOGS=${HOGS:-$((2 * $(nproc)))}
TESSERA=${TESSERA:-.build/release/tessera}
WORK=$(mktemp -d /tmp/tessera-train-load-XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

for seed in 1 2 3; do "$TESSERA" synth --width 512 --height 512 --seed "$seed" --out "$WORK/data" --quiet; done
"$TESSERA" weights random --model effunet-b0 --out "$WORK/b0.safetensors" > /dev/null
cat > "$WORK/cluster.conf" <<EOF
[coordinator]
workers = ipc://$WORK/w.sock
clients = ipc://$WORK/c.sock
metrics = ipc://$WORK/m.sock
state = $WORK/state

[member b0]
architecture = effunet-b0
weights = $WORK/b0.safetensors
EOF

for _ in $(seq 1 "$HOGS"); do yes > /dev/null & PIDS+=($!); done
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $HOGS CPU hogs beside; $WORKERS workers × 1 thread, $STEPS steps, default [heartbeat]"
"$TESSERA" coordinator --config "$WORK/cluster.conf" 2> "$WORK/coordinator.log" & PIDS+=($!)
sleep 1
for i in $(seq 1 "$WORKERS"); do "$TESSERA" worker --config "$WORK/cluster.conf" --member b0 --threads 1 2> "$WORK/worker$i.log" & PIDS+=($!); done
sleep 3
start=$(date +%s)
"$TESSERA" train --config "$WORK/cluster.conf" --member b0 --data "$WORK/data" --out "$WORK/model.safetensors" \
    --tile 64 --batch 6 --steps "$STEPS" --checkpoint-every 10 --validate-every 0 --precise-bn 1 --quiet
echo "run: $(( $(date +%s) - start )) s"
python3 - "$WORK/state/train-1/job.json" <<'EOF'
import json, sys
record = json.load(open(sys.argv[1]))
rings = [(r["step"], len(r["workers"])) for r in record["rings"]]
print(f"rings (step, size): {rings}; ring changes: {len(rings) - 1}")
EOF
"$TESSERA" status --config "$WORK/cluster.conf" --metrics | grep -E "tessera_workers_lost_total|tessera_worker_longest_silence|tessera_training_ring_changes_total"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
"$TESSERA" train --replay "$WORK/state/train-1" --data "$WORK/data" --quiet
