#!/usr/bin/env python3
"""Writes Tests/EngineTests/Goldens/training.json: PyTorch's values for Tessera's training
pieces to match — the losses and their autograd gradients, the optimisers' steps, gradient
clipping. Inputs are made here from a fixed linear congruential sequence and stored beside
the outputs, so the Swift tests read both from the file.

Needs torch (CPU) in a tools venv:
    python3 -m venv venv && venv/bin/pip install "torch==2.13.0+cpu" numpy
    venv/bin/python tools/make_training_goldens.py
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "EngineTests", "Goldens", "training.json")


def sequence(count, seed, low, high):
    """Floats in [low, high) from a fixed LCG, exactly representable in float32."""
    values, state = [], seed
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        values.append(float(torch.tensor(low + (high - low) * (state >> 11) / 2**53, dtype=torch.float32)))
    return values


def soft_dice(logits, masks):
    """1 − (2·Σσ(z)·y + 1) / (Σσ(z) + Σy + 1) per image, averaged over the batch."""
    p = torch.sigmoid(logits).flatten(1)
    y = masks.flatten(1)
    return (1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)).mean()


def losses():
    batch, height, width = 2, 6, 5
    z = sequence(batch * height * width, 1, -6, 6)
    y = [1.0 if v > 0.3 else 0.0 for v in sequence(batch * height * width, 2, 0, 1)]
    cases = []
    for name, pos_weight in [("bce", 1.0), ("bce", 2.5), ("dice", None), ("bceDice", 1.0)]:
        logits = torch.tensor(z, dtype=torch.float32).reshape(batch, 1, height, width).requires_grad_()
        masks = torch.tensor(y, dtype=torch.float32).reshape(batch, 1, height, width)
        loss = torch.zeros((), dtype=torch.float32)
        if name in ("bce", "bceDice"):
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(logits, masks, pos_weight=torch.tensor(pos_weight))
        if name in ("dice", "bceDice"):
            loss = loss + soft_dice(logits, masks)
        loss.backward()
        cases.append({"loss": name, "positiveWeight": pos_weight, "value": loss.item(), "gradients": logits.grad.flatten().tolist()})
    return {"images": batch, "pixels": height * width, "logits": z, "masks": y, "cases": cases}


def optimisers():
    count = 16
    start = sequence(count, 3, -2, 2)
    steps = [sequence(count, 10 + k, -0.5, 0.5) for k in range(4)]
    cases = []
    configurations = [
        ("adamW", {"lr": 1e-2}, lambda p: torch.optim.AdamW([p], lr=1e-2)),
        ("adamW", {"lr": 3e-3, "weightDecay": 0.1, "beta1": 0.85}, lambda p: torch.optim.AdamW([p], lr=3e-3, weight_decay=0.1, betas=(0.85, 0.999))),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "weightDecay": 1e-4}, lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4)),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)),
    ]
    for name, settings, make in configurations:
        parameter = torch.nn.Parameter(torch.tensor(start, dtype=torch.float32))
        optimiser = make(parameter)
        after = []
        for gradient in steps:
            parameter.grad = torch.tensor(gradient, dtype=torch.float32)
            optimiser.step()
            after.append(parameter.detach().tolist())
        cases.append({"optimizer": name, "settings": settings, "after": after})
    return {"start": start, "gradients": steps, "cases": cases}


def clipping():
    a = torch.tensor(sequence(10, 20, -3, 3), dtype=torch.float32)
    b = torch.tensor(sequence(7, 21, -3, 3), dtype=torch.float32)
    before = [a.tolist(), b.tolist()]
    parameters = [torch.nn.Parameter(torch.zeros_like(a)), torch.nn.Parameter(torch.zeros_like(b))]
    parameters[0].grad, parameters[1].grad = a.clone(), b.clone()
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm=1.5)
    return {"maxNorm": 1.5, "before": before, "norm": norm.item(), "after": [p.grad.tolist() for p in parameters]}


if __name__ == "__main__":
    golden = {"torch": torch.__version__, "losses": losses(), "optimizers": optimisers(), "clipping": clipping()}
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes) with torch {torch.__version__}")
