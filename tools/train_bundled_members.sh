#!/usr/bin/env bash
# Trains the bundled ensemble's members (models/) from scratch with `tessera train`, on
# `tessera synth` slides, and writes their float16 copies; training is deterministic, so the
# result is models/ bit for bit (on any x86-64 CPU with AVX2 and FMA: the bits depend on the
# kernels, docs/ENGINE.md, and models/ was trained with OpenBLAS's Haswell kernel, which
# this script therefore asks for on AVX-512 CPUs too). Then scores each member, the ensemble and `stain` on
# held-out slides of other seeds.
#
#   tools/train_bundled_members.sh [WORK]     # WORK: scratch folder (default out/members)
#   CHECK=1 tools/train_bundled_members.sh    # compare with the committed models/ instead of replacing them
#   ONLY=effunet-b0-2um SCORE=0 …             # one member; no scoring
#
# Takes about 20 minutes on 2 cores (two runs of 200 steps, then the scoring).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-out/members}
export TESSERA_BLAS_CORE=${TESSERA_BLAS_CORE:-haswell}
if [ -z "${TESSERA:-}" ]; then   # TESSERA=path: a tessera binary already built
    swift build -c release --product tessera >/dev/null
    TESSERA="$(swift build -c release --show-bin-path)/tessera"
fi
TRAIN_SEEDS="11 12 13 14 15"       # synth_15 is held out while training (the last fifth)
SCORE_SEEDS="21 22 23"             # slides no member saw
mkdir -p "$WORK/data" "$WORK/score" models

for seed in $TRAIN_SEEDS; do
    [ -f "$WORK/data/synth_$seed.tiff" ] || "$TESSERA" synth --width 4096 --height 4096 --seed "$seed" --out "$WORK/data" --quiet
done
for seed in $SCORE_SEEDS; do
    [ -f "$WORK/score/synth_$seed.tiff" ] || "$TESSERA" synth --width 4096 --height 4096 --seed "$seed" --out "$WORK/score" --quiet
done

# name | pixel size (µm) | arguments after `tessera train --data DATA --out RUN`
MEMBERS=(
    "effunet-b0-1um|1|--model effunet-b0 --steps 200 --batch 8 --tile 256 --scale 2 --seed 1"
    "effunet-b0-2um|2|--model effunet-b0 --steps 200 --batch 8 --tile 256 --scale 4 --seed 2"
)
for member in "${MEMBERS[@]}"; do
    IFS='|' read -r name size arguments <<<"$member"
    [ -z "${ONLY:-}" ] || [ "$ONLY" = "$name" ] || continue
    run="$WORK/$name"
    start=$(date +%s)
    if [ ! -f "$run/model.safetensors" ]; then
        rm -rf "$run"
        # shellcheck disable=SC2086
        "$TESSERA" train --data "$WORK/data" --out "$run" $arguments --quiet
    fi
    target="models/$name.safetensors"
    [ "${CHECK:-0}" = 1 ] && target="$WORK/$name.float16.safetensors"
    "$TESSERA" weights float16 "$run/model.safetensors" --out "$target" \
        --metadata "training_command=tessera synth --width 4096 --height 4096 --seed {$TRAIN_SEEDS} --out DATA; tessera train --data DATA --out RUN $arguments" \
        --metadata "data_seeds=$TRAIN_SEEDS" --metadata "held_out=synth_15"
    echo "$name: trained and written to $target in $(( $(date +%s) - start )) s"
    if [ "${CHECK:-0}" = 1 ]; then
        if cmp -s "$target" "models/$name.safetensors"; then echo "$name: identical to models/$name.safetensors"
        else echo "$name: DIFFERS from models/$name.safetensors"; exit 1; fi
    fi
done

[ "${SCORE:-1}" = 1 ] || exit 0

# Dice on slides no member saw: each member alone, the ensemble (cluster.conf's members,
# as the cluster computes it) and the colour rule.
dice() { sed -n 's/^dice: \([0-9.]*\).*/\1/p' | tail -1; }
printf '%-10s %-16s %-16s %-10s %-10s\n' slide effunet-b0-1um effunet-b0-2um ensemble stain
for seed in $SCORE_SEEDS; do
    slide="$WORK/score/synth_$seed.tiff" truth="$WORK/score/synth_${seed}_mask.tiff"
    a=$("$TESSERA" infer "$slide" --model effunet-b0 --weights models/effunet-b0-1um.safetensors --out "$WORK/score/a.tiff" --truth "$truth" --quiet 2>&1 | dice)
    b=$("$TESSERA" infer "$slide" --model effunet-b0 --weights models/effunet-b0-2um.safetensors --out "$WORK/score/b.tiff" --truth "$truth" --quiet 2>&1 | dice)
    e=$("$TESSERA" infer "$slide" --config cluster.conf --out "$WORK/score/e.tiff" --truth "$truth" --quiet 2>&1 | dice)
    s=$("$TESSERA" infer "$slide" --model stain --out "$WORK/score/s.tiff" --truth "$truth" --quiet 2>&1 | dice)
    printf '%-10s %-16s %-16s %-10s %-10s\n' "synth_$seed" "$a" "$b" "$e" "$s"
done
