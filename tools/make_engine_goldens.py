#!/usr/bin/env python3
"""Writes Tests/EngineTests/Goldens: PyTorch's outputs for Tessera's engine to match.

Weights come from tools/engine_reference.py's deterministic generator (mirrored in
Swift), inputs likewise, so only small outputs are committed. Every file is raw
little-endian float32; manifest.json gives each one's shape.

Needs torch (CPU), numpy and efficientnet_pytorch==0.7.1 in a tools venv:
    python3 -m venv venv && venv/bin/pip install "torch==2.13.0+cpu" numpy efficientnet_pytorch==0.7.1
    venv/bin/python tools/make_engine_goldens.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from engine_reference import fill, value_for  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "EngineTests", "Goldens")
manifest = {}


def save(name, tensor):
    array = tensor.detach().numpy().astype("<f4")
    array.tofile(os.path.join(OUT, name + ".bin"))
    manifest[name] = list(array.shape)


def deterministic_input(name, shape):
    """Inputs use the generator's 'bias' rule scaled up: uniform(-1, 1) values."""
    return torch.from_numpy(value_for(name + ".bias", shape) * np.float32(10))


def efficientnet_features(variant, size):
    from efficientnet_pytorch import EfficientNet
    model = fill(EfficientNet.from_name("efficientnet-" + variant)).eval()
    x = deterministic_input("input", (1, 3, size, size))
    save(f"effnet_{variant}_input", x[0])
    with torch.no_grad():
        y = model._swish(model._bn0(model._conv_stem(x)))
        features = [y]
        # The last block of the /4, /8, /16 and /32 stages.
        ends = []
        index = 0
        for repeats in [1, 2, 2, 3, 3, 4, 1]:
            count = int(np.ceil(model._global_params.depth_coefficient * repeats))
            index += count
            ends.append(index - 1)
        for i, block in enumerate(model._blocks):
            y = block(y)
            if i in (ends[1], ends[2], ends[4], ends[6]):
                features.append(y)
    for level, feature in enumerate(features):
        save(f"effnet_{variant}_feature{level}", feature[0])


def unet(name, model, size):
    from seed_models import EffUnet, UneXt50  # noqa: F401
    model = fill(model).eval()
    x = deterministic_input("input", (1, 3, size, size))
    save(f"{name}_input", x[0])
    with torch.no_grad():
        features = model.encode(x)
        logits = model.decode(features)
    for level, feature in enumerate(features):
        save(f"{name}_feature{level}", feature[0])
    save(f"{name}_logits", logits[0])


def layers():
    x = deterministic_input("layers", (1, 3, 5, 7))
    save("layers_input", x[0])
    for align in (False, True):
        for size in ((10, 14), (17, 23), (5, 7), (3, 4)):
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=align)
            save(f"bilinear_{'aligned' if align else 'half'}_{size[0]}x{size[1]}", y[0])
    z = deterministic_input("shuffle", (1, 12, 3, 4))
    save("shuffle_input", z[0])
    save("shuffle_output", F.pixel_shuffle(z, 2)[0])
    save("maxpool_output", F.max_pool2d(x, 3, 2, 1)[0])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    layers()
    for variant in ("b0", "b5"):
        efficientnet_features(variant, 64)
    from seed_models import EffUnet, UneXt50
    unet("effunet_b0", EffUnet("b0"), 64)
    unet("unext50", UneXt50(), 64)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
