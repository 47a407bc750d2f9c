#!/usr/bin/env bash
# Training steps beside PyTorch, same model, same weights, same batch, same run: seconds per
# step (forward, backward, AdamW) of EffUnet-b0 on 8 tiles of 256² at 2 threads, the ratio,
# and both peak RSS.
#   bench/train.sh                  (MODEL=effunet-b0 ROUNDS=5 THREADS=2 BATCH=8 TILE=256)
# The runtimes take turns step by step (bench/train_reference.py) so that the machine's
# drift cancels. Sets up a venv in .venv-bench (CPU torch, efficientnet_pytorch) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUNDS=${ROUNDS:-5} THREADS=${THREADS:-2} BATCH=${BATCH:-8} TILE=${TILE:-256} MODEL=${MODEL:-effunet-b0}
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q "torch==2.13.0+cpu" numpy onnx onnxruntime efficientnet_pytorch==0.7.1
fi
swift build -c release --product tessera >/dev/null
.venv-bench/bin/python bench/train_reference.py "$(swift build -c release --show-bin-path)/tessera"
