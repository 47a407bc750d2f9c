#!/usr/bin/env python3
"""Loads weights Tessera wrote (tessera train's model.safetensors or a checkpoint's
weights.safetensors, or tessera weights random) into the seed's PyTorch module with
load_state_dict(strict=True), as a Kaggle notebook does, and runs one forward pass.

    tools/check_strict_load.py --model effunet-b0 W.safetensors [W2.safetensors …]

Needs torch, safetensors and efficientnet_pytorch (for EffUnet). Exits non-zero, naming
the missing or unexpected keys, when a file does not load.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_models import EffUnet, UneXt50  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="effunet-b0 … effunet-b7 or unext50")
    parser.add_argument("weights", nargs="+")
    args = parser.parse_args()
    failed = False
    for path in args.weights:
        model = UneXt50() if args.model == "unext50" else EffUnet(args.model.split("-")[1])
        state = load_file(path)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            print(f"{path}: {error}")
            failed = True
            continue
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, 3, 64, 64))
        print(f"{path}: loads with strict=True ({len(state)} tensors); forward pass {tuple(out.shape)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
