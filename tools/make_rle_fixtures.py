#!/usr/bin/env python3
"""Writes Tests/SegmentationTests/Fixtures/rle_cases.txt: small non-square masks and their RLE
made by the competitions' public numpy encoder, so the Swift encoder is checked against it.

Each case is three lines: "W H", the mask row-major as 0/1 characters, the RLE text.
Run: python3 tools/make_rle_fixtures.py  (needs numpy)
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SegmentationTests", "Fixtures", "rle_cases.txt")


def rle_encode(img):
    """The HuBMAP notebooks' encoder: column-major (img.T.flatten()), 1-indexed."""
    pixels = img.T.flatten()
    pixels = np.concatenate([[0], pixels, [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


def main():
    rng = np.random.default_rng(7)
    shapes = [(1, 1), (5, 7), (7, 5), (13, 29), (29, 13), (64, 17), (3, 100), (100, 3)]
    cases = []
    for h, w in shapes:
        for density in (0.0, 0.2, 0.5, 0.9, 1.0):
            cases.append((rng.random((h, w)) < density).astype(np.uint8))
    # Runs that cross from one column's bottom to the next column's top.
    crossing = np.zeros((6, 4), np.uint8)
    crossing[4:, 0] = 1
    crossing[:3, 1] = 1
    cases.append(crossing)
    with open(OUT, "w") as f:
        for mask in cases:
            h, w = mask.shape
            f.write(f"{w} {h}\n{''.join(map(str, mask.flatten()))}\n{rle_encode(mask)}\n")


if __name__ == "__main__":
    main()
