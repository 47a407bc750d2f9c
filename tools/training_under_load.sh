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
. tools/loopback_cluster.sh

for seed in 1 2 3; do "$TESSERA" synth --width 512 --height 512 --seed "$seed" --out "$WORK/data" --quiet; done
"$TESSERA" weights random --model effunet-b0 --out "$WORK/b0.safetensors" > /dev/null
write_config b0 effunet-b0 "$WORK/b0.safetensors"
start_hogs "$HOGS"
echo "$WORKERS workers × 1 thread, $STEPS steps, default [heartbeat]"
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
