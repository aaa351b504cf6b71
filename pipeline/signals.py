"""Readers for tri-axial sensor signals, with errors that name the file and the problem.

Every reader returns a :class:`Signal`: ``values`` is a (T, 3) float64 array (NaN marks a
gap, only ever from an empty cell; every value read is finite), ``timestamps`` is (T,)
seconds or None when the format has none. Samples keep file order.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

# Timestamps are differences of large floats (epoch seconds): a step back this small is
# rounding, far below any logger's resolution, not the clock going back.
TIME_ROUNDING = 1e-9


class SignalError(PipelineError, ValueError):
    """A sensor file that cannot be turned into a signal; the message names the file."""


@dataclass
class Signal:
    values: np.ndarray
    timestamps: np.ndarray | None = None


def check_signal(values: np.ndarray, source: str) -> np.ndarray:
    """Reject empty signals, infinite values and all-NaN axes; return values as float64 (T, 3)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 3:
        raise SignalError(f"{source}: expected 3 axes (x, y, z), got shape {values.shape}")
    if values.shape[0] == 0:
        raise SignalError(f"{source}: empty signal (no samples)")
    infinite = np.argwhere(np.isinf(values))
    if len(infinite):  # the readers name the line first; this guards any other source
        sample, axis = infinite[0]
        raise SignalError(f"{source}: sample {sample + 1}: {'xyz'[axis]} value {values[sample, axis]} is not finite")
    empty_axes = [axis for axis in range(3) if np.isnan(values[:, axis]).all()]
    if empty_axes:
        names = ", ".join("xyz"[axis] for axis in empty_axes)
        raise SignalError(f"{source}: axis {names} has no numeric value (all missing)")
    return values


def check_timestamps(path: str | Path, timestamps: np.ndarray, line_numbers, jitter: float) -> None:
    """Warn when a timestamp falls more than ``jitter`` seconds behind the latest earlier one
    (the dataset's documented logging jitter; 0 for a monotonic clock). Such samples are
    kept, in file order: the warning says which line and by how much."""
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if len(timestamps) < 2:
        return
    latest = np.maximum.accumulate(timestamps)
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite stamps: inf is still "behind"
        behind = latest - timestamps
    late = np.flatnonzero(behind > jitter + TIME_ROUNDING)
    if late.size == 0:
        return
    first = late[0]
    others = f"; {late.size} samples in all, up to {behind[late].max():.6g} s back" if late.size > 1 else ""
    log.warning(
        "%s: line %d: timestamp steps back %.6g s (to %.6g s after %.6g s), more than the %g s "
        "jitter documented for this dataset%s; samples kept in file order",
        path, line_numbers[first], behind[first], timestamps[first], latest[first], jitter, others,
    )


def read_xyz_csv(path: str | Path, jitter: float = 0.0) -> Signal:
    """Read a ``t,x,y,z`` CSV (header optional). Empty fields are gaps (NaN); a field that is
    not a finite number, or a row without exactly 4 fields, is an error naming the line.
    Timestamps going back more than ``jitter`` seconds are warned about."""
    path = Path(path)
    lines = _read_lines(path)
    first = lines[0].strip().lower().replace(" ", "")
    header = 1 if first and not _is_numeric_row(first) else 0
    if header and first.split(",") != ["t", "x", "y", "z"]:
        raise SignalError(f"{path}: line 1: expected header 't,x,y,z', got {lines[0]!r}")
    # Split ourselves: pandas pads a short row with NaN, which would read a truncated row as gaps.
    rows, line_numbers = _split_rows(path, lines, header, ",", "columns t,x,y,z")
    if not rows:
        raise SignalError(f"{path}: empty signal (header only, no samples)")
    values = _numeric_table(path, rows, "txyz", line_numbers)
    if np.isnan(values[:, 0]).any():
        line = line_numbers[int(np.flatnonzero(np.isnan(values[:, 0]))[0])]
        raise SignalError(f"{path}: line {line}: missing timestamp")
    check_timestamps(path, values[:, 0], line_numbers, jitter)
    return Signal(values=check_signal(values[:, 1:], str(path)), timestamps=values[:, 0])


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) for field in line.split(",") if field]
        return True
    except ValueError:
        return False


