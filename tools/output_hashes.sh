#!/usr/bin/env bash
# Hashes of Tessera's outputs on fixed inputs, to show a change leaves them byte-identical:
# the demo slide through `infer --config cluster.conf`, a larger slide (SIDE², default
# 20000²) likewise, the demo slide through a two-worker cluster on loopback (tools/demo.sh),
# and `tessera gradients` of both bundled members on one fixed batch.
#
#   tools/output_hashes.sh TESSERA OUT [SIDE]      # prints "name sha256" lines
# Compare two builds: run it with each binary and diff the printed lines.
set -euo pipefail
TESSERA=$(realpath "${1:?usage: tools/output_hashes.sh TESSERA OUT [SIDE]}")
OUT=${2:?usage: tools/output_hashes.sh TESSERA OUT [SIDE]}
SIDE=${3:-20000}
PYTHON=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
hash() { sha256sum "$1" | cut -c1-16; }

"$TESSERA" synth --width 4096 --height 4096 --seed 7 --out "$OUT" --quiet >/dev/null
"$TESSERA" infer "$OUT/synth_7.tiff" --config cluster.conf --out "$OUT/demo-infer.tiff" --rle "$OUT/demo-infer.csv" >/dev/null 2>&1
echo "demo-slide infer mask $(hash "$OUT/demo-infer.tiff") rle $(hash "$OUT/demo-infer.csv")"

tools/demo.sh "$TESSERA" "$OUT/cluster" >/dev/null 2>&1
echo "demo-slide two-worker cluster mask $(hash "$OUT/cluster/mask.tiff") rle $(hash "$OUT/cluster/submission.csv")"

"$TESSERA" synth --width "$SIDE" --height "$SIDE" --seed 3 --out "$OUT" --quiet >/dev/null
"$TESSERA" infer "$OUT/synth_3.tiff" --config cluster.conf --out "$OUT/large.tiff" --rle "$OUT/large.csv" >/dev/null 2>&1
echo "${SIDE}² slide infer mask $(hash "$OUT/large.tiff") rle $(hash "$OUT/large.csv")"

# One fixed batch: two 128² images and masks from numpy's seeded generator.
"$PYTHON" - "$OUT" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(25)
np.save(f"{sys.argv[1]}/images.npy", rng.standard_normal((2, 3, 128, 128)).astype(np.float32))
np.save(f"{sys.argv[1]}/masks.npy", (rng.random((2, 128, 128)) < 0.3).astype(np.float32))
PY
for member in effunet-b0-1um effunet-b0-2um; do
    "$TESSERA" gradients --model effunet-b0 --weights "models/$member.safetensors" --images "$OUT/images.npy" \
        --masks "$OUT/masks.npy" --out "$OUT/gradients-$member.safetensors" --step adamw \
        --updated "$OUT/updated-$member.safetensors" >/dev/null
    echo "gradients $member $(hash "$OUT/gradients-$member.safetensors") updated $(hash "$OUT/updated-$member.safetensors")"
done
