#!/usr/bin/env bash
# A slide job through a 2-worker cluster on loopback beside CPU hogs (one per core unless
# HOGS is set), against `tessera infer --config` on the same slide: prints whether the masks
# are the same bytes, the time of each, and how many workers the coordinator counted gone
# and tiles it requeued (a healthy worker on a busy machine should never count as silent).
#   tools/slide_under_load.sh [SIDE=8192] [MODEL=effunet-b0]
set -euo pipefail
cd "$(dirname "$0")/.."
SIDE=${1:-8192}
MODEL=${2:-effunet-b0}
HOGS=${HOGS:-$(nproc)}
TESSERA=${TESSERA:-.build/release/tessera}
. tools/loopback_cluster.sh

"$TESSERA" weights random --model "$MODEL" --out "$WORK/member.safetensors" > /dev/null
"$TESSERA" synth --width "$SIDE" --height "$SIDE" --seed 5 --out "$WORK" --quiet
write_config m "$MODEL" "$WORK/member.safetensors" "[inference]" "tile = 512" "margin = 32"
start_hogs "$HOGS"
echo "${SIDE}² slide, $MODEL"

start=$(date +%s%N)
"$TESSERA" infer --config "$WORK/cluster.conf" "$WORK/synth_5.tiff" --out "$WORK/infer.tiff" --threads 1 --quiet
infer_seconds=$(( ($(date +%s%N) - start) / 1000000000 ))

"$TESSERA" coordinator --config "$WORK/cluster.conf" 2> "$WORK/coordinator.log" & PIDS+=($!)
sleep 1
for i in 1 2; do "$TESSERA" worker --config "$WORK/cluster.conf" --member m --threads 1 2> "$WORK/worker$i.log" & PIDS+=($!); done
sleep 2
start=$(date +%s%N)
"$TESSERA" submit "$WORK/synth_5.tiff" --config "$WORK/cluster.conf" --out "$WORK/cluster.tiff" --quiet
cluster_seconds=$(( ($(date +%s%N) - start) / 1000000000 ))

if cmp -s "$WORK/infer.tiff" "$WORK/cluster.tiff"; then same="the same bytes"; else same="DIFFERENT"; fi
echo "masks: $same; infer --config (1 thread) $infer_seconds s, cluster (2 workers × 1 thread) $cluster_seconds s"
"$TESSERA" status --config "$WORK/cluster.conf" --metrics | grep -E "tessera_workers_lost_total|tessera_tiles_requeued_total|tessera_worker_longest_silence"
[ "$same" = "the same bytes" ]
