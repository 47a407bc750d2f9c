"""Makes Tests/SegmentationTests/Fixtures/vms: a small Hamamatsu VMS slide (a JPEG with
restart markers every 8 blocks, 4:4:4 so no chroma is upsampled across OpenSlide's tiles,
a 4x map, and the .vms index), and decoded.ppm, the JPEG as libjpeg's djpeg decodes it:
the pixels OpenSlide must give. Needs cjpeg and djpeg (Debian: libjpeg-turbo-progs)."""
import math
import os
import subprocess
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "SegmentationTests", "Fixtures", "vms")
os.makedirs(out, exist_ok=True)
w, h = 256, 192


def clamp(v):
    return max(0, min(255, int(v)))


pixels = [[(clamp(200 + 40 * math.sin(x / 13.0) * math.cos(y / 17.0)), clamp(120 + 60 * math.sin((x + y) / 23.0)),
            clamp(180 + 50 * math.cos(x / 7.0 + y / 29.0))) for x in range(w)] for y in range(h)]


def ppm(path, rows):
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (len(rows[0]), len(rows)))
        f.write(bytes(c for row in rows for p in row for c in p))


# The map: the slide averaged over 4 x 4 blocks, as a scanner's overview.
small = [[tuple((sum(pixels[4 * y + dy][4 * x + dx][c] for dy in range(4) for dx in range(4)) + 8) // 16 for c in range(3))
          for x in range(w // 4)] for y in range(h // 4)]
ppm(os.path.join(out, "source.ppm"), pixels)
ppm(os.path.join(out, "map.ppm"), small)
for name, restart in (("slide", "8B"), ("map", "4B")):
    subprocess.run(["cjpeg", "-quality", "90", "-sample", "1x1", "-restart", restart, "-outfile", os.path.join(out, name + ".jpg"),
                    os.path.join(out, ("source" if name == "slide" else "map") + ".ppm")], check=True)
subprocess.run(["djpeg", "-ppm", "-outfile", os.path.join(out, "decoded.ppm"), os.path.join(out, "slide.jpg")], check=True)
for name in ("source.ppm", "map.ppm"):
    os.remove(os.path.join(out, name))
with open(os.path.join(out, "slide.vms"), "w") as f:
    f.write("[Virtual Microscope Specimen]\nNoLayers=1\nNoJpegColumns=1\nNoJpegRows=1\nImageFile=slide.jpg\nMapFile=map.jpg\nSourceLens=20\n")
print("wrote", out)
