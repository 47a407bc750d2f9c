"""Prints the PyTorch references of Tests/SegmentationTests/ResampleTests.swift: a small
map grown with interpolate(mode="bilinear", align_corners=False), and shrunk by a whole
factor with mode="area" (where PyTorch's adaptive pooling is the exact area average)."""
import torch

source = torch.tensor([[0.0, 0.25, 1.0], [0.5, 0.75, 0.125], [1.0, 0.0, 0.5]]).reshape(1, 1, 3, 3)
grown = torch.nn.functional.interpolate(source, size=(7, 7), mode="bilinear", align_corners=False)
print("grown 3 -> 7:", [round(v, 7) for v in grown.flatten().tolist()])
ramp = (torch.arange(36, dtype=torch.float32) / 35).reshape(1, 1, 6, 6)
shrunk = torch.nn.functional.interpolate(ramp, size=(2, 2), mode="area")
print("shrunk 6 -> 2:", [round(v, 7) for v in shrunk.flatten().tolist()])
