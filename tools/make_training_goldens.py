#!/usr/bin/env python3
"""Writes Tests/EngineTests/Goldens/training.json: PyTorch's values for Tessera's training
pieces to match — the losses and their autograd gradients, the optimisers' steps, gradient
clipping, training-mode batch norm, and the backward passes of the activations, the
convolutions, bilinear upsampling, pixel shuffle, max pooling, weight normalisation, and a
squeeze-excitation block composed from them. Inputs are made here from a fixed linear congruential sequence and stored beside
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


def lovasz_grad(gt_sorted):
    """Berman et al.'s Lovász extension of the Jaccard loss (lovasz_losses.py)."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge(logits, labels):
    """Per image, averaged: the fast.ai HuBMAP starter's lovasz_hinge(per_image=True)."""
    losses = []
    for z, y in zip(logits, labels):
        z, y = z.reshape(-1), y.reshape(-1)
        errors = 1.0 - z * (2.0 * y - 1.0)
        errors_sorted, perm = torch.sort(errors, dim=0, descending=True, stable=True)
        losses.append(torch.dot(torch.relu(errors_sorted), lovasz_grad(y[perm])))
    return torch.stack(losses).mean()


def losses():
    batch, height, width = 2, 6, 5
    z = sequence(batch * height * width, 1, -6, 6)
    y = [1.0 if v > 0.3 else 0.0 for v in sequence(batch * height * width, 2, 0, 1)]
    cases = []
    for name, pos_weight in [("bce", 1.0), ("bce", 2.5), ("dice", None), ("bceDice", 1.0), ("symmetricLovasz", None)]:
        logits = torch.tensor(z, dtype=torch.float32).reshape(batch, 1, height, width).requires_grad_()
        masks = torch.tensor(y, dtype=torch.float32).reshape(batch, 1, height, width)
        loss = torch.zeros((), dtype=torch.float32)
        if name in ("bce", "bceDice"):
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(logits, masks, pos_weight=torch.tensor(pos_weight))
        if name in ("dice", "bceDice"):
            loss = loss + soft_dice(logits, masks)
        if name == "symmetricLovasz":
            loss = 0.5 * (lovasz_hinge(logits, masks) + lovasz_hinge(-logits, 1.0 - masks))
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


def batch_norm():
    """Training-mode batch norm (EfficientNet's and torchvision's settings) and its backward."""
    batch, channels, height, width = 3, 4, 5, 6
    x = sequence(batch * channels * height * width, 30, -3, 5)
    dy = sequence(batch * channels * height * width, 31, -1, 1)
    weight, bias = sequence(channels, 32, 0.5, 1.5), sequence(channels, 33, -0.5, 0.5)
    running_mean, running_var = sequence(channels, 34, -0.2, 0.2), sequence(channels, 35, 0.5, 2)
    cases = []
    for momentum, eps in [(0.01, 1e-3), (0.1, 1e-5)]:
        layer = torch.nn.BatchNorm2d(channels, eps=eps, momentum=momentum).train()
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight)); layer.bias.copy_(torch.tensor(bias))
            layer.running_mean.copy_(torch.tensor(running_mean)); layer.running_var.copy_(torch.tensor(running_var))
        inputs = torch.tensor(x, dtype=torch.float32).reshape(batch, channels, height, width).requires_grad_()
        outputs = layer(inputs)
        outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
        cases.append({"momentum": momentum, "eps": eps, "outputs": outputs.detach().flatten().tolist(),
                      "runningMean": layer.running_mean.tolist(), "runningVar": layer.running_var.tolist(),
                      "dInputs": inputs.grad.flatten().tolist(), "dWeight": layer.weight.grad.tolist(), "dBias": layer.bias.grad.tolist()})
    return {"shape": [batch, channels, height, width], "inputs": x, "dOutputs": dy, "weight": weight, "bias": bias,
            "runningMean": running_mean, "runningVar": running_var, "cases": cases}


def activations():
    x = sequence(40, 40, -8, 8)
    dy = sequence(40, 41, -1, 1)
    cases = []
    for name, function in [("relu", torch.relu), ("sigmoid", torch.sigmoid), ("swish", torch.nn.functional.silu)]:
        inputs = torch.tensor(x, dtype=torch.float32).requires_grad_()
        function(inputs).backward(torch.tensor(dy, dtype=torch.float32))
        cases.append({"activation": name, "dInputs": inputs.grad.tolist()})
    return {"inputs": x, "dOutputs": dy, "cases": cases}


