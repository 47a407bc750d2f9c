#!/usr/bin/env python3
"""PyTorch and onnxruntime on the seed's models, same deterministic weights as Tessera's
engine benchmark: median ms per 512x512 tile at N threads. Prints one JSON line a model
and runtime. Run by bench/engine.sh."""
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from engine_reference import fill  # noqa: E402
from seed_models import EffUnet, UneXt50  # noqa: E402


def median_ms(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    threads = int(os.environ.get("THREADS", "2"))
    repeats = int(os.environ.get("REPEATS", "5"))
    tile = int(os.environ.get("TILE", "512"))
    models = os.environ.get("MODELS", "effunet-b0,effunet-b5,unext50").split(",")
    torch.set_num_threads(threads)
    import onnxruntime as ort
    x = torch.rand(1, 3, tile, tile)
    for name in models:
        model = fill(UneXt50() if name == "unext50" else EffUnet(name.split("-")[1])).eval()
        with torch.no_grad():
            ms = median_ms(lambda: model(x), repeats)
        print(json.dumps({"model": name, "runtime": "pytorch " + torch.__version__, "ms": ms}), flush=True)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.onnx")
            torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            feed = {"x": x.numpy()}
            ms = median_ms(lambda: session.run(None, feed), repeats)
        print(json.dumps({"model": name, "runtime": "onnxruntime " + ort.__version__, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
