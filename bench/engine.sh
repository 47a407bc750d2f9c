#!/usr/bin/env bash
# The engine beside PyTorch and onnxruntime, same models, same weights, same run:
# ms per 512x512 tile at 2 threads, and Tessera's ratio to each.
#   bench/engine.sh                 (MODELS=effunet-b0,effunet-b5,unext50 ROUNDS=15 THREADS=2)
# This machine is shared and its speed drifts by tens of percent over minutes, so the
# runtimes take turns tile by tile (bench/engine_reference.py): a ratio is taken within
# each round of one tile per runtime, and the medians over rounds are printed.
# Sets up a venv in .venv-bench (CPU torch, onnxruntime, efficientnet_pytorch) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUNDS=${ROUNDS:-15} THREADS=${THREADS:-2} TILE=${TILE:-512} MODELS=${MODELS:-effunet-b0,effunet-b5,unext50}
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q "torch==2.13.0+cpu" numpy onnx onnxruntime efficientnet_pytorch==0.7.1
fi
swift build -c release --product tessera >/dev/null
.venv-bench/bin/python bench/engine_reference.py "$(swift build -c release --show-bin-path)/tessera"
