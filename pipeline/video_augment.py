"""Strong augmentation of video clips for the pseudo-label term (FixMatch's strong view): a
random zoom, shift and small rotation, brightness and contrast jitter, and one erased box per
clip, each drawn per clip and the same for all its frames (motion stays coherent). No
horizontal flip: it turns a swipe left into a swipe right. Works on the student's normalised
float input (N, T, C, H, W) on its device; draws from torch's global CPU RNG (on any device),
which checkpoints save and restore."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

ZOOM = (0.7, 1.0)        # the side of the region kept, as a fraction of the frame's
SHIFT = 0.1              # of the frame's half-size, each way
ROTATION = 10.0          # degrees, each way
BRIGHTNESS = 0.4         # added, in normalised units (about 0.09 of the pixel range)
CONTRAST = (0.6, 1.4)    # scale of each clip's deviation from its mean
ERASE_AREA = (0.02, 0.2)  # of the frame, one box per clip, filled with the mean (0 after normalising)


def _uniform(low: float, high: float, count: int, device) -> Tensor:
    return (torch.rand(count) * (high - low) + low).to(device)


def strong_augment(clips: Tensor) -> Tensor:
    """A strongly augmented copy of ``clips`` (N, T, C, H, W), normalised floats."""
    count, frames, channels, height, width = clips.shape
    device = clips.device
    zoom = _uniform(*ZOOM, count, device)
    angle = _uniform(-ROTATION, ROTATION, count, device) * math.pi / 180
    shift = _uniform(-SHIFT, SHIFT, 2 * count, device).reshape(count, 2)
    theta = torch.stack([torch.stack([zoom * angle.cos(), -zoom * angle.sin(), shift[:, 0]], 1),
                         torch.stack([zoom * angle.sin(), zoom * angle.cos(), shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(clips.dtype), [count, frames * channels, height, width], align_corners=False)
    moved = F.grid_sample(clips.reshape(count, frames * channels, height, width), grid, mode="bilinear",
                          padding_mode="border", align_corners=False).reshape(clips.shape)
    mean = moved.mean(dim=(1, 3, 4), keepdim=True)
    contrast = _uniform(*CONTRAST, count, device).reshape(count, 1, 1, 1, 1).to(clips.dtype)
    brightness = _uniform(-BRIGHTNESS, BRIGHTNESS, count, device).reshape(count, 1, 1, 1, 1).to(clips.dtype)
    jittered = (moved - mean) * contrast + mean + brightness
    area = _uniform(*ERASE_AREA, count, device) * height * width
    aspect = torch.exp(_uniform(math.log(0.5), math.log(2.0), count, device))
    box_h = (area * aspect).sqrt().clamp(1, height).floor()
    box_w = (area / aspect).sqrt().clamp(1, width).floor()
    top = (_uniform(0.0, 1.0, count, device) * (height - box_h + 1)).floor()
    left = (_uniform(0.0, 1.0, count, device) * (width - box_w + 1)).floor()
    rows = torch.arange(height, device=device).reshape(1, height, 1)
    cols = torch.arange(width, device=device).reshape(1, 1, width)
    box = ((rows >= top.reshape(-1, 1, 1)) & (rows < (top + box_h).reshape(-1, 1, 1))
           & (cols >= left.reshape(-1, 1, 1)) & (cols < (left + box_w).reshape(-1, 1, 1)))
    return jittered.masked_fill(box.reshape(count, 1, 1, height, width), 0.0)
