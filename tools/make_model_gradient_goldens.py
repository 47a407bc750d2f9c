#!/usr/bin/env python3
"""PyTorch autograd's gradients of the seed's whole U-Nets, for Tessera's training engine.

For EffUnet-b0 and UneXt50 with deterministic weights (tools/engine_reference.py, mirrored
in Swift, so no weight file is committed; running statistics are non-trivial) on a batch of
2 deterministic 64×64 images and disc masks, it runs one training-mode forward pass
(batch statistics, Dropout2d off), the default loss (mean BCE-with-logits + soft Dice per
image), backward, and one torch.optim.AdamW step (lr 1e-3, betas 0.9/0.999, eps 1e-8,
weight decay 0.01).

    venv/bin/python tools/make_model_gradient_goldens.py
        writes Tests/EngineTests/Goldens/model_gradients.json, for batch norms in training
        mode ("batch") and frozen: per tensor the gradient's norm, sampled entries (the
        largest among them), its error scale and bound, and sampled entries of the updated
        weights and running statistics.
    venv/bin/python tools/make_model_gradient_goldens.py --check .build/release/tessera
        also runs `tessera gradients` on the same batch and compares every entry of every
        tensor with PyTorch in float32 and float64, printing the worst max|Δ|/max|g|.

With batch statistics over few values (a 64×64 input is 2×2 at /32, and ASPP's pooled
branch normalises one value per image) the gradients are ill-conditioned: PyTorch's own
float32 result lies up to 1e-1 (UneXt50) from the float64 one. There the bound is twice
PyTorch's own error; with frozen norms the problem is well-conditioned and the bound is
1e-4 everywhere.

Needs torch (CPU), numpy, safetensors and efficientnet_pytorch==0.7.1 in a tools venv.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from engine_reference import fill, fnv1a, uniform_fast  # noqa: E402
from seed_models import EffUnet, UneXt50  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "EngineTests", "Goldens", "model_gradients.json")
BATCH, SIDE, LR = 2, 64, 1e-3


def batch():
    """Images: uniform(-1, 1) from SplitMix64 seeded by FNV-1a of "images", image b times
    2/(1 + 2b) plus b/2 — images of unlike statistics, as real tiles are: with two alike
    images, batch norms over 1×1 maps (ASPP's pooled branch) normalise two nearly equal
    values and the gradients become chaotic in float32, PyTorch's included. Masks: a disc
    of radius 12 + 4·b at (20 + 8·b, 30) in image b (centres are pixel indices)."""
    u = uniform_fast(fnv1a("images"), BATCH * 3 * SIDE * SIDE).reshape(BATCH, 3, SIDE, SIDE)
    images = np.stack([u[b] * np.float32(1.5 / (1 + 2 * b)) + np.float32(b / 4) for b in range(BATCH)]).astype(np.float32)
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    masks = np.stack([((y - (20 + 8 * b) * SIDE // 64) ** 2 + (x - 30 * SIDE // 64) ** 2 <= ((12 + 4 * b) * SIDE // 64) ** 2) for b in range(BATCH)]).astype(np.float32)
    return torch.from_numpy(images), torch.from_numpy(masks)


def default_loss(logits, masks):
    z = logits[:, 0]
    bce = F.binary_cross_entropy_with_logits(z, masks)
    p = torch.sigmoid(z).flatten(1)
    y = masks.flatten(1)
    dice = (1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)).mean()
    return bce + dice


def model_of(name, frozen, dtype):
    model = fill(EffUnet("b0") if name == "effunet-b0" else UneXt50()).to(dtype)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout2d) or (frozen and isinstance(module, nn.BatchNorm2d)):
            module.eval()
    return model


def run(name, frozen, dtype=torch.float32, jitter=None):
    """Loss, gradients by key, and the floating-point state after one AdamW step; with
    `jitter` (a seed), the images are perturbed by a relative 1e-7, about float32's own
    rounding, to sample how far rounding alone moves the results."""
    model = model_of(name, frozen, dtype)
    images, masks = batch()
    if jitter is not None:
        noise = torch.from_numpy(uniform_fast(fnv1a(f"jitter {jitter}"), images.numel()).reshape(images.shape))
        images = images * (1 + 1e-7 * noise)
    loss = default_loss(model(images.to(dtype)), masks.to(dtype))
    loss.backward()
    gradients = {k: p.grad.detach().clone().double() for k, p in model.named_parameters() if p.grad is not None}
    torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01).step()
    state = {k: v.detach().clone().double() for k, v in model.state_dict().items() if v.is_floating_point()}
    return loss.item(), gradients, state


def scales(gradients):
    """Each tensor's error scale: its largest gradient, but at least 1e-3 of the model's
    largest (a bias followed by a batch norm has a true gradient of 0, and float32 leaves
    noise of 1e-16 there, which no relative bound can judge)."""
    top = max(g.abs().max().item() for g in gradients.values())
    return {k: max(g.abs().max().item(), 1e-3 * top) for k, g in gradients.items()}


def samples(count, values):
    picks = sorted({0, count - 1, count // 2, count // 3, (7 * count) // 11, int(values.abs().argmax())})
    return picks, [float(values[i]) for i in picks]


MODES = {"batch": False, "frozen": True}


def goldens():
    result = {"batch": BATCH, "side": SIDE, "lr": LR, "models": {}}
    for name in ("effunet-b0", "unext50"):
        for mode, frozen in MODES.items():
            loss, gradients, state = run(name, frozen)
            _, gradients64, state64 = run(name, frozen, torch.float64)
            scale = scales(gradients64)
            # Values are float64 autograd's, the exact result to float32 precision. Each
            # bound is 1e-4 (1e-5 after the step), or twice PyTorch's own float32 error
            # where the problem is worse conditioned than that. Where PyTorch's own error
            # exceeds 1e-2 somewhere (UneXt50 with batch statistics) the gradients are
            # chaotic: four times, and the step's weights, which follow the gradients'
            # signs, are not compared (the running statistics still are).
            # PyTorch's own float32 error, at the batch and, with batch statistics (the
            # ill-conditioned case), at three jittered copies of it.
            others = [] if frozen else [run(name, frozen, jitter=j) for j in range(3)]
            own = {key: max(((r[1][key] - g).abs().max() / scale[key]).item() for r in [(loss, gradients, state)] + others)
                   for key, g in gradients64.items()}
            own_state = {key: max(((r[2][key] - v).abs().max() / max(v.abs().max().item(), 1e-30)).item()
                                  for r in [(loss, gradients, state)] + others) for key, v in state64.items()}
            chaotic = max(own.values()) > 1e-2
            factor = 4 if chaotic else 2
            tensors = {}
            for key, g in gradients64.items():
                flat = g.flatten()
                indices, values = samples(flat.numel(), flat)
                tensors[key] = {"norm": float(flat.norm()), "scale": scale[key], "tolerance": max(1e-4, factor * own[key]),
                                "indices": indices, "values": values}
            updated = {}
            for key, v in state64.items():
                if chaotic and not key.endswith(("running_mean", "running_var")):
                    continue
                flat = v.flatten()
                indices, values = samples(flat.numel(), flat)
                top = max(flat.abs().max().item(), 1e-30)
                updated[key] = {"max": top, "tolerance": max(1e-5, factor * own_state[key]), "indices": indices, "values": values}
            print(f"{name} {mode}: PyTorch float32's worst gradient error {max(own.values()):.1e}{' (chaotic)' if chaotic else ''}")
            result["models"][f"{name} {mode}"] = {"loss": loss, "gradients": tensors, "updated": updated}
            print(f"{name} {mode}: loss {loss:.6f}, {len(tensors)} gradients, {len(updated)} updated tensors")
    with open(OUT, "w") as f:
        json.dump(result, f, separators=(",", ":"))
    print(f"{OUT}: {os.path.getsize(OUT) / 1e6:.2f} MB")


def worst(a, b, scale):
    key = max(scale, key=lambda k: ((a[k] - b[k]).abs().max() / scale[k]).item())
    return ((a[key] - b[key]).abs().max() / scale[key]).item(), key


def check(tessera):
    """Every entry of every tensor against PyTorch float32 and float64: float64 shows how
    well the problem is conditioned, i.e. how far PyTorch's own float32 result lies from
    the exact one."""
    from safetensors.torch import load_file
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = batch()
        np.save(os.path.join(tmp, "x.npy"), images.numpy())
        np.save(os.path.join(tmp, "y.npy"), masks.numpy())
        for name in ("effunet-b0", "unext50"):
            weights = os.path.join(tmp, name + ".safetensors")
            subprocess.check_call([tessera, "weights", "random", "--model", name, "--out", weights], stdout=subprocess.DEVNULL)
            for mode, frozen in MODES.items():
                loss, gradients, state = run(name, frozen)
                loss64, gradients64, _ = run(name, frozen, torch.float64)
                out = subprocess.check_output([tessera, "gradients", "--model", name, "--weights", weights,
                                               "--images", os.path.join(tmp, "x.npy"), "--masks", os.path.join(tmp, "y.npy"),
                                               "--out", os.path.join(tmp, "g.safetensors"), "--step", "adamw", "--lr", str(LR),
                                               "--updated", os.path.join(tmp, "u.safetensors")] + (["--frozen-norms"] if frozen else []), text=True)
                ours_loss = float(out.split()[1])
                ours = {k: v.double() for k, v in load_file(os.path.join(tmp, "g.safetensors")).items()}
                updated = {k: v.double() for k, v in load_file(os.path.join(tmp, "u.safetensors")).items()}
                missing = sorted(set(gradients) - set(ours))
                if missing:
                    print(f"  missing gradients: {missing[:5]}")
                    failed = True
                    continue
                scale = scales(gradients64)
                ours32, ours32_key = worst(ours, gradients, scale)
                ours64, _ = worst(ours, gradients64, scale)
                torch32, _ = worst(gradients, gradients64, scale)
                state_scale = {k: max(v.abs().max().item(), 1e-30) for k, v in state.items() if k in updated}
                step, step_key = worst(updated, state, state_scale)
                loss_error = abs(ours_loss - loss) / abs(loss)
                print(f"{name}, {mode} norms: gradients worst max|Δ|/max|g| {ours32:.1e} vs PyTorch ({ours32_key}); "
                      f"vs float64 {ours64:.1e}, PyTorch float32 vs float64 {torch32:.1e}; loss relative {loss_error:.1e}; "
                      f"AdamW step {step:.1e} ({step_key})")
                failed |= loss_error > 1e-5 or ours32 > max(1e-4, 2 * torch32) or step > 1e-5
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", metavar="TESSERA", help="compare `TESSERA gradients` with PyTorch on every entry")
    args = parser.parse_args()
    if args.check:
        check(args.check)
    else:
        goldens()
