#!/usr/bin/env python3
"""Training steps of Tessera beside PyTorch, step by step: the same model (EffUnet-b0 by
default), the same deterministic weights, a batch of 8 tiles of 256² with disc masks, the
default loss (BCE + soft Dice), backward and AdamW, on N threads each. Run by
bench/train.sh.

The two take turns one step at a time (Tessera in a `tessera bench train --serve` child
that times one step per line it reads), in an order that alternates from round to round,
with a pause between them so that no runtime's idle threads still spin when the other
starts; the ratio is taken within each round and the medians over rounds are printed.
Peak RSS: the child's own for Tessera, this process's (which runs nothing but PyTorch's
steps) for PyTorch.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from engine_reference import fill  # noqa: E402
from seed_models import EffUnet, UneXt50  # noqa: E402

from machine import cpu_model, tessera_kernels  # noqa: E402 (bench/machine.py)

PAUSE = 0.2


def main():
    binary = sys.argv[1]
    model_name = os.environ.get("MODEL", "effunet-b0")
    rounds, threads = int(os.environ.get("ROUNDS", 5)), int(os.environ.get("THREADS", 2))
    batch, tile = int(os.environ.get("BATCH", 8)), int(os.environ.get("TILE", 256))
    torch.set_num_threads(threads)
    model = fill(UneXt50() if model_name == "unext50" else EffUnet(model_name.split("-")[1])).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    x = torch.rand(batch, 3, tile, tile) * 2 - 1
    yy, xx = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    masks = torch.stack([(((yy - tile // 2) ** 2 + (xx - tile // 2) ** 2) <= (tile // 4 + b) ** 2).float() for b in range(batch)])

    phases = {"t": {"forward": [], "backward": [], "optimizer": []}, "p": {"forward": [], "backward": [], "optimizer": []}}

    def pytorch_step():
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        z = model(x)[:, 0]
        p = torch.sigmoid(z).flatten(1)
        y = masks.flatten(1)
        loss = F.binary_cross_entropy_with_logits(z, masks) + (1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)).mean()
        forward_end = time.perf_counter()
        loss.backward()
        backward_end = time.perf_counter()
        optimizer.step()
        end = time.perf_counter()
        for phase, seconds in [("forward", forward_end - start), ("backward", backward_end - forward_end), ("optimizer", end - backward_end)]:
            phases["p"][phase].append(seconds)
        return end - start

    tessera = subprocess.Popen([binary, "bench", "train", "--serve", "--model", model_name, "--threads", str(threads),
                                "--batch", str(batch), "--tile", str(tile)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read():
        line = tessera.stdout.readline()
        if not line:
            raise SystemExit("tessera bench train --serve stopped")
        return json.loads(line)

    read()  # after its warm-up step
    pytorch_step()  # warm-up
    ours, theirs, ratios = [], [], []
    for r in range(rounds):
        def run_tessera():
            tessera.stdin.write("step\n")
            tessera.stdin.flush()
            answer = read()
            for phase in ["forward", "backward", "optimizer"]:
                phases["t"][phase].append(answer[f"{phase}_s"])
            return answer["s"]
        order = [("t", run_tessera), ("p", pytorch_step)] if r % 2 == 0 else [("p", pytorch_step), ("t", run_tessera)]
        times = {}
        for name, run in order:
            time.sleep(PAUSE)
            times[name] = run()
        ours.append(times["t"])
        theirs.append(times["p"])
        ratios.append(times["t"] / times["p"])
        print(f"round {r + 1}: Tessera {times['t']:.2f} s, PyTorch {times['p']:.2f} s, ratio {ratios[-1]:.2f}", flush=True)
    tessera.stdin.close()
    rss = read()["rss_mb"]
    tessera.wait()
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU: {cpu_model()}; {tessera_kernels(binary)}; {model_name}, batch {batch} of {tile}², {threads} threads, torch {torch.__version__}")
    print(f"Tessera {statistics.median(ours):.2f} s/step ({batch / statistics.median(ours):.2f} images/s), peak RSS {rss:.0f} MB")
    print(f"PyTorch {statistics.median(theirs):.2f} s/step ({batch / statistics.median(theirs):.2f} images/s), peak RSS {torch_rss:.0f} MB")
    print(f"ratio Tessera/PyTorch (median of {rounds} rounds): {statistics.median(ratios):.2f}")
    for phase in ["forward", "backward", "optimizer"]:
        ours_phase = statistics.median(phases["t"][phase][-rounds:])
        theirs_phase = statistics.median(phases["p"][phase][-rounds:])
        print(f"  {phase:9} (medians): Tessera {ours_phase:.3f} s, PyTorch {theirs_phase:.3f} s, ratio {ours_phase / theirs_phase:.2f}")


if __name__ == "__main__":
    main()
