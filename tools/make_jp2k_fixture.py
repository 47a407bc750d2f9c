#!/usr/bin/env python3
"""Writes Tests/SegmentationTests/Fixtures/aperio_jp2k.svs: an Aperio SVS whose tiles are
JPEG 2000 codestreams (TIFF compression 33005, Aperio's RGB JPEG 2000, as TCGA slides
have), lossless, so that every reader must return the picture exactly.

The picture is 512x384, pattern(x, y, c) = (3x + 5y + 60c + (x*y mod 23)) mod 256, in
256x256 tiles. libtiff cannot decode compression 33005; OpenSlide (with OpenJPEG) can.
Run: python3 tools/make_jp2k_fixture.py  (needs numpy, tifffile, imagecodecs from PyPI)
"""
import os

import imagecodecs
import numpy as np
import tifffile

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SegmentationTests", "Fixtures", "aperio_jp2k.svs")
W, H, T = 512, 384, 256


def pattern():
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    return ((3 * x + 5 * y + 60 * c + (x * y) % 23) % 256).astype(np.uint8)


def tiles(image):
    for ty in range(0, H, T):
        for tx in range(0, W, T):
            tile = np.zeros((T, T, 3), np.uint8)
            part = image[ty:ty + T, tx:tx + T]
            tile[:part.shape[0], :part.shape[1]] = part
            # A raw codestream (J2K), RGB without colour transform, lossless: Aperio's 33005.
            yield imagecodecs.jpeg2k_encode(tile, level=0, codecformat="J2K", colorspace="SRGB", mct=False, reversible=True)


def main():
    image = pattern()
    description = f"Aperio Image Library v10.0.50\r\n{W}x{H} [0,0 {W}x{H}] ({T}x{T}) J2K/KDU Q=100|AppMag = 20|MPP = 0.4990"
    with tifffile.TiffWriter(OUT) as tif:
        tif.write(tiles(image), shape=(H, W, 3), dtype=np.uint8, tile=(T, T), photometric="rgb", compression=33005,
                  description=description, metadata=None)
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
