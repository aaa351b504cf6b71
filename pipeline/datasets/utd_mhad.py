"""UTD-MHAD in its distributed layout (27 actions, 8 subjects, 4 trials; 861 recordings):

- ``Inertial/aA_sS_tT_inertial.mat``: MATLAB v5, key ``d_iner``, N x 6 float64; accelerometer
  in g in columns 0-2, gyroscope in deg/s in 3-5, 50 Hz. Sensors ``acc`` and ``gyro``.
- ``RGB/aA_sS_tT_color.avi`` (``vision='rgb'``) or ``Depth/aA_sS_tT_depth.mat``
  (``vision='depth'``, key ``d_depth``, 240 x 320 x F uint16 millimetres, 0 = no reading).

Three trials do not exist (a8_s1_t4, a23_s6_t4, a27_s8_t4): they are simply absent.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.datasets import DatasetError, packaged_class_names, select_complete
from pipeline.signals import Signal, SignalError, check_signal

SAMPLE_RATE = 50.0
INERTIAL_KEY = "d_iner"
DEPTH_KEY = "d_depth"
INERTIAL_COLUMNS = {"acc": slice(0, 3), "gyro": slice(3, 6)}
VISIONS = {"rgb": ("RGB", "color.avi"), "depth": ("Depth", "depth.mat")}
NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|color|depth)\.(mat|avi)$")

SPLITS = {
    "subject_specific": ("trial", [3, 4]),  # the paper's: trials 1-2 train, 3-4 test
    "cross_subject": ("subject", [2, 4, 6, 8]),  # odd subjects train, even test
}


def class_names(root: Path, **options) -> list[str]:
    return packaged_class_names("utd_mhad")


def _index(folder: Path, suffix: str) -> dict[tuple[int, int, int], Path]:
    found = {}
    for path in folder.glob(f"*_{suffix}"):
        match = NAME.match(path.name)
        if match:
            found[tuple(int(match.group(i)) for i in (1, 2, 3))] = path
    return found


def build_manifest(root: Path, vision: str = "depth", require: str = "all") -> pd.DataFrame:
    """One row per recording (UTD-MHAD has one camera). ``require='all'`` keeps recordings
    that have both the inertial file and the video; ``'any'`` keeps the others too, with an
    empty path for what they lack."""
    if vision not in VISIONS:
        raise DatasetError(f"utd_mhad: vision must be one of {list(VISIONS)}, got {vision!r}")
    inertial = _index(root / "Inertial", "inertial.mat")
    folder, suffix = VISIONS[vision]
    videos = _index(root / folder, suffix)
    if not inertial and not videos:
        raise DatasetError(
            f"{root}: no UTD-MHAD files found (expected Inertial/aA_sS_tT_inertial.mat and "
            f"{folder}/aA_sS_tT_{suffix})"
        )
    names = class_names(root)
    rows = []
    for action, subject, trial in sorted(set(inertial) | set(videos)):
        if not 1 <= action <= len(names):
            raise DatasetError(f"{root}: action a{action} outside 1..{len(names)}")
        recording = f"a{action}_s{subject}_t{trial}"
        sensor = str(inertial.get((action, subject, trial), ""))
        rows.append(dict(
            sample_id=recording, recording_id=recording, label=action - 1, class_name=names[action - 1],
            subject=subject, trial=trial, view=pd.NA, scene=pd.NA, session=pd.NA,
            video=str(videos.get((action, subject, trial), "")), sensor_acc=sensor, sensor_gyro=sensor,
        ))
    return select_complete(pd.DataFrame(rows), require, f"utd_mhad at {root}")


def read_inertial(path: str | Path) -> np.ndarray:
    """The (N, 6) inertial matrix of one recording."""
    return _read_mat(path, INERTIAL_KEY, lambda m: m.ndim == 2 and m.shape[1] == 6, "N x 6")


def read_signal(path: Path, sensor: str) -> Signal:
    if sensor not in INERTIAL_COLUMNS:
        raise SignalError(f"{path}: UTD-MHAD has sensors {list(INERTIAL_COLUMNS)}, not {sensor!r}")
    values = read_inertial(path)[:, INERTIAL_COLUMNS[sensor]]
    timestamps = np.arange(len(values)) / SAMPLE_RATE
    return Signal(values=check_signal(values, f"{path} ({sensor})"), timestamps=timestamps)


def read_depth(path: str | Path) -> np.ndarray:
    """(F, H, W) uint16 depth in millimetres from ``Depth/*_depth.mat``."""
    depth = _read_mat(path, DEPTH_KEY, lambda m: m.ndim == 3, "H x W x F")
    return np.ascontiguousarray(np.moveaxis(depth, 2, 0)).astype(np.uint16, copy=False)


def read_video(path: Path):
    """Depth clips are MATLAB files; RGB videos go to the generic decoders (None)."""
    if path.name.endswith("_depth.mat"):
        return read_depth(path)
    return None


def _read_mat(path, key: str, shape_ok, expected: str) -> np.ndarray:
    from scipy.io import loadmat

    path = Path(path)
    try:
        matrix = loadmat(str(path), variable_names=[key]).get(key)
    except FileNotFoundError:
        raise SignalError(f"{path}: file not found") from None
    except Exception as error:  # scipy raises ValueError/TypeError/MatReadError on bad files
        raise SignalError(f"{path}: not a readable MATLAB file ({error})") from None
    if matrix is None:
        raise SignalError(f"{path}: no variable {key!r} (not a UTD-MHAD file of this kind)")
    if not shape_ok(matrix):
        raise SignalError(f"{path}: {key} has shape {matrix.shape}, expected {expected}")
    return np.asarray(matrix) if key == DEPTH_KEY else np.asarray(matrix, dtype=np.float64)
