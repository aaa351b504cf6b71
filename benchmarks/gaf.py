"""GAF benchmark: our vectorised GAF against pyts on the real UTD-MHAD inertial recordings.

Converts every recording's accelerometer and gyroscope (3 axes each) at S=64 and S=128 with
``pipeline.gaf.gaf_images`` and with ``pyts.image.GramianAngularField`` in the same run,
checks they agree, and prints a JSON object as its last line. pyts gets its best case: one
call per group of equal-length series (it cannot batch different lengths), after a warm-up
call so numba's compile time and pyts's ~30 s import are excluded; both are timed after an
untimed full call (the first allocation's page faults are not the kernels' cost). Ours is timed as the
gaf stage runs it (a thread per core) and on one thread. Recordings shorter than S
are left out for both, since pyts refuses them. Per size, ``matches_pyts`` says whether both
gave images of the same shape, equal within 1e-5 (``np.allclose``, absolute); the summary's
``matches_pyts`` is true when every size does.

    python -m benchmarks.gaf [--root ../shared/data/utd_mhad] [--repeats 3]
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks import common
from pipeline.datasets.utd_mhad import read_signal
from pipeline.gaf import gaf_images

MATCH_ATOL = 1e-5  # float32 images against pyts's float64 ones
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "utd_mhad"


def load_signals(root: Path, limit: int | None = None) -> list[np.ndarray]:
    files = sorted((root / "Inertial").glob("*_inertial.mat"))[:limit]
    if not files:
        sys.exit(f"error: no Inertial/*_inertial.mat under {root} (UTD-MHAD layout expected)")
    return [read_signal(path, sensor).values for path in files for sensor in ("acc", "gyro")]


def pyts_gaf(signals: list[np.ndarray], image_size: int, transformer) -> list[np.ndarray]:
    """pyts at its best: one transform per group of equal-length axes."""
    groups = defaultdict(list)
    for index, signal in enumerate(signals):
        groups[len(signal)].append(index)
    out = [None] * len(signals)
    for length, indices in groups.items():
        axes = np.concatenate([signals[i].T for i in indices])  # (3 * n, length)
        images = transformer.fit_transform(axes).reshape(len(indices), 3, image_size, image_size)
        for position, index in enumerate(indices):
            out[index] = images[position]
    return out


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = common.parser("benchmarks.gaf", __doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="UTD-MHAD folder (with Inertial/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per size (median; default %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N recordings (smoke runs)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    signals = load_signals(args.root, args.limit)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    from pyts.image import GramianAngularField

    pyts_import_seconds = time.perf_counter() - start

    results, ours_total, pyts_total = {}, 0.0, 0.0
    threads = len(os.sched_getaffinity(0))  # what gaf_images uses by default
    for size in args.sizes:
        usable = [signal for signal in signals if len(signal) >= size]
        transformer = GramianAngularField(image_size=size, method="summation")
        transformer.fit_transform(np.zeros((1, size)) + np.arange(size))  # numba compile, excluded
        # One untimed full call of each first: the first size measured otherwise pays the
        # process's first-touch page faults (2-4x slower, for pyts and for us alike).
        gaf_images(usable, size)
        pyts_gaf(usable, size, transformer)
        ours_seconds = median_time(lambda: gaf_images(usable, size), args.repeats)
        one_thread_seconds = median_time(lambda: gaf_images(usable, size, threads=1), args.repeats)
        pyts_seconds = median_time(lambda: pyts_gaf(usable, size, transformer), args.repeats)
        ours = gaf_images(usable, size)
        reference = np.stack(pyts_gaf(usable, size, transformer))
        matches = bool(ours.shape == reference.shape and np.allclose(ours, reference, rtol=0, atol=MATCH_ATOL))
        results[f"S{size}"] = {
            "signals": len(usable),
            "images_shape": list(ours.shape),
            "matches_pyts": matches,
            "ours_seconds": round(ours_seconds, 4),
            "pyts_seconds": round(pyts_seconds, 4),
            "speedup": round(pyts_seconds / ours_seconds, 2),
            "threads": threads,
            "ours_one_thread_seconds": round(one_thread_seconds, 4),
            "speedup_one_thread": round(pyts_seconds / one_thread_seconds, 2),
            "max_abs_difference": float(np.abs(ours - reference).max()) if ours.shape == reference.shape else None,
        }
        ours_total += ours_seconds
        pyts_total += pyts_seconds
        difference = results[f"S{size}"]["max_abs_difference"]
        print(f"S={size}: {len(usable)} sensor signals, ours {ours_seconds:.3f} s, pyts {pyts_seconds:.3f} s, "
              f"x{pyts_seconds / ours_seconds:.1f} (one thread {one_thread_seconds:.3f} s, "
              f"x{pyts_seconds / one_thread_seconds:.1f}), max |diff| "
              + (f"{difference:.2e}" if difference is not None else f"n/a (shapes {ours.shape} vs {reference.shape})"))
    summary = {
        "benchmark": "gaf",
        "recordings": len(signals) // 2,
        "load_seconds": round(load_seconds, 3),
        "pyts_import_seconds_excluded": round(pyts_import_seconds, 2),
        "sizes": results,
        "speedup_vs_pyts": round(pyts_total / ours_total, 2),
        "matches_pyts": all(result["matches_pyts"] for result in results.values()),
    }
    return common.finish(summary, "benchmarks.gaf", argv, args.output)


if __name__ == "__main__":
    main()
