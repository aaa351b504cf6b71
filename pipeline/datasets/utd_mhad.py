"""UTD-MHAD native readers: ``Inertial/aA_sS_tT_inertial.mat`` (MATLAB v5, key ``d_iner``,
N x 6: accelerometer in g in columns 0-2, gyroscope in deg/s in 3-5, 50 Hz)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.signals import Signal, SignalError, check_signal

SAMPLE_RATE = 50.0
INERTIAL_KEY = "d_iner"
INERTIAL_COLUMNS = {"acc": slice(0, 3), "gyro": slice(3, 6)}


def read_inertial(path: str | Path) -> np.ndarray:
    """The (N, 6) inertial matrix of one recording."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        matrix = loadmat(str(path), variable_names=[INERTIAL_KEY]).get(INERTIAL_KEY)
    except FileNotFoundError:
        raise SignalError(f"{path}: file not found") from None
    except Exception as error:  # scipy raises ValueError/TypeError/MatReadError on bad files
        raise SignalError(f"{path}: not a readable MATLAB file ({error})") from None
    if matrix is None:
        raise SignalError(f"{path}: no variable {INERTIAL_KEY!r} (not a UTD-MHAD inertial file)")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != 6:
        raise SignalError(f"{path}: {INERTIAL_KEY} has shape {matrix.shape}, expected N x 6")
    return matrix


def read_signal(path: Path, sensor: str) -> Signal:
    if sensor not in INERTIAL_COLUMNS:
        raise SignalError(f"{path}: UTD-MHAD has sensors {list(INERTIAL_COLUMNS)}, not {sensor!r}")
    values = read_inertial(path)[:, INERTIAL_COLUMNS[sensor]]
    timestamps = np.arange(len(values)) / SAMPLE_RATE
    return Signal(values=check_signal(values, f"{path} ({sensor})"), timestamps=timestamps)
