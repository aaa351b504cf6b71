"""MMAct (trimmed release) in its distributed layout (20 subjects, 4 cameras, 4 scenes,
5 sessions):

- ``Sensor_trimmed/{acc_phone_clip,acc_watch_clip,gyro_clip,orientation_clip}/subjectNN/
  sceneN/sessionN/<action>.csv``, rows ``YYYYMMDD_HH:MM:SS.ffffff,x,y,z`` without header.
  Sensors ``acc_phone``, ``acc_watch``, ``gyro``, ``orientation``.
- ``RGB/subjectNN/camN/sceneN/sessionN/<action>.mp4``, one video per camera view.

Timestamps are kept as logged: they jitter (the real clip has steps back of up to 45 ms),
and samples stay in file order.

Labels come from the action's name looked up in the class list (``carrying_heavy`` ->
"carrying heavy"), never from the order of a folder listing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.datasets.manifest import packaged_class_names, select_complete
from pipeline.errors import DatasetError
from pipeline.signals import Signal, read_timestamped_csv

SENSOR_FOLDERS = {"acc_phone": "acc_phone_clip", "acc_watch": "acc_watch_clip",
                  "gyro": "gyro_clip", "orientation": "orientation_clip"}
SENSOR_PATH = re.compile(r"^subject(\d+)/scene(\d+)/session(\d+)/([^/]+)\.csv$")
VIDEO_PATH = re.compile(r"^subject(\d+)/cam(\d+)/scene(\d+)/session(\d+)/([^/]+)\.mp4$")

SPLITS = {
    "cross_subject": ("subject", [17, 18, 19, 20]),  # subjects 1-16 train
    "cross_view": ("view", [4]),  # cameras 1-3 train
    "cross_scene": ("scene", [2]),  # scene 2 (occluded) is test
    "cross_session": ("session", [5]),  # sessions 1-4 train
}


def class_names(root: Path, **options) -> list[str]:
    return packaged_class_names("mmact")


def action_class(stem: str) -> str:
    return " ".join(stem.replace("_", " ").split()).lower()


def build_manifest(root: Path, vision: str = "rgb", require: str = "all") -> pd.DataFrame:
    if vision != "rgb":
        raise DatasetError(f"mmact: has no {vision!r} video (vision must be 'rgb')")
    names = class_names(root)
    label_of = {name: label for label, name in enumerate(names)}
    recordings: dict[tuple, dict] = {}

    def recording_of(subject, scene, session, action, path):
        class_name = action_class(action)
        if class_name not in label_of:
            raise DatasetError(f"{path}: action {class_name!r} is not in the MMAct class list ({len(names)} classes)")
        key = (subject, scene, session, class_name)
        return recordings.setdefault(key, {"sensors": {}, "videos": {}})

    sensor_root = root / "Sensor_trimmed"
    for sensor, folder in SENSOR_FOLDERS.items():
        for path in (sensor_root / folder).glob("subject*/scene*/session*/*.csv"):
            match = SENSOR_PATH.match(path.relative_to(sensor_root / folder).as_posix())
            if match:
                subject, scene, session = (int(g) for g in match.groups()[:3])
                recording_of(subject, scene, session, match.group(4), path)["sensors"][sensor] = str(path)
    video_root = root / "RGB"
    for path in video_root.glob("subject*/cam*/scene*/session*/*.mp4"):
        match = VIDEO_PATH.match(path.relative_to(video_root).as_posix())
        if match:
            subject, camera, scene, session = (int(g) for g in match.groups()[:4])
            recording_of(subject, scene, session, match.group(5), path)["videos"][camera] = str(path)
    if not recordings:
        raise DatasetError(
            f"{root}: no MMAct files found (expected Sensor_trimmed/<sensor>_clip/subjectNN/sceneN/"
            "sessionN/<action>.csv and RGB/subjectNN/camN/sceneN/sessionN/<action>.mp4)"
        )
    rows = []
    for (subject, scene, session, class_name), found in sorted(recordings.items()):
        label = label_of[class_name]
        recording = f"s{subject:02d}_sc{scene}_se{session}_{class_name.replace(' ', '_')}"
        views = found["videos"] or {None: ""}
        for camera, video in sorted(views.items(), key=lambda item: item[0] or 0):
            rows.append(dict(
                sample_id=recording if camera is None else f"{recording}_c{camera}", recording_id=recording,
                label=label, class_name=class_name, subject=subject, trial=pd.NA,
                view=pd.NA if camera is None else camera, scene=scene, session=session, video=video,
                **{f"sensor_{sensor}": found["sensors"].get(sensor, "") for sensor in SENSOR_FOLDERS},
            ))
    return select_complete(pd.DataFrame(rows), require, f"mmact at {root}")


# The logger's clock jitters: the real clip steps back by up to 45 ms (docstring above);
# anything further back is warned about.
TIMESTAMP_JITTER = 0.045


def read_signal(path: Path, sensor: str) -> Signal:
    return read_timestamped_csv(path, jitter=TIMESTAMP_JITTER)
