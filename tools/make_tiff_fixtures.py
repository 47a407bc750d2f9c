#!/usr/bin/env python3
"""Writes the small TIFF fixtures of Tests/SegmentationTests/Fixtures.

Every fixture holds the same 70x50 picture, pattern(x, y, c) below, which the Swift tests
recompute, in one of the layouts HuBMAP slides come in (or a corrupt variant).
Run: python3 tools/make_tiff_fixtures.py  (needs numpy, tifffile, imagecodecs from PyPI)
"""
import os
import struct

import numpy as np
import tifffile

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SegmentationTests", "Fixtures")
W, H = 70, 50


def pattern():
    """pattern(x, y, c) = (7x + 13y + 50c + (x*y mod 17)) mod 256, as uint8 HxWx3."""
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    return ((7 * x + 13 * y + 50 * c + (x * y) % 17) % 256).astype(np.uint8)


def smooth():
    """A smooth picture for the lossy JPEG fixture: x + 2y + 40c (never past 255)."""
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    return (x + 2 * y + 40 * c).astype(np.uint8)


def path(name):
    return os.path.join(OUT, name)


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = pattern()
    grey = rgb[:, :, 0]
    w = tifffile.imwrite
    w(path("rgb_strips_none.tif"), rgb, photometric="rgb", rowsperstrip=8, compression=None)
    w(path("rgb_tiled_lzw.tif"), rgb, photometric="rgb", tile=(16, 16), compression="lzw")
    w(path("rgb_tiled_deflate_separate.tif"), np.moveaxis(rgb, 2, 0), photometric="rgb",
      planarconfig="separate", tile=(32, 32), compression="zlib")
    w(path("rgb_strips_deflate_separate.tif"), np.moveaxis(rgb, 2, 0), photometric="rgb",
      planarconfig="separate", rowsperstrip=7, compression="zlib")
    w(path("rgb_bigtiff_tiled_deflate.tif"), rgb, photometric="rgb", tile=(16, 32),
      compression="zlib", bigtiff=True)
    w(path("rgb_tiled_jpeg_ycbcr.tif"), smooth(), photometric="rgb", tile=(32, 32),
      compression="jpeg", compressionargs={"level": 95})
    rgba = np.dstack([rgb, np.full((H, W), 128, np.uint8)])
    w(path("rgba_strips_none.tif"), rgba, photometric="rgb", extrasamples=["unassalpha"],
      rowsperstrip=16)
    w(path("grey_tiled_deflate.tif"), grey, photometric="minisblack", tile=(16, 16),
      compression="zlib")
    w(path("grey_alpha_strips.tif"), np.dstack([grey, np.full((H, W), 255, np.uint8)]),
      photometric="minisblack", extrasamples=["unassalpha"], rowsperstrip=9)
    # 16-bit RGB whose values are v * 257, so libtiff's 16 -> 8 bit conversion is exact.
    w(path("rgb16_strips.tif"), rgb.astype(np.uint16) * 257, photometric="rgb", rowsperstrip=10)
    # Palette: index i maps to the colour of pattern row 0 column i (mod 70).
    index = (np.arange(W * H).reshape(H, W) % W).astype(np.uint8)
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :W] = rgb[0, :, :].T.astype(np.uint16) * 257
    w(path("palette_strips.tif"), index, photometric="palette", colormap=colormap)
    # A pyramid: full resolution on page 0 with two reduced sub-IFDs, as OME-TIFF writes.
    with tifffile.TiffWriter(path("pyramid_subifds.tif")) as tif:
        tif.write(rgb, photometric="rgb", tile=(16, 16), compression="zlib", subifds=2,
                  resolution=(1 / 0.5e-4, 1 / 0.5e-4), resolutionunit="CENTIMETER")
        tif.write(rgb[::2, ::2], photometric="rgb", tile=(16, 16), compression="zlib",
                  subfiletype=1)
        tif.write(rgb[::4, ::4], photometric="rgb", tile=(16, 16), compression="zlib",
                  subfiletype=1)
    # Several pages, the thumbnail first: the reader must pick page 1.
    with tifffile.TiffWriter(path("pages_thumbnail_first.tif")) as tif:
        tif.write(rgb[::5, ::5], photometric="rgb")
        tif.write(rgb, photometric="rgb", tile=(16, 16), compression="lzw")
    w(path("float32.tif"), rgb.astype(np.float32) / 255, photometric="rgb")

    # Corrupt files.
    with open(path("rgb_tiled_lzw.tif"), "rb") as f:
        data = f.read()
    with open(path("truncated.tif"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(path("not_a_tiff.tif"), "wb") as f:
        f.write(b"width,height\n70,50\n")
    open(path("empty.tif"), "wb").close()
    with open(path("absurd_dimensions.tif"), "wb") as f:
        f.write(absurd_header(3_000_000_000, 3_000_000_000))
    with open(path("huge_claim_no_data.tif"), "wb") as f:
        f.write(absurd_header(1_000_000, 1_000_000))


def absurd_header(width, height):
    """A classic TIFF whose header claims width x height 8-bit RGB in 256x256 tiles, with
    offsets that point past the end of the file."""
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 2), (277, 3, 1, 3), (322, 3, 1, 256), (323, 3, 1, 256),
        (324, 4, 1, 1 << 30), (325, 4, 1, 196608),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value) if kind == 4 else \
            struct.pack("<HHIHH", tag, kind, count, value, 0)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


if __name__ == "__main__":
    main()
