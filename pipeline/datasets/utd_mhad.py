"""UTD-MHAD in its distributed layout (27 actions, 8 subjects, 4 trials; 861 recordings):

- ``Inertial/aA_sS_tT_inertial.mat``: MATLAB v5, key ``d_iner``, N x 6 float64; accelerometer
  in g in columns 0-2, gyroscope in deg/s in 3-5, 50 Hz. Sensors ``acc`` and ``gyro``.
- ``RGB/aA_sS_tT_color.avi`` (``vision='rgb'``) or ``Depth/aA_sS_tT_depth.mat``
  (``vision='depth'``, key ``d_depth``, 240 x 320 x F uint16 millimetres, 0 = no reading).

Three trials do not exist (a8_s1_t4, a23_s6_t4, a27_s8_t4): they are simply absent.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.datasets.manifest import packaged_class_names, select_complete
from pipeline.errors import DatasetError
from pipeline.signals import Signal, SignalError, check_signal

log = logging.getLogger(__name__)

SAMPLE_RATE = 50.0
INERTIAL_KEY = "d_iner"
DEPTH_KEY = "d_depth"
INERTIAL_COLUMNS = {"acc": slice(0, 3), "gyro": slice(3, 6)}
INERTIAL_AXES = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")  # d_iner's 6 columns
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
    """The (N, 6) inertial matrix of one recording; every value finite (UTD-MHAD has no gaps)."""
    inertial = _read_mat(path, INERTIAL_KEY, lambda m: m.ndim == 2 and m.shape[1] == 6, "N x 6")
    bad = np.argwhere(~np.isfinite(inertial))
    if len(bad):
        row, column = bad[0]
        raise SignalError(
            f"{path}: {INERTIAL_KEY} row {row + 1}, column {column + 1} ({INERTIAL_AXES[column]}): "
            f"value {inertial[row, column]} is not finite"
        )
    return inertial


def read_signal(path: Path, sensor: str) -> Signal:
    if sensor not in INERTIAL_COLUMNS:
        raise SignalError(f"{path}: UTD-MHAD has sensors {list(INERTIAL_COLUMNS)}, not {sensor!r}")
    values = read_inertial(path)[:, INERTIAL_COLUMNS[sensor]]
    timestamps = np.arange(len(values)) / SAMPLE_RATE
    return Signal(values=check_signal(values, f"{path} ({sensor})"), timestamps=timestamps)


def read_depth(path: str | Path) -> np.ndarray:
    """(F, H, W) uint16 depth in millimetres from ``Depth/*_depth.mat``.

    A clip that cannot be a sensor recording is still returned but reported with a warning
    naming the file and what is wrong: all zero (no reading in any frame), values that are
    not integer millimetres (rounded to the nearest), negative or non-finite values (set to
    0, no reading), values beyond uint16 (clipped). Integer-valued floats are fine."""
    depth = np.moveaxis(_read_mat(path, DEPTH_KEY, lambda m: m.ndim == 3, "H x W x F"), 2, 0)
    problems = []
    if depth.dtype != np.uint16:
        depth, problems = _depth_millimetres(depth, path)
    if not depth.any():
        problems.append("all zero (no depth reading in any frame)")
    if problems:
        log.warning("%s: %s %s", path, DEPTH_KEY, "; ".join(problems))
    return np.ascontiguousarray(depth)


def _depth_millimetres(depth: np.ndarray, path) -> tuple[np.ndarray, list[str]]:
    """Any real-valued array -> uint16 millimetres, and what had to be repaired on the way."""
    if depth.dtype.kind not in "biuf":
        raise SignalError(f"{path}: {DEPTH_KEY} holds values of type {depth.dtype}, expected millimetres")
    values = depth.astype(np.float64) if not np.issubdtype(depth.dtype, np.floating) else depth.copy()
    problems = []
    finite = np.isfinite(values)
    if not finite.all():
        problems.append(f"{np.size(values) - int(finite.sum())} non-finite values (set to 0, no reading)")
        values[~finite] = 0
    rounded = np.rint(values)
    fractional = rounded != values
    if fractional.any():
        largest = float(np.abs(values).max())
        hint = f"; largest {largest:g}: metres, not millimetres?" if largest <= 20 else ""
        problems.append(
            f"{int(fractional.sum())} values are not integer millimetres (e.g. {values[fractional][0]:g}; "
            f"rounded to the nearest{hint})"
        )
        values = rounded
    negative = values < 0
    if negative.any():
        problems.append(f"{int(negative.sum())} negative values (down to {values.min():g}; set to 0, no reading)")
        values[negative] = 0
    limit = np.iinfo(np.uint16).max
    if (values > limit).any():
        problems.append(f"{int((values > limit).sum())} values beyond {limit} mm (clipped)")
        values = np.minimum(values, limit)
    return values.astype(np.uint16), problems


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
