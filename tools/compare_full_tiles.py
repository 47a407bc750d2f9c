#!/usr/bin/env python3
"""Compares a full tile (default 512x512) of Tessera's engine with PyTorch on the same
weights file: the check the golden tests make at 64x64, at the real tile size where
EfficientNet's static padding differs from dynamic SAME. Not run in CI (needs torch).

    tools/compare_full_tiles.py --model effunet-b5 --slide SLIDE.tiff --weights W.safetensors \\
        [--tessera .build/release/tessera] [--at 0,0] [--tile 512]

Without --weights, deterministic weights are written with `tessera weights random`.
Prints max|dy| / max|y| of the logits.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from seed_models import EffUnet, UneXt50  # noqa: E402

MEAN = np.array([0.65459856, 0.48386562, 0.69428385], np.float32)
STD = np.array([0.15167958, 0.23584107, 0.13146145], np.float32)


def reflect(i, n):
    if n == 1:
        return 0
    p = 2 * (n - 1)
    m = i % p
    return m if m < n else p - m


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--slide", required=True)
    parser.add_argument("--weights")
    parser.add_argument("--tessera", default=".build/release/tessera")
    parser.add_argument("--at", default="0,0")
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    weights = args.weights or os.path.join(folder, "weights.safetensors")
    if not args.weights:
        subprocess.check_call([args.tessera, "weights", "random", "--model", args.model, "--out", weights])
    ours_path = os.path.join(folder, "logits.npy")
    subprocess.check_call([args.tessera, "infer", args.slide, "--model", args.model, "--weights", weights,
                           "--tile", str(args.tile), f"--at={args.at}", "--logits", ours_path, "--out", "/dev/null"])
    ours = np.load(ours_path)[0]

    image = tifffile.imread(args.slide)[..., :3]
    x0, y0 = (int(v) for v in args.at.split(","))
    h, w = image.shape[:2]
    rows = [reflect(y0 + i, h) for i in range(args.tile)]
    cols = [reflect(x0 + i, w) for i in range(args.tile)]
    tile = image[np.ix_(rows, cols)].astype(np.float32)
    x = ((tile / np.float32(255) - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)

    model = UneXt50() if args.model == "unext50" else EffUnet(args.model.split("-")[1])
    state = load_file(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked") and not k.startswith("encoder._conv_head")
               and not k.startswith("encoder._bn1") and not k.startswith("encoder._fc") and k != "aspp.conv1.weight"]
    if missing or unexpected:
        sys.exit(f"weights do not fit the PyTorch model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    torch.set_num_threads(2)
    with torch.no_grad():
        reference = model.eval()(torch.from_numpy(x))[0, 0].numpy()
    error = np.abs(ours - reference).max() / np.abs(reference).max()
    print(f"{args.model} {args.tile}x{args.tile} at {args.at}: max|dy|/max|y| = {error:.3g} "
          f"(max|y| = {np.abs(reference).max():.3g})")


if __name__ == "__main__":
    main()
