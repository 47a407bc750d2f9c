#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (.pth) of EffUnet or UneXt50 to the .safetensors file a
Tessera member loads.

    python3 tools/convert_checkpoint.py model.pth model.safetensors [--model effunet-b5]

The state_dict is found inside common wrappers ({"state_dict": ...}, {"model": ...},
{"model_state_dict": ...}); "module." (DataParallel) and "model." (Lightning) prefixes
are stripped; batch-norm step counters are dropped; tensors are stored as contiguous
float32. With --model, the result is checked with `tessera weights check`.
Needs torch and safetensors (pip install torch safetensors).
"""
import argparse
import subprocess
import sys

import torch
from safetensors.torch import save_file


def state_dict_of(checkpoint):
    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint.state_dict()
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    if isinstance(checkpoint, dict) and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    sys.exit("no state_dict found in the checkpoint (looked for state_dict, model_state_dict, model)")


def strip(state):
    for prefix in ("module.", "model."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("output")
    parser.add_argument("--model", help="check the result as this architecture (needs tessera on PATH or --tessera)")
    parser.add_argument("--tessera", default="tessera")
    args = parser.parse_args()
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    state = strip(state_dict_of(checkpoint))
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()
               if not k.endswith("num_batches_tracked") and v.is_floating_point()}
    save_file(tensors, args.output)
    print(f"{args.output}: {len(tensors)} tensors")
    if args.model:
        sys.exit(subprocess.call([args.tessera, "weights", "check", "--model", args.model, args.output]))


if __name__ == "__main__":
    main()
