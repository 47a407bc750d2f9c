#!/usr/bin/env python3
"""Tessera's engine beside PyTorch and onnxruntime, tile by tile: same models, same
deterministic weights, same 512x512 input size, N threads each. Run by bench/engine.sh.

This machine is shared and its speed drifts by tens of percent over minutes, so the three
runtimes take turns one tile at a time (Tessera runs in a `tessera bench engine --serve`
child that times one tile per line it reads). Each round times one tile of each, in an
order that rotates from round to round, with a pause between runs so that no runtime's
idle threads are still spinning when the next one starts. A ratio is taken within each
round; the figures printed are medians over rounds.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from engine_reference import fill  # noqa: E402
from seed_models import EffUnet, UneXt50  # noqa: E402

from machine import cpu_model, tessera_kernels  # noqa: E402 (bench/machine.py)

PAUSE = 0.2  # seconds between runs: longer than OpenMP's and onnxruntime's spin-waits


def timed(run):
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


class Tessera:
    """A `tessera bench engine --serve` child: one line in, one tile timed."""

    def __init__(self, binary, model, threads, tile):
        self.process = subprocess.Popen(
            [binary, "bench", "engine", "--serve", "--models", model, "--threads", str(threads), "--tile", str(tile)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.gmacs = self.read()["gmacs"]

    def read(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("tessera bench engine --serve stopped")
        return json.loads(line)

    def tile(self):
        self.process.stdin.write("tile\n")
        self.process.stdin.flush()
        return self.read()["ms"]

    def close(self):
        self.process.stdin.close()
        rss = self.read()["rss_mb"]
        self.process.wait()
        return rss


def compare(binary, name, rounds, threads, tile):
    import onnxruntime as ort
    x = torch.rand(1, 3, tile, tile)
    model = fill(UneXt50() if name == "unext50" else EffUnet(name.split("-")[1])).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}

    def pytorch():
        with torch.no_grad():
            model(x)

    tessera = Tessera(binary, name, threads, tile)
    runners = {
        "tessera": tessera.tile,
        "onnxruntime " + ort.__version__: lambda: timed(lambda: session.run(None, feed)),
        "pytorch " + torch.__version__: lambda: timed(pytorch),
    }
    names = list(runners)
    for run in list(runners.values()) * 2:  # warm-up
        run()
    times = {runtime: [] for runtime in names}
    for round in range(rounds):
        order = names[round % 3:] + names[:round % 3]
        for runtime in order:
            time.sleep(PAUSE)
            times[runtime].append(runners[runtime]())
        print(f"  {name} round {round + 1}/{rounds}: " + ", ".join(f"{r.split()[0]} {times[r][-1]:.0f} ms" for r in names),
              file=sys.stderr, flush=True)
    rss = tessera.close()
    ours = times["tessera"]
    ms = statistics.median(ours)
    print(f"{name:12} tessera {ms:6.0f} ms (fastest {min(ours):.0f}), {2 * tessera.gmacs * 1000 / ms:5.0f} GFLOP/s, "
          f"peak RSS {rss:.0f} MB, {tessera.gmacs:.1f} GMACs")
    for runtime in names[1:]:
        ratios = sorted(a / b for a, b in zip(ours, times[runtime]))
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"{'':12} {runtime:22} {statistics.median(times[runtime]):6.0f} ms   tessera / it: "
              f"median {statistics.median(ratios):.2f} (quartiles {quartiles[0]:.2f}–{quartiles[2]:.2f}, "
              f"range {ratios[0]:.2f}–{ratios[-1]:.2f}, {len(ratios)} rounds)")
    sys.stdout.flush()


def main():
    binary = sys.argv[1]
    threads = int(os.environ.get("THREADS", "2"))
    rounds = int(os.environ.get("ROUNDS", "15"))
    tile = int(os.environ.get("TILE", "512"))
    models = os.environ.get("MODELS", "effunet-b0,effunet-b5,unext50").split(",")
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")  # the ONNX exporter's deprecation notes
    print(f"{tile}x{tile} tile, batch 1, {threads} threads; medians of {rounds} rounds taken tile by tile in turn")
    print(f"CPU: {cpu_model()}; {tessera_kernels(binary)}")
    for name in models:
        compare(binary, name, rounds, threads, tile)


if __name__ == "__main__":
    main()
