"""Gramian Angular Field images of tri-axial signals, vectorised over a batch (docs/method.md §1).

The kernels work on a padded batch of variable-length series, so one call converts
hundreds of recordings without a Python loop per series: the window means in one pass
(``np.add.reduceat``), the field as one rank-2 matrix product per series (BLAS writes each
image once), its float16 cast by one thread per core (NumPy releases the GIL).
``pyts.image.GramianAngularField`` is the test oracle (identical windows, scaling and
field), not a dependency of this module.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from pipeline.signals import SignalError

log = logging.getLogger(__name__)

METHODS = ("summation", "difference")
# Rows whose largest |value| is below this cannot overflow a window sum of any realistic
# length (2**960 * 2**60 samples < the largest float), so they skip the exact rescaling.
SAFE_MAGNITUDE = 2.0**960
# Fewer signals than this per thread are not worth a thread.
MIN_SIGNALS_PER_THREAD = 64
# Values per block of the field computed for a non-float32 output: 1 MiB of float32 stays in L2 cache.
FIELD_BLOCK_VALUES = 2**18


def _binary_exponents(rows: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Per row, the exponent ``e`` with every finite |value| < 2**e (0 for an all-zero row).

    ``np.ldexp(row, -e)`` brings a row into (-1, 1) exactly (a power of two changes no
    mantissa), so sums and spans of huge finite values (1e308 + 1e308) cannot overflow, and
    scaling back with ``np.ldexp(result, e)`` restores the units bit for bit.
    """
    magnitude = np.abs(rows)
    ignored = ~np.isfinite(magnitude) if valid is None else ~valid | ~np.isfinite(magnitude)
    peak = np.where(ignored, 0.0, magnitude).max(axis=1, initial=0.0)
    return np.frexp(peak)[1]


