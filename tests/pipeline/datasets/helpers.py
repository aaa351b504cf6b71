"""Helpers shared by the dataset adapter tests."""
import numpy as np


def tiny_frames(count=6, size=32, level=60):
    frames = np.zeros((count, size, size, 3), dtype=np.uint8)
    for k in range(count):
        frames[k, 8:24, 4 + 2 * k : 12 + 2 * k] = level + 20 * k
    return frames
