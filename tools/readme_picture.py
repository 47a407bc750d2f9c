#!/usr/bin/env python3
"""Makes docs/readme-picture.png: a quarter of `make demo`'s overlay (the ensemble's mask
outlined in green over the truth in blue) beside the status page during a training run
(docs/status-page-training.png, from tools/status_page_check.sh). Needs Pillow.

    tools/readme_picture.py [out/demo/overlay.png]
"""
import sys

from PIL import Image

overlay = Image.open(sys.argv[1] if len(sys.argv) > 1 else "out/demo/overlay.png").convert("RGB")
w, h = overlay.size
overlay = overlay.crop((w // 8, h // 8, w // 8 + w // 2, h // 8 + h // 2))
page = Image.open("docs/status-page-training.png").convert("RGB").crop((0, 0, 920, 800))
side = 560
overlay = overlay.resize((side, side), Image.LANCZOS)
page = page.resize((page.width * side // page.height, side), Image.LANCZOS)
canvas = Image.new("RGB", (overlay.width + page.width + 16, side), (255, 255, 255))
canvas.paste(overlay, (0, 0))
canvas.paste(page, (overlay.width + 16, 0))
canvas.quantize(colors=256, method=Image.MEDIANCUT).save("docs/readme-picture.png", optimize=True)
