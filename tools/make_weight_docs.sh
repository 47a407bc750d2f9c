#!/usr/bin/env bash
# Regenerates docs/weights/MODEL.txt: every state_dict key each CNN member loads, with its
# shape, in loading order (from `tessera weights keys`).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product tessera >/dev/null
tessera=$(swift build -c release --show-bin-path)/tessera
mkdir -p docs/weights
for model in effunet-b0 effunet-b1 effunet-b2 effunet-b3 effunet-b4 effunet-b5 effunet-b6 effunet-b7 unext50; do
  "$tessera" weights keys --model "$model" > "docs/weights/$model.txt"
done
