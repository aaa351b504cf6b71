"""Berkeley-MHAD in its distributed layout (11 actions, 12 subjects, 5 repetitions):

- ``Accelerometer/Shimmer0K/acc_h0K_sSS_aAA_rRR.txt``, K = 1..6 (six body positions), rows
  ``x y z timestamp`` separated by spaces, ~30 Hz. Sensors ``shimmer01`` .. ``shimmer06``.
- ``Camera/ClusterCC/CamNN/SSS/AAA/RRR/`` folders of ``.pgm`` frames, one per camera view;
  each (recording, view) is a video sample. ``view`` = 100 * cluster + camera (e.g. 203).

A recording is (subject, action, repetition); ``trial`` holds the repetition.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.datasets.manifest import packaged_class_names, select_complete
from pipeline.errors import DatasetError
from pipeline.signals import Signal, read_xyzt_text

SENSORS = tuple(f"shimmer{k:02d}" for k in range(1, 7))
ACCELEROMETER = re.compile(r"^acc_h(\d+)_s(\d+)_a(\d+)_r(\d+)\.txt$")
CAMERA = re.compile(r"^Cluster(\d+)/Cam(\d+)/S(\d+)/A(\d+)/R(\d+)$")

SPLITS = {"cross_subject": ("subject", list(range(8, 13)))}  # subjects 1-7 train, 8-12 test


def class_names(root: Path, **options) -> list[str]:
    return packaged_class_names("berkeley_mhad")


def _accelerometer_files(root: Path) -> dict[tuple[int, int, int], dict[str, str]]:
    found: dict[tuple[int, int, int], dict[str, str]] = {}
    for path in (root / "Accelerometer").glob("Shimmer*/acc_h*_s*_a*_r*.txt"):
        match = ACCELEROMETER.match(path.name)
        if match:
            sensor, subject, action, repetition = (int(g) for g in match.groups())
            found.setdefault((subject, action, repetition), {})[f"shimmer{sensor:02d}"] = str(path)
    return found


def _camera_folders(root: Path) -> dict[tuple[int, int, int], dict[int, str]]:
    found: dict[tuple[int, int, int], dict[int, str]] = {}
    camera_root = root / "Camera"
    for folder in camera_root.glob("Cluster*/Cam*/S*/A*/R*"):
        match = CAMERA.match(folder.relative_to(camera_root).as_posix())
        if match and folder.is_dir():
            cluster, camera, subject, action, repetition = (int(g) for g in match.groups())
            found.setdefault((subject, action, repetition), {})[100 * cluster + camera] = str(folder)
    return found


def build_manifest(root: Path, vision: str = "rgb", require: str = "all") -> pd.DataFrame:
    """One row per (recording, camera view); a recording with no camera folder keeps one row
    with an empty video (kept only with ``require='any'``). A missing accelerometer file
    leaves its sensor column empty for that recording."""
    if vision != "rgb":
        raise DatasetError(f"berkeley_mhad: has no {vision!r} video (vision must be 'rgb')")
    sensors, cameras = _accelerometer_files(root), _camera_folders(root)
    if not sensors and not cameras:
        raise DatasetError(
            f"{root}: no Berkeley-MHAD files found (expected Accelerometer/Shimmer0K/"
            "acc_h0K_sSS_aAA_rRR.txt and Camera/ClusterCC/CamNN/SSS/AAA/RRR/ frame folders)"
        )
    names = class_names(root)
    rows = []
    for subject, action, repetition in sorted(set(sensors) | set(cameras)):
        if not 1 <= action <= len(names):
            raise DatasetError(f"{root}: action a{action:02d} outside 1..{len(names)}")
        recording = f"s{subject:02d}_a{action:02d}_r{repetition:02d}"
        files = sensors.get((subject, action, repetition), {})
        views = cameras.get((subject, action, repetition), {}) or {None: ""}
        for view, folder in sorted(views.items(), key=lambda item: item[0] or 0):
            rows.append(dict(
                sample_id=recording if view is None else f"{recording}_v{view}", recording_id=recording,
                label=action - 1, class_name=names[action - 1], subject=subject, trial=repetition,
                view=pd.NA if view is None else view, scene=pd.NA, session=pd.NA, video=folder,
                **{f"sensor_{sensor}": files.get(sensor, "") for sensor in SENSORS},
            ))
    return select_complete(pd.DataFrame(rows), require, f"berkeley_mhad at {root}")


# The Shimmer timestamps never go back: any step back is warned about.
TIMESTAMP_JITTER = 0.0


def read_signal(path: Path, sensor: str) -> Signal:
    return read_xyzt_text(path, jitter=TIMESTAMP_JITTER)
