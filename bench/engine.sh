#!/usr/bin/env bash
# The engine beside PyTorch and onnxruntime, same models, same weights, same run:
# median ms per 512x512 tile at 2 threads, and Tessera's ratio to each.
#   bench/engine.sh                       (MODELS=effunet-b0,effunet-b5,unext50 REPEATS=5)
# Sets up a venv in .venv-bench (CPU torch, onnxruntime, efficientnet_pytorch) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export MODELS=${MODELS:-effunet-b0,effunet-b5,unext50} REPEATS=${REPEATS:-5} THREADS=${THREADS:-2} TILE=${TILE:-512}
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q "torch==2.13.0+cpu" numpy onnx onnxruntime efficientnet_pytorch==0.7.1
fi
swift build -c release --product tessera >/dev/null
tessera=$(swift build -c release --show-bin-path)/tessera
reference=$(mktemp); ours=$(mktemp)
.venv-bench/bin/python bench/engine_reference.py 2>/dev/null > "$reference"
"$tessera" bench engine --models "$MODELS" --repeats "$REPEATS" --threads "$THREADS" --tile "$TILE" --json > "$ours"
python3 - "$reference" "$ours" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = {j["model"]: j for j in (json.loads(l) for l in open(sys.argv[2]) if l.strip())}
print(f"{'model':12} {'tessera ms':>10} {'GFLOP/s':>8} {'RSS MB':>7}   reference ms   tessera / reference")
for model, t in ours.items():
    for r in (r for r in ref if r["model"] == model):
        print(f"{model:12} {t['ms']:10.0f} {t['gflops']:8.0f} {t['rss_mb']:7.0f}   {r['runtime']:24} {r['ms']:6.0f}   {t['ms'] / r['ms']:.2f}")
PY
rm -f "$reference" "$ours"
