#!/usr/bin/env bash
# The engine beside PyTorch and onnxruntime, same models, same weights, same run:
# median ms per 512x512 tile at 2 threads, and Tessera's ratio to each.
#   bench/engine.sh                 (MODELS=effunet-b0,effunet-b5,unext50 REPEATS=5 ROUNDS=5)
# This machine is shared and its speed drifts by tens of percent over minutes, so the
# runtimes take turns: each round runs the references and then Tessera on one model, and
# the figures are medians over rounds (ratios are taken within a round, then the median);
# odd rounds run the references first, even rounds Tessera.
# Sets up a venv in .venv-bench (CPU torch, onnxruntime, efficientnet_pytorch) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export REPEATS=${REPEATS:-5} THREADS=${THREADS:-2} TILE=${TILE:-512}
models=${MODELS:-effunet-b0,effunet-b5,unext50} rounds=${ROUNDS:-5}
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q "torch==2.13.0+cpu" numpy onnx onnxruntime efficientnet_pytorch==0.7.1
fi
swift build -c release --product tessera >/dev/null
tessera=$(swift build -c release --show-bin-path)/tessera
results=$(mktemp)
trap 'rm -f "$results"' EXIT
references() {
  MODELS=$1 .venv-bench/bin/python bench/engine_reference.py 2>/dev/null | sed "s/^{/{\"round\":$2,/" >> "$results"
}
ours() {
  "$tessera" bench engine --models "$1" --repeats "$REPEATS" --threads "$THREADS" --tile "$TILE" --json \
    | sed "s/^{/{\"round\":$2,\"runtime\":\"tessera\",/" >> "$results"
}
for round in $(seq "$rounds"); do
  for model in ${models//,/ }; do
    echo "round $round/$rounds: $model" >&2
    # Who runs first alternates, so a drift of the machine's speed favours neither.
    if (( round % 2 )); then references "$model" "$round"; ours "$model" "$round"
    else ours "$model" "$round"; references "$model" "$round"; fi
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
models = list(dict.fromkeys(r["model"] for r in rows))
print(f"{'model':12} {'tessera ms':>10} {'GFLOP/s':>8} {'RSS MB':>7}   {'reference':24} {'ms':>6}   tessera / reference (rounds)")
for model in models:
    ours = {r["round"]: r for r in rows if r["model"] == model and r["runtime"] == "tessera"}
    ms = statistics.median(r["ms"] for r in ours.values())
    gflops = statistics.median(r["gflops"] for r in ours.values())
    rss = max(r["rss_mb"] for r in ours.values())
    for runtime in dict.fromkeys(r["runtime"] for r in rows if r["model"] == model and r["runtime"] != "tessera"):
        theirs = {r["round"]: r["ms"] for r in rows if r["model"] == model and r["runtime"] == runtime}
        ratios = sorted(ours[k]["ms"] / theirs[k] for k in theirs if k in ours)
        spread = ", ".join(f"{x:.2f}" for x in ratios)
        print(f"{model:12} {ms:10.0f} {gflops:8.0f} {rss:7.0f}   {runtime:24} {statistics.median(theirs.values()):6.0f}   "
              f"{statistics.median(ratios):.2f}  ({spread})")
PY
