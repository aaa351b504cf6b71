"""Adapter for the built-in synthetic dataset written by ``pipeline.synthetic``.

Its native layout is ``classes.txt``, ``metadata.csv`` (one row per video sample, paths
relative to the root), ``sensors/<recording>/<sensor>.csv`` and ``videos/<sample>.avi``.
Missing videos are an error, or with ``require='any'`` samples without video (sensors only).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from pipeline.datasets.manifest import select_complete
from pipeline.errors import DatasetError
from pipeline.signals import Signal, read_xyz_csv

log = logging.getLogger(__name__)

# Held out for test: the last quarter of subjects, the most distant (last) view, the
# occluded (last) scene, the last session.
SPLITS = {
    "cross_subject": ("subject", lambda subjects: subjects[-max(1, math.ceil(len(subjects) / 4)):]),
    "cross_view": ("view", lambda views: views[-1:]),
    "cross_scene": ("scene", lambda scenes: scenes[-1:]),
    "cross_session": ("session", lambda sessions: sessions[-1:]),
}


def _expect(path: Path, root: Path) -> Path:
    if not path.is_file():
        raise DatasetError(
            f"{root}: not a synthetic dataset (expected {path.name}, written by the synthesize stage)"
        )
    return path


def class_names(root: Path, **options) -> list[str]:
    lines = _expect(root / "classes.txt", root).read_text().splitlines()
    return [line.strip() for line in lines if line.strip()]


def build_manifest(root: Path, vision: str = "rgb", require: str = "all") -> pd.DataFrame:
    if vision != "rgb":
        raise DatasetError(f"synthetic: has no {vision!r} video (vision must be 'rgb')")
    manifest = pd.read_csv(_expect(root / "metadata.csv", root), keep_default_na=False)
    for column in ["video"] + [c for c in manifest.columns if c.startswith("sensor_")]:
        manifest[column] = [str(root / relative) for relative in manifest[column]]
    missing = [not Path(path).is_file() for path in manifest["video"]]
    if any(missing):
        example = manifest["video"][missing.index(True)]
        if require == "all":  # a generated dataset lacking files is a damaged copy
            raise DatasetError(f"{root}: {sum(missing)} videos listed in metadata.csv are missing, e.g. {example} "
                               "(data.require: any keeps their samples, sensors only)")
        log.warning("%s: %d videos listed in metadata.csv are missing, e.g. %s; their samples are kept without "
                    "video (data.require: any)", root, sum(missing), example)
        manifest.loc[missing, "video"] = ""
    return select_complete(manifest, require, f"synthetic at {root}")


# The generator writes strictly increasing times: any step back is warned about.
TIMESTAMP_JITTER = 0.0


def read_signal(path: Path, sensor: str) -> Signal:
    return read_xyz_csv(path, jitter=TIMESTAMP_JITTER)
