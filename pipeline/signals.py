"""Readers for tri-axial sensor signals, with errors that name the file and the problem.

Every reader returns a :class:`Signal`: ``values`` is a (T, 3) float64 array (NaN marks a
gap), ``timestamps`` is (T,) seconds or None when the format has none.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class SignalError(ValueError):
    """A sensor file that cannot be turned into a signal; the message names the file."""


@dataclass
class Signal:
    values: np.ndarray
    timestamps: np.ndarray | None = None


def check_signal(values: np.ndarray, source: str) -> np.ndarray:
    """Reject empty signals and all-NaN axes; return values as float64 (T, 3)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 3:
        raise SignalError(f"{source}: expected 3 axes (x, y, z), got shape {values.shape}")
    if values.shape[0] == 0:
        raise SignalError(f"{source}: empty signal (no samples)")
    empty_axes = [axis for axis in range(3) if np.isnan(values[:, axis]).all()]
    if empty_axes:
        names = ", ".join("xyz"[axis] for axis in empty_axes)
        raise SignalError(f"{source}: axis {names} has no numeric value (all missing)")
    return values


def read_xyz_csv(path: str | Path) -> Signal:
    """Read a ``t,x,y,z`` CSV (header optional). Empty fields are gaps (NaN); a field that is
    not a number is an error naming the line."""
    path = Path(path)
    lines = _read_lines(path)
    first = lines[0].strip().lower().replace(" ", "")
    header = 1 if first and not _is_numeric_row(first) else 0
    if header and first.split(",") != ["t", "x", "y", "z"]:
        raise SignalError(f"{path}: line 1: expected header 't,x,y,z', got {lines[0]!r}")
    if not any(line.strip() for line in lines[header:]):
        raise SignalError(f"{path}: empty signal (header only, no samples)")
    table = pd.read_csv(
        io.StringIO("\n".join(lines)), header=None, skiprows=header, dtype=str,
        keep_default_na=False, skip_blank_lines=True,
    )
    if table.shape[1] != 4:
        raise SignalError(f"{path}: expected 4 columns t,x,y,z, found {table.shape[1]}")
    values = _numeric_table(path, table, "txyz", lines, header)
    if np.isnan(values[:, 0]).any():
        line = _line_number(lines, header, int(np.flatnonzero(np.isnan(values[:, 0]))[0]))
        raise SignalError(f"{path}: line {line}: missing timestamp")
    return Signal(values=check_signal(values[:, 1:], str(path)), timestamps=values[:, 0])


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) for field in line.split(",") if field]
        return True
    except ValueError:
        return False


def _line_number(lines: list[str], header: int, data_row: int) -> int:
    """1-based file line of the data_row-th non-blank data line."""
    seen = -1
    for number, line in enumerate(lines[header:], start=header + 1):
        if line.strip():
            seen += 1
            if seen == data_row:
                return number
    return len(lines)


def _numeric_table(path: Path, table: pd.DataFrame, names: str, lines: list[str], header: int = 0) -> np.ndarray:
    """Strings -> float64, with an error naming the first non-number's line and column."""
    table = table.apply(lambda column: column.str.strip())
    numbers = table.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() & (table != "")
    if bad.any().any():
        row = int(np.flatnonzero(bad.any(axis=1).to_numpy())[0])
        column = int(np.flatnonzero(bad.iloc[row].to_numpy())[0])
        raise SignalError(
            f"{path}: line {_line_number(lines, header, row)}: {names[column]} value "
            f"{table.iat[row, column]!r} is not a number"
        )
    return numbers.to_numpy(dtype=np.float64)


def read_xyzt_text(path: str | Path) -> Signal:
    """Space-separated ``x y z timestamp`` rows (Berkeley-MHAD accelerometers); timestamps in
    seconds, made relative to the first."""
    path = Path(path)
    lines = _read_lines(path)
    rows = [line.split() for line in lines if line.strip()]
    wrong = next((i for i, row in enumerate(rows) if len(row) != 4), None)
    if wrong is not None:
        raise SignalError(
            f"{path}: line {_line_number(lines, 0, wrong)}: expected 4 values 'x y z timestamp', "
            f"got {len(rows[wrong])}"
        )
    values = _numeric_table(path, pd.DataFrame(rows, dtype=str), "xyzt", lines)
    timestamps = values[:, 3]
    return Signal(values=check_signal(values[:, :3], str(path)), timestamps=timestamps - timestamps[0])


def read_timestamped_csv(path: str | Path, time_format: str = "%Y%m%d_%H:%M:%S.%f") -> Signal:
    """``<timestamp string>,x,y,z`` rows without header (MMAct); timestamps become seconds
    from the first row."""
    path = Path(path)
    lines = _read_lines(path)
    rows = [line.split(",") for line in lines if line.strip()]
    wrong = next((i for i, row in enumerate(rows) if len(row) != 4), None)
    if wrong is not None:
        raise SignalError(
            f"{path}: line {_line_number(lines, 0, wrong)}: expected 4 fields 'time,x,y,z', got {len(rows[wrong])}"
        )
    table = pd.DataFrame(rows, dtype=str)
    times = pd.to_datetime(table[0].str.strip(), format=time_format, errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise SignalError(
            f"{path}: line {_line_number(lines, 0, row)}: timestamp {table.iat[row, 0]!r} "
            f"does not match {time_format!r}"
        )
    values = _numeric_table(path, table[[1, 2, 3]], "xyz", lines)
    seconds = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    return Signal(values=check_signal(values, str(path)), timestamps=seconds)


def _read_lines(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise SignalError(f"{path}: cannot read ({error.strerror})") from None
    if not any(line.strip() for line in lines):
        raise SignalError(f"{path}: empty signal (no samples)")
    return lines