def fill_gaps(series: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN gaps of a 1-D series (edges take the nearest value)."""
    missing = np.isnan(series)
    if not missing.any():
        return series
    known = np.flatnonzero(~missing)
    exponent = _binary_exponents(series[None, known])[0]
    unit = np.ldexp(series[known], -exponent)  # the slope between +-1e308 would overflow
    # clip: rounding must not step past the largest value, which may be the largest float
    filled_unit = np.clip(np.interp(np.flatnonzero(missing), known, unit), unit.min(), unit.max())
    filled = series.copy()
    filled[missing] = np.ldexp(filled_unit, exponent)
    return filled


def resample(padded: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """Resample each row's first ``lengths[i]`` points to ``size`` points.

    Rows with at least ``size`` points use piecewise aggregate approximation with pyts's
    windows (bounds ``linspace(0, T, size + 1)`` truncated to integers); shorter rows use
    linear interpolation. Overflow-safe: a row whose largest value could overflow a window
    sum (one vectorised check of the row maxima; real sensors never get near) is computed
    in units of a power of two above that value (see :func:`_binary_exponents`).
    """
    count = padded.shape[0]
    # NaN or inf in a row (padding included) also takes the safe path. Two reductions, no
    # |padded| temporary.
    huge = ~((padded.max(axis=1, initial=0.0) < SAFE_MAGNITUDE) & (padded.min(axis=1, initial=0.0) > -SAFE_MAGNITUDE))
    exponents = np.zeros(count, dtype=np.int64)
    valid = np.arange(padded.shape[1]) < lengths[:, None] if huge.any() else None
    if huge.any():
        exponents[huge] = _binary_exponents(padded[huge], valid[huge])
        padded = padded.copy()
        padded[huge] = np.ldexp(padded[huge], -exponents[huge, None])
    out = np.empty((count, size), dtype=np.float64)
    long_rows = lengths >= size
    if long_rows.any():
        rows = padded[long_rows] if not long_rows.all() else np.ascontiguousarray(padded)
        bounds = np.linspace(0, lengths[long_rows], size + 1, axis=1).astype(np.int64)
        # Window sums in one pass over the rows laid end to end: each row's windows start at
        # its bounds (none is empty, as length >= size); its last one runs on into the zero
        # padding, which adds nothing.
        starts = (bounds[:, :-1] + np.arange(len(rows))[:, None] * rows.shape[1]).ravel()
        sums = np.add.reduceat(rows.reshape(-1), starts).reshape(len(rows), size)
        out[long_rows] = sums / np.diff(bounds, axis=1)
    short_rows = ~long_rows
    if short_rows.any():
        rows = padded[short_rows]
        positions = np.linspace(0, lengths[short_rows] - 1, size, axis=1)
        left = np.floor(positions).astype(np.int64)
        right = np.minimum(left + 1, (lengths[short_rows] - 1)[:, None])
        weight = positions - left
        out[short_rows] = (1 - weight) * np.take_along_axis(rows, left, 1) + weight * np.take_along_axis(
            rows, right, 1
        )
    if huge.any():
        # A window mean or an interpolated point lies within the row's range; clip rounding
        # so that scaling back cannot step past the largest float.
        scaled, row_valid = padded[huge], valid[huge]
        low = np.where(row_valid, scaled, np.inf).min(axis=1, keepdims=True)
        high = np.where(row_valid, scaled, -np.inf).max(axis=1, keepdims=True)
        out[huge] = np.ldexp(np.clip(out[huge], low, high), exponents[huge, None])
    return out


def scale_to_unit(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max scale each row to [-1, 1]; a constant row maps to 0. Returns the scaled rows
    and a boolean mask of constant rows. Overflow-safe: a row is first divided by a power of
    two above its largest value (exact; min-max scaling is invariant to it), so the span
    ``high - low`` of +-1e308 stays finite."""
    series = np.ldexp(series, -_binary_exponents(series)[:, None])
    low = series.min(axis=1, keepdims=True)
    high = series.max(axis=1, keepdims=True)
    span = high - low
    # Relative tolerance: PAA through cumulative sums leaves ~1e-15 ripple on a constant row.
    magnitude = np.maximum(np.abs(low), np.abs(high))
    constant = (span <= 64 * np.finfo(np.float64).eps * np.maximum(magnitude, 1e-300))[:, 0]
    span = np.where(constant[:, None], 0.0, span)
    safe_span = np.where(span > 0, span, 1.0)
    scaled = np.clip(((series - high) + (series - low)) / safe_span, -1.0, 1.0)
    scaled[constant] = 0.0
    return scaled, constant


def angular_field(scaled: np.ndarray, method: str = "summation", dtype=np.float32,
                  out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """(N, S) values in [-1, 1] -> (N, S, S) summation or difference field.

    Both fields are a difference of two outer products, ``cos_i cos_j - sin_i sin_j``
    (summation, cos(a + b)) and ``sin_i cos_j - cos_i sin_j`` (difference, sin(a - b)): per
    series one (S, 2) x (2, S) matrix product, which BLAS writes in a single pass (three
    NumPy passes over the output otherwise). In float32, straight into a float32 output, or a
    cache-sized block at a time into another dtype (float16 for the cache), so no full-size
    temporary is made; ``threads`` fill parts of the rows at once (NumPy releases the GIL).
    sin is taken in float64: ``sqrt(1 - cos^2)`` in float32 loses ~1e-4 near cos = +-1.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    cos = scaled.astype(np.float64, copy=False)
    sin = np.sqrt(np.clip((1 - cos) * (1 + cos), 0, 1))
    cos, sin = cos.astype(np.float32), sin.astype(np.float32)
    # field = a_i b_j - c_i d_j = [a_i, c_i] . [b_j, -d_j]
    a, b, c, d = (cos, cos, sin, sin) if method == "summation" else (sin, cos, cos, sin)
    left, right = np.stack([a, c], axis=2), np.stack([b, -d], axis=1)  # (N, S, 2), (N, 2, S)
    count, size = scaled.shape
    out = np.empty((count, size, size), dtype=dtype) if out is None else out
    direct = out.dtype == np.float32
    block = max(1, FIELD_BLOCK_VALUES // max(size * size, 1))

    def fill(start: int, stop: int) -> None:
        if direct:
            np.matmul(left[start:stop], right[start:stop], out=out[start:stop])
            return
        field = np.empty((min(block, stop - start), size, size), dtype=np.float32)
        for first in range(start, stop, block):
            last = min(first + block, stop)
            np.matmul(left[first:last], right[first:last], out=field[: last - first])
            out[first:last] = field[: last - first]

    # Threads pay for the float16 cast (NumPy's is scalar); a float32 field is one BLAS pass
    # that threads of ours only contend with.
    parts = 1 if direct else max(1, min(threads, count // (MIN_SIGNALS_PER_THREAD * 3)))
    if parts == 1:
        fill(0, count)
    else:  # the field is most of the work and of the memory written: one part per core
        bounds = np.linspace(0, count, parts + 1).astype(int)
        with ThreadPoolExecutor(parts, thread_name_prefix="gaf") as pool:
            for part in [pool.submit(fill, start, stop) for start, stop in zip(bounds, bounds[1:])]:
                part.result()
    return out


def gaf_images(
    signals: Sequence[np.ndarray],
    image_size: int,
    method: str = "summation",
    names: Sequence[str] | None = None,
    dtype=np.float32,
    threads: int | None = None,
) -> np.ndarray:
    """Convert tri-axial signals, each (T_i, 3) with optional NaN gaps, into (N, 3, S, S)
    GAF images, one channel per axis. ``names`` label signals in errors and warnings.
    ``threads``: threads computing the field (None: one per usable core; each takes at
    least ``MIN_SIGNALS_PER_THREAD`` signals)."""
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    out = np.empty((len(signals), 3, image_size, image_size), dtype=dtype)
    if len(signals) == 0:
        return out
    names = list(names) if names is not None else [f"signal {i}" for i in range(len(signals))]
    threads = len(os.sched_getaffinity(0)) if threads is None else threads
    lengths = np.empty(len(signals), dtype=np.int64)
    for index, signal in enumerate(signals):
        shape = np.shape(signal)
        if len(shape) != 2 or shape[1] != 3 or shape[0] == 0:
            raise SignalError(f"{names[index]}: expected a non-empty (T, 3) signal, got shape {shape}")
        lengths[index] = shape[0]
    # One zero-padded row per (signal, axis): (N, 3, T_max) viewed as (3N, T_max).
    padded = np.zeros((len(signals), 3, int(lengths.max())), dtype=np.float64)
    for index, signal in enumerate(signals):
        padded[index, :, : lengths[index]] = np.asarray(signal).T
    rows = padded.reshape(len(signals) * 3, -1)
    row_lengths = np.repeat(lengths, 3)
    if not np.isfinite(rows).all():
        for row in np.flatnonzero(np.isinf(rows).any(axis=1)):  # NaN is a gap; inf has no place
            sample = int(np.flatnonzero(np.isinf(rows[row]))[0])
            raise SignalError(f"{names[row // 3]}: axis {'xyz'[row % 3]}: sample {sample + 1} is {rows[row, sample]}")
        gaps = np.isnan(rows)
        valid_counts = row_lengths - gaps.sum(axis=1)
        for row in np.flatnonzero(valid_counts == 0):
            raise SignalError(f"{names[row // 3]}: axis {'xyz'[row % 3]} has no numeric value")
        for row in np.flatnonzero(gaps.any(axis=1)):
            rows[row, : row_lengths[row]] = fill_gaps(rows[row, : row_lengths[row]])
    scaled, constant = scale_to_unit(resample(rows, row_lengths, image_size))
    for row in np.flatnonzero(constant):
        log.warning("%s: axis %s is constant; scaled to 0 (docs/method.md §1)", names[row // 3], "xyz"[row % 3])
    # Defence in depth: finite input gives finite images; if not, stop before caching NaN.
    # Products of finite values in [-1, 1] are finite, so checking the rows checks the images.
    for row in np.flatnonzero(~np.isfinite(scaled).all(axis=1)):
        raise SignalError(
            f"{names[row // 3]}: axis {'xyz'[row % 3]}: the GAF image is not finite (numeric overflow)"
        )
    angular_field(scaled, method, out=out.reshape(len(signals) * 3, image_size, image_size), threads=threads)
    return out
