#!/usr/bin/env bash
# `make demo`: the real thing on this machine. A synthetic slide goes through a coordinator
# and one worker per bundled member (models/, cluster.conf's ensemble) on loopback, started
# here as background processes and stopped here by PID — on success, failure or Ctrl-C.
#
#   tools/demo.sh TESSERA [OUT] [SIZE] [SEED]
set -euo pipefail
TESSERA=${1:?usage: tools/demo.sh TESSERA [OUT] [SIZE] [SEED]}
OUT=${2:-out/demo}
SIZE=${3:-4096}
SEED=${4:-7}
HTTP_PORT=${DEMO_HTTP_PORT:-8090}
# Paths are the caller's: made absolute before moving to the repository (for models/).
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
case "$TESSERA" in */*) TESSERA=$(realpath "$TESSERA") ;; esac
cd "$(dirname "$0")/.."
start=$(date +%s.%N)

PIDS=()
stop_all() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ "$status" = 0 ] || echo "demo: stopped (exit $status); logs in $OUT/*.log" >&2
    exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for model in models/effunet-b0-1um.safetensors models/effunet-b0-2um.safetensors; do
    [ -f "$model" ] || { echo "demo: $model is missing (tools/train_bundled_members.sh makes it)" >&2; exit 1; }
done
mkdir -p "$OUT"
rm -rf "$OUT/state"

# The repository's cluster.conf with this run's endpoints: ipc sockets in OUT (no port to
# clash with), the state folder in OUT, and the status page on loopback.
awk -v out="$OUT" -v port="$HTTP_PORT" '
    /^\[/ { section = $0 }
    section == "[coordinator]" && /^workers *=/ { print "workers = ipc://" out "/workers.sock"; next }
    section == "[coordinator]" && /^clients *=/ { print "clients = ipc://" out "/clients.sock"; next }
    section == "[coordinator]" && /^metrics *=/ { print "metrics = ipc://" out "/metrics.sock"; next }
    section == "[coordinator]" && /^state *=/ { print "state = " out "/state"; next }
    section == "[http]" { next }
    { print }
    END { print "\n[http]\nlisten = 127.0.0.1:" port }
' cluster.conf > "$OUT/cluster.conf"
CONFIG="$OUT/cluster.conf"

"$TESSERA" synth --width "$SIZE" --height "$SIZE" --seed "$SEED" --out "$OUT" --quiet >/dev/null
SLIDE="$OUT/synth_$SEED.tiff" TRUTH="$OUT/synth_${SEED}_mask.tiff"

"$TESSERA" coordinator --config "$CONFIG" 2> "$OUT/coordinator.log" & PIDS+=($!)
for _ in $(seq 100); do grep -q "ready" "$OUT/coordinator.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready" "$OUT/coordinator.log" || { cat "$OUT/coordinator.log" >&2; exit 1; }
ADDRESS=$(grep -o "http://[^ ]*/" "$OUT/coordinator.log" | head -1)
for member in b0-1um b0-2um; do
    "$TESSERA" worker --config "$CONFIG" --member "$member" --threads 1 2> "$OUT/worker-$member.log" & PIDS+=($!)
done
echo "Coordinator and 2 workers (b0-1um, b0-2um) running; status page: $ADDRESS"

submitted=$(date +%s.%N)
# In the background with a wait, so that a signal to this script is handled at once (bash
# runs traps only between commands, and a wait is interrupted by them).
"$TESSERA" submit "$SLIDE" --config "$CONFIG" --out "$OUT/mask.tiff" --rle "$OUT/submission.csv" --geojson "$OUT/objects.geojson" & PIDS+=($!)
wait $!
seconds=$(awk -v a="$submitted" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
tiles=$("$TESSERA" status --config "$CONFIG" --metrics | sed -n 's/^tessera_tiles_done_total \([0-9]*\).*/\1/p')
"$TESSERA" overlay "$SLIDE" "$OUT/mask.tiff" --truth "$TRUTH" --out "$OUT/overlay.png" >/dev/null
dice=$("$TESSERA" dice "$OUT/mask.tiff" "$TRUTH")

echo
awk -v dice="$dice" -v tiles="$tiles" -v s="$seconds" -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {
    printf "Dice %.4f against the exact mask; %d tiles in %.1f s through the cluster (%.1f tiles/s); %.0f s in all\n", dice, tiles, s, tiles / s, b - a }'
echo "mask $OUT/mask.tiff · RLE $OUT/submission.csv · GeoJSON $OUT/objects.geojson · overlay $OUT/overlay.png"
echo
echo "The same on your slide and machines (cluster.conf: endpoints, members, [http]):"
echo "  tessera coordinator --config cluster.conf                 # on one machine"
echo "  tessera worker --config cluster.conf --member b0-1um      # on each node, one per member slot (b0-2um too)"
echo "  tessera submit SLIDE.svs --config cluster.conf --out mask.tiff --rle submission.csv"