def convolutions():
    """Every convolution shape the seed's networks use, forward and backward, batch of 2."""
    cases = []
    shapes = [
        # name, in, out, kernel, stride, dilation, groups, (top, left, bottom, right), height, width
        ("3x3", 3, 4, 3, 1, 1, 1, (1, 1, 1, 1), 6, 5),
        ("3x3 stride 2, static SAME", 4, 6, 3, 2, 1, 1, (0, 0, 1, 1), 7, 8),
        ("depthwise 5x5 stride 2, static SAME", 6, 6, 5, 2, 1, 6, (1, 1, 2, 2), 9, 7),
        ("depthwise 3x3", 5, 5, 3, 1, 1, 5, (1, 1, 1, 1), 6, 6),
        ("grouped 3x3 (ResNeXt)", 16, 16, 3, 1, 1, 8, (1, 1, 1, 1), 5, 5),
        ("dilated 3x3, groups 4 (ASPP)", 8, 8, 3, 1, 2, 4, (2, 2, 2, 2), 7, 7),
        ("1x1", 6, 3, 1, 1, 1, 1, (0, 0, 0, 0), 4, 5),
        ("1x1 stride 2", 6, 4, 1, 2, 1, 1, (0, 0, 0, 0), 6, 7),
        ("7x7 stride 2 (ResNet stem)", 3, 4, 7, 2, 1, 1, (3, 3, 3, 3), 11, 10),
    ]
    for index, (name, cin, cout, k, stride, dilation, groups, pad, h, w) in enumerate(shapes):
        seed = 100 + 10 * index
        x = sequence(2 * cin * h * w, seed, -2, 2)
        weight = sequence(cout * (cin // groups) * k * k, seed + 1, -0.5, 0.5)
        bias = sequence(cout, seed + 2, -0.2, 0.2)
        inputs = torch.tensor(x, dtype=torch.float32).reshape(2, cin, h, w).requires_grad_()
        wt = torch.tensor(weight, dtype=torch.float32).reshape(cout, cin // groups, k, k).requires_grad_()
        bt = torch.tensor(bias, dtype=torch.float32).requires_grad_()
        top, left, bottom, right = pad
        padded = torch.nn.functional.pad(inputs, [left, right, top, bottom])
        outputs = torch.nn.functional.conv2d(padded, wt, bt, stride=stride, dilation=dilation, groups=groups)
        dy = sequence(outputs.numel(), seed + 3, -1, 1)
        outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
        cases.append({"name": name, "inputChannels": cin, "outputChannels": cout, "kernel": k, "stride": stride,
                      "dilation": dilation, "groups": groups, "padding": list(pad), "height": h, "width": w,
                      "outputHeight": outputs.shape[2], "outputWidth": outputs.shape[3],
                      "inputs": x, "weight": weight, "bias": bias, "dOutputs": dy,
                      "outputs": outputs.detach().flatten().tolist(), "dInputs": inputs.grad.flatten().tolist(),
                      "dWeight": wt.grad.flatten().tolist(), "dBias": bt.grad.tolist()})
    return cases


def resampling_and_pooling():
    """Bilinear upsampling (both corner modes), pixel shuffle, max pooling with ties, and
    adaptive max pooling: outputs and input gradients."""
    cases = []
    channels, height, width = 3, 5, 4
    x = sequence(channels * height * width, 60, -2, 2)
    for align, size in [(False, (10, 8)), (True, (10, 8)), (False, (7, 9)), (True, (7, 9))]:
        inputs = torch.tensor(x, dtype=torch.float32).reshape(1, channels, height, width).requires_grad_()
        outputs = torch.nn.functional.interpolate(inputs, size=size, mode="bilinear", align_corners=align)
        dy = sequence(outputs.numel(), 61, -1, 1)
        outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
        cases.append({"op": "bilinear", "alignCorners": align, "size": list(size), "dOutputs": dy,
                      "outputs": outputs.detach().flatten().tolist(), "dInputs": inputs.grad.flatten().tolist()})
    shuffle_in = sequence(8 * 3 * 2, 62, -1, 1)
    inputs = torch.tensor(shuffle_in, dtype=torch.float32).reshape(1, 8, 3, 2).requires_grad_()
    outputs = torch.nn.functional.pixel_shuffle(inputs, 2)
    dy = sequence(outputs.numel(), 63, -1, 1)
    outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
    cases.append({"op": "pixelShuffle", "inputs": shuffle_in, "dOutputs": dy, "outputs": outputs.detach().flatten().tolist(),
                  "dInputs": inputs.grad.flatten().tolist()})
    # Values rounded to quarters, so windows hold ties.
    pooled = [round(v * 2) / 4 for v in sequence(channels * 7 * 6, 64, -2, 2)]
    inputs = torch.tensor(pooled, dtype=torch.float32).reshape(1, channels, 7, 6).requires_grad_()
    outputs = torch.nn.functional.max_pool2d(inputs, 3, stride=2, padding=1)
    dy = sequence(outputs.numel(), 65, -1, 1)
    outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
    cases.append({"op": "maxPool", "inputs": pooled, "dOutputs": dy, "outputs": outputs.detach().flatten().tolist(),
                  "dInputs": inputs.grad.flatten().tolist()})
    inputs = torch.tensor(pooled, dtype=torch.float32).reshape(1, channels, 7, 6).requires_grad_()
    outputs = torch.nn.functional.adaptive_max_pool2d(inputs, 1)
    dy = sequence(outputs.numel(), 66, -1, 1)
    outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
    cases.append({"op": "globalMax", "inputs": pooled, "dOutputs": dy, "outputs": outputs.detach().flatten().tolist(),
                  "dInputs": inputs.grad.flatten().tolist()})
    return {"inputs": x, "shape": [channels, height, width], "cases": cases}


def weight_norm():
    """fast.ai's PixelShuffle_ICNR convolution under torch.nn.utils.weight_norm: the
    gradients of weight_g and weight_v from the weight's."""
    out, cin, k = 8, 3, 1
    g = sequence(out, 70, 0.5, 2)
    v = sequence(out * cin * k * k, 71, -1, 1)
    dw = sequence(out * cin * k * k, 72, -1, 1)
    gt = torch.tensor(g, dtype=torch.float32).reshape(out, 1, 1, 1).requires_grad_()
    vt = torch.tensor(v, dtype=torch.float32).reshape(out, cin, k, k).requires_grad_()
    weight = torch._weight_norm(vt, gt, 0)
    weight.backward(torch.tensor(dw, dtype=torch.float32).reshape(weight.shape))
    return {"g": g, "v": v, "dWeight": dw, "weight": weight.detach().flatten().tolist(),
            "dG": gt.grad.flatten().tolist(), "dV": vt.grad.flatten().tolist()}


def squeeze_excitation():
    """efficientnet_pytorch's squeeze-excitation on a batch of 2: average, 1x1 conv reduce,
    swish, 1x1 conv expand, sigmoid, product; the gradients of the input and all weights."""
    channels, reduced, height, width = 8, 2, 5, 4
    x = sequence(2 * channels * height * width, 80, -2, 2)
    w1, b1 = sequence(reduced * channels, 81, -0.5, 0.5), sequence(reduced, 82, -0.2, 0.2)
    w2, b2 = sequence(channels * reduced, 83, -0.5, 0.5), sequence(channels, 84, -0.2, 0.2)
    inputs = torch.tensor(x, dtype=torch.float32).reshape(2, channels, height, width).requires_grad_()
    t1 = torch.tensor(w1, dtype=torch.float32).reshape(reduced, channels, 1, 1).requires_grad_()
    t2 = torch.tensor(w2, dtype=torch.float32).reshape(channels, reduced, 1, 1).requires_grad_()
    c1, c2 = torch.tensor(b1, dtype=torch.float32).requires_grad_(), torch.tensor(b2, dtype=torch.float32).requires_grad_()
    squeezed = torch.nn.functional.adaptive_avg_pool2d(inputs, 1)
    squeezed = torch.nn.functional.conv2d(squeezed, t1, c1)
    squeezed = squeezed * torch.sigmoid(squeezed)
    squeezed = torch.nn.functional.conv2d(squeezed, t2, c2)
    outputs = torch.sigmoid(squeezed) * inputs
    dy = sequence(outputs.numel(), 85, -1, 1)
    outputs.backward(torch.tensor(dy, dtype=torch.float32).reshape(outputs.shape))
    return {"shape": [2, channels, height, width], "reduced": reduced, "inputs": x, "reduceWeight": w1, "reduceBias": b1,
            "expandWeight": w2, "expandBias": b2, "dOutputs": dy, "outputs": outputs.detach().flatten().tolist(),
            "dInputs": inputs.grad.flatten().tolist(), "dReduceWeight": t1.grad.flatten().tolist(),
            "dReduceBias": c1.grad.tolist(), "dExpandWeight": t2.grad.flatten().tolist(), "dExpandBias": c2.grad.tolist()}


if __name__ == "__main__":
    golden = {"torch": torch.__version__, "losses": losses(), "optimizers": optimisers(), "clipping": clipping(),
              "batchNorm": batch_norm(), "activations": activations(), "convolutions": convolutions(),
              "resampling": resampling_and_pooling(), "weightNorm": weight_norm(),
              "squeezeExcitation": squeeze_excitation()}
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes) with torch {torch.__version__}")