def _split_rows(path: Path, lines: list[str], start: int, separator: str | None, expected: str):
    """Non-blank lines from ``start`` split into fields, each row exactly 4 fields, and the
    1-based file line of each row."""
    rows, line_numbers = [], []
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.strip():
            fields = line.split(separator)
            if len(fields) != 4:
                raise SignalError(f"{path}: line {number}: expected 4 {expected}, got {len(fields)}")
            rows.append(fields)
            line_numbers.append(number)
    return rows, line_numbers


def _numeric_table(path: Path, rows: list[list[str]], names: str, line_numbers: list[int]) -> np.ndarray:
    """Strings -> float64, with an error naming the first non-number or non-finite value
    (``nan``, ``inf``, an overflow such as ``1e309``) by line and column. Empty -> NaN (a gap)."""
    table = pd.DataFrame(rows, dtype=str).apply(lambda column: column.str.strip())
    numbers = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers) & (table != "").to_numpy()
    if bad.any():
        row, column = np.argwhere(bad)[0]  # row-major: the first in file order
        text = table.iat[row, column]
        raise SignalError(
            f"{path}: line {line_numbers[row]}: {names[column]} value {text!r} {_why_not_finite(text)}"
        )
    return numbers


def _why_not_finite(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return "is not a number"
    if math.isfinite(number):  # a spelling float() takes but pandas does not (e.g. '1_0')
        return "is not a number"
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return "is not a finite number"
    return "overflows float64 (not a finite number)"


def read_xyzt_text(path: str | Path, jitter: float = 0.0) -> Signal:
    """Space-separated ``x y z timestamp`` rows (Berkeley-MHAD accelerometers); timestamps in
    seconds, made relative to the first. Timestamps going back more than ``jitter`` seconds
    are warned about."""
    path = Path(path)
    lines = _read_lines(path)
    rows, line_numbers = _split_rows(path, lines, 0, None, "values 'x y z timestamp'")
    values = _numeric_table(path, rows, "xyzt", line_numbers)
    timestamps = values[:, 3] - values[0, 3]
    check_timestamps(path, timestamps, line_numbers, jitter)
    return Signal(values=check_signal(values[:, :3], str(path)), timestamps=timestamps)


def read_timestamped_csv(
    path: str | Path, time_format: str = "%Y%m%d_%H:%M:%S.%f", jitter: float = 0.0
) -> Signal:
    """``<timestamp string>,x,y,z`` rows without header (MMAct); timestamps become seconds
    from the first row. Timestamps going back more than ``jitter`` seconds are warned about."""
    path = Path(path)
    lines = _read_lines(path)
    rows, line_numbers = _split_rows(path, lines, 0, ",", "fields 'time,x,y,z'")
    table = pd.DataFrame(rows, dtype=str)
    times = pd.to_datetime(table[0].str.strip(), format=time_format, errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise SignalError(
            f"{path}: line {line_numbers[row]}: timestamp {table.iat[row, 0]!r} "
            f"does not match {time_format!r}"
        )
    values = _numeric_table(path, [row[1:] for row in rows], "xyz", line_numbers)
    seconds = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    check_timestamps(path, seconds, line_numbers, jitter)
    return Signal(values=check_signal(values, str(path)), timestamps=seconds)


def _read_lines(path: Path) -> list[str]:
    """The file's lines, decoded as UTF-8 (a leading byte-order mark is dropped)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SignalError(f"{path}: cannot read ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # error.object is what was decoded (after any BOM); count the lines before the bad byte
        line = len((error.object[: error.start] + b".").splitlines())
        offset = error.start + len(data) - len(error.object)
        raise SignalError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {offset})"
        ) from None
    # Only \n, \r\n and \r end a line (str.splitlines also splits on \f, \v, ...), so line
    # numbers match what an editor shows.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not any(line.strip() for line in lines):
        raise SignalError(f"{path}: empty signal (no samples)")
    return lines
