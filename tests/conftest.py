"""Shared fixtures: the real data in ../shared (tests that need it skip cleanly when it is
absent, as on a user's machine) and tiny generated videos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "mpeg4") -> Path:
    """Encode (F, H, W, 3) uint8 frames with PyAV (near-lossless, so tests can compare)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_with_pyav(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture
def ramp_video(tmp_path) -> Path:
    """A 20-frame 48x64 video whose frame k is a flat grey of level 10 * k + 20."""
    levels = 10 * np.arange(20) + 20
    frames = np.broadcast_to(levels[:, None, None, None], (20, 48, 64, 3)).astype(np.uint8)
    return write_video(tmp_path / "ramp.avi", np.ascontiguousarray(frames))
