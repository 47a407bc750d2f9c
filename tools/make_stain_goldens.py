#!/usr/bin/env python3
"""Goldens for Tessera's stain normalisation: torchstain's numpy Macenko and Reinhard
normalisers on small synthetic H&E images, written to
Tests/SegmentationTests/Fixtures/stain_goldens.json (inputs and outputs as base64 bytes).

Needs numpy and torchstain (pip install torchstain). Run from the repository root:
    python3 tools/make_stain_goldens.py
"""
import base64, json, os
import numpy as np
from torchstain.numpy.normalizers.macenko import NumpyMacenkoNormalizer
from torchstain.numpy.normalizers.reinhard import NumpyReinhardNormalizer

SIZE = 48


def he_image(seed, stains, background=(243, 241, 245)):
    """An H&E-like image: smooth haematoxylin and eosin concentration fields over glass."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    fields = []
    for k in range(2):
        f = np.zeros((SIZE, SIZE))
        for _ in range(6):
            cx, cy, r, a = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3), rng.uniform(0.3, 1.6)
            f += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        fields.append(f + rng.uniform(0, 0.08, (SIZE, SIZE)))
    od = np.stack([fields[0] * stains[c][0] + fields[1] * stains[c][1] for c in range(3)], axis=-1)
    glass = np.array(background, dtype=float)
    rgb = glass * np.exp(-od)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def main():
    reference = he_image(1, [[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
    shifted = he_image(2, [[0.55, 0.25], [0.78, 0.80], [0.30, 0.55]])
    bluish = he_image(3, [[0.50, 0.15], [0.80, 0.85], [0.33, 0.50]], background=(236, 240, 250))
    cases = []
    macenko = NumpyMacenkoNormalizer()
    fitted = NumpyMacenkoNormalizer()
    fitted.fit(reference)
    reinhard = NumpyReinhardNormalizer()
    reinhard.fit(reference)
    for name, image in [("shifted", shifted), ("bluish", bluish), ("reference", reference)]:
        default, _, _ = macenko.normalize(image, stains=False)
        to_reference, _, _ = fitted.normalize(image, stains=False)
        lab = reinhard.normalize(image)
        cases.append({"name": name, "input": b64(image), "macenkoDefault": b64(default),
                      "macenkoFitted": b64(to_reference), "reinhard": b64(lab)})
    golden = {
        "size": SIZE,
        "reference": b64(reference),
        "macenkoStains": fitted.HERef.tolist(),
        "macenkoMaxConcentrations": fitted.maxCRef.tolist(),
        "reinhardMeans": [float(v) for v in reinhard.target_means],
        "reinhardDeviations": [float(v) for v in reinhard.target_stds],
        "cases": cases,
    }
    path = os.path.join("Tests", "SegmentationTests", "Fixtures", "stain_goldens.json")
    with open(path, "w") as f:
        json.dump(golden, f, indent=1)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
