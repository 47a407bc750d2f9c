#!/usr/bin/env bash
# The status page in a real browser (Debian's chromium, headless): a loopback cluster runs a
# slide job, then a training run; each time the page is loaded, its DOM checked (workers by
# member, the running job, the training run's loss and Dice plots drawn), and a screenshot
# taken: docs/status-page-job.png and docs/status-page-training.png.
#
#   tools/status_page_check.sh [TESSERA] [WORK]     # needs chromium (apt-get install chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
TESSERA=${1:-$(swift build -c release --show-bin-path)/tessera}
WORK=${2:-out/status-page}
PORT=${STATUS_PORT:-8091}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 2; }
rm -rf "$WORK" && mkdir -p "$WORK/data"
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done' EXIT

cat > "$WORK/cluster.conf" <<EOF
[coordinator]
workers = ipc://$PWD/$WORK/w.sock
clients = ipc://$PWD/$WORK/c.sock
metrics = ipc://$PWD/$WORK/m.sock
state = $PWD/$WORK/state
[http]
listen = 127.0.0.1:$PORT
token = $TOKEN
[inference]
tile = 256
margin = 32
[heartbeat]
interval = 0.5
training_liveness = 20
[member b0]
architecture = effunet-b0
[member slow]
architecture = constant
value = 0.6
delay = 0.4
EOF
for seed in 1 2 3; do "$TESSERA" synth --width 768 --height 768 --seed "$seed" --out "$WORK/data" --quiet >/dev/null; done
"$TESSERA" synth --width 2048 --height 2048 --seed 9 --out "$WORK" --quiet >/dev/null

"$TESSERA" coordinator --config "$WORK/cluster.conf" 2> "$WORK/coordinator.log" & PIDS+=($!)
sleep 1
"$TESSERA" worker --config "$WORK/cluster.conf" --member slow 2> "$WORK/worker-slow.log" & PIDS+=($!)
for i in 1 2; do "$TESSERA" worker --config "$WORK/cluster.conf" --member b0 --threads 1 2> "$WORK/worker-b0-$i.log" & PIDS+=($!); done
URL="http://127.0.0.1:$PORT/?token=$TOKEN"

# page NAME: the DOM after the page's first refreshes, and a screenshot.
page() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
        --virtual-time-budget=4000 --dump-dom "$URL" > "$WORK/$1.html" 2>/dev/null
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
        --virtual-time-budget=4000 --screenshot="docs/status-page-$1.png" "$URL" >/dev/null 2>&1
}
check() { grep -q "$2" "$WORK/$1.html" || { echo "status page ($1): no $3" >&2; exit 1; }; }

# 1. A slide job: the slow member's worker busy, the job running with its progress.
"$TESSERA" submit "$WORK/synth_9.tiff" --config "$WORK/cluster.conf" --out "$WORK/mask.tiff" --quiet & PIDS+=($!)
SUBMIT=$!
sleep 4
page job
check job 'data-loaded="yes"' "loaded status (the page never reached /status.json)"
check job '<td>slow</td><td>slow@' "worker of member slow"
check job '<td>b0</td><td>b0@' "worker of member b0"
check job 'class="state-running">running' "running job"
wait "$SUBMIT"
echo "status page during a slide job: workers and the running job shown (docs/status-page-job.png)"

# 2. A training run of member b0 on its two workers: loss and Dice curves.
"$TESSERA" train --config "$WORK/cluster.conf" --member b0 --data "$WORK/data" --out "$WORK/b0.safetensors" \
    --steps 60 --batch 4 --tile 64 --scale 2 --checkpoint-every 10 --precise-bn 2 --quiet > "$WORK/train.log" 2>&1 & PIDS+=($!)
for _ in $(seq 600); do
    "$TESSERA" status --config "$WORK/cluster.conf" 2>/dev/null | grep -qE " ([3-9][0-9])/60 steps" && break
    sleep 0.5
done
page training
check training 'class="loss" width="420" height="160" data-points="[1-9]' "loss curve drawn"
check training 'class="dice" width="420" height="160" data-points="[1-9]' "Dice points drawn"
check training 'member b0' "training run of member b0"
echo "status page during a training run: loss and held-out Dice plotted (docs/status-page-training.png)"
