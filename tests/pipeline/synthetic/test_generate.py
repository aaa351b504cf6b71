"""Tests of the synthetic dataset generator (pipeline/synthetic/generate.py) on tiny
configurations: the files it writes, their sensors and videos, scenes and sessions, and its
failures."""
from __future__ import annotations

import re
from pathlib import Path

import decord
import numpy as np
import pandas as pd
import pytest

from pipeline.synthetic import CLASS_NAMES, SENSORS, generate_dataset
from pipeline.synthetic import render
from pipeline.synthetic.generate import METADATA_COLUMNS, scene_of, session_of

# Deliberately not in CLASS_NAMES order: labels must follow this list.
TINY_CLASSES = ["right hand wave", "jogging in place", "right arm swipe to the left"]
TINY_VIEWS = [{"azimuth": 0.0, "distance": 4.0}, {"azimuth": 0.0, "distance": 8.0}]
TINY = dict(num_subjects=2, trials=1, num_scenes=2, num_sessions=2, views=TINY_VIEWS,
            classes=TINY_CLASSES, video_size=64, progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate_dataset(root, seed=3, workers=2, **TINY)
    return root


@pytest.fixture(scope="module")
def metadata(dataset) -> pd.DataFrame:
    return pd.read_csv(dataset / "metadata.csv")


def read_sensor(root: Path, row, sensor: str) -> pd.DataFrame:
    return pd.read_csv(root / row[f"sensor_{sensor}"])


def decode(path: Path) -> np.ndarray:
    reader = decord.VideoReader(str(path))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def test_layout_and_metadata(dataset, metadata):
    assert tuple(metadata.columns) == METADATA_COLUMNS
    assert len(metadata) == 2 * len(TINY_CLASSES) * 1 * len(TINY_VIEWS)
    assert (dataset / "classes.txt").read_text().splitlines() == TINY_CLASSES
    assert metadata["sample_id"].is_unique
    for row in metadata.itertuples():
        assert CLASS_NAMES.index(row.class_name) + 1 == int(row.recording_id[1:3])
        assert row.label == TINY_CLASSES.index(row.class_name)
        assert row.recording_id == f"a{int(row.recording_id[1:3]):02d}_s{row.subject:02d}_t{row.trial}"
        assert row.sample_id == f"{row.recording_id}_v{row.view}"
        assert row.video == f"videos/{row.sample_id}.avi"
        for sensor in SENSORS:
            relative = getattr(row, f"sensor_{sensor}")
            assert relative == f"sensors/{row.recording_id}/{sensor}.csv"
            assert (dataset / relative).is_file()
        assert (dataset / row.video).is_file()
    assert set(metadata["view"]) == {1, 2} and set(metadata["subject"]) == {1, 2}
    # Every recording is seen by every view, with the same scene and session.
    per_recording = metadata.groupby("recording_id").agg({"view": "nunique", "scene": "nunique", "session": "nunique"})
    assert (per_recording["view"] == 2).all() and (per_recording[["scene", "session"]] == 1).all().all()
    # Nothing but the dataset itself (no leftover temporary directory) next to it.
    assert [path.name for path in dataset.parent.iterdir()] == ["data"]


def test_sensor_files(dataset, metadata):
    row = metadata.iloc[0]
    for sensor in SENSORS:
        path = dataset / row[f"sensor_{sensor}"]
        assert path.read_text().splitlines()[0] == "t,x,y,z"
        table = pd.read_csv(path)
        assert 90 <= len(table) <= 220   # 2-4 s at 50 Hz
        assert table["t"].iloc[0] == 0.0
        np.testing.assert_allclose(np.diff(table["t"]), 1 / 50, atol=1e-6)
        assert np.isfinite(table[["x", "y", "z"]].to_numpy()).all()


@pytest.mark.parametrize("num_subjects, trials, num_scenes, num_sessions",
                         [(8, 2, 3, 2), (2, 1, 2, 2), (3, 1, 3, 3), (4, 3, 10, 5), (5, 2, 1, 1)])
def test_every_class_in_every_scene_and_session(num_subjects, trials, num_scenes, num_sessions):
    for number in range(1, len(CLASS_NAMES) + 1):
        pairs = [(subject, trial) for subject in range(1, num_subjects + 1) for trial in range(1, trials + 1)]
        scenes = {scene_of(number, subject, trial, trials, num_scenes) for subject, trial in pairs}
        sessions = {session_of(number, subject, trial, trials, num_sessions) for subject, trial in pairs}
        assert scenes == set(range(1, num_scenes + 1))
        assert sessions == set(range(1, num_sessions + 1))


def test_generated_scenes_and_sessions_cover_every_class(metadata):
    assert metadata.groupby("class_name")["scene"].nunique().eq(2).all()
    assert metadata.groupby("class_name")["session"].nunique().eq(2).all()


def test_deterministic_and_independent_of_workers(dataset, metadata, tmp_path):
    again = tmp_path / "again"
    generate_dataset(again, seed=3, workers=1, **TINY)
    assert (again / "metadata.csv").read_bytes() == (dataset / "metadata.csv").read_bytes()
    for path in sorted((dataset / "sensors").rglob("*.csv")):
        assert (again / path.relative_to(dataset)).read_bytes() == path.read_bytes()
    for video in metadata["video"]:
        np.testing.assert_array_equal(decode(again / video), decode(dataset / video))

    other = tmp_path / "other_seed"
    generate_dataset(other, seed=4, workers=1, **(TINY | {"classes": TINY_CLASSES[:1]}))
    row = pd.read_csv(other / "metadata.csv").iloc[0]
    assert (other / row["sensor_wrist_acc"]).read_bytes() != (dataset / row["sensor_wrist_acc"]).read_bytes()
    assert not np.array_equal(decode(other / row["video"]), decode(dataset / row["video"]))


def test_noisy_sensors_at_rest(dataset, metadata):
    for row in metadata.drop_duplicates("recording_id").itertuples():
        acc = read_sensor(dataset, row._asdict(), "wrist_acc")[["x", "y", "z"]].to_numpy()[:10]
        gyro = read_sensor(dataset, row._asdict(), "wrist_gyro")[["x", "y", "z"]].to_numpy()[:10]
        assert abs(np.linalg.norm(acc.mean(axis=0)) - 1.0) < 0.08
        assert np.abs(gyro.mean(axis=0)).max() < 4.0


def test_wave_oscillates_and_jogging_shakes_the_phone(dataset, metadata):
    def first(class_name):
        return metadata[metadata["class_name"] == class_name].iloc[0]

    wave = first("right hand wave")
    gyro = read_sensor(dataset, wave, "wrist_gyro")[["x", "y", "z"]].to_numpy()
    middle = gyro[len(gyro) // 4: 3 * len(gyro) // 4]   # inside the active part
    rest = gyro[:10]
    assert np.linalg.norm(middle, axis=1).mean() > 20 * np.linalg.norm(rest - rest.mean(axis=0), axis=1).mean()
    dominant = middle[:, np.argmax(middle.std(axis=0))]
    crossings = np.count_nonzero(np.diff(np.sign(dominant - dominant.mean())) != 0)
    assert crossings >= 4 and np.abs(dominant).max() > 150   # deg/s: a real back-and-forth swing

    def phone_variance(row):
        values = read_sensor(dataset, row, "phone_acc")[["x", "y", "z"]].to_numpy()
        return np.linalg.norm(values, axis=1).var()

    assert phone_variance(first("jogging in place")) > 20 * phone_variance(wave)


def test_videos_open_with_expected_frames(dataset, metadata):
    for row in metadata.itertuples():
        reader = decord.VideoReader(str(dataset / row.video))
        duration = len(pd.read_csv(dataset / row.sensor_wrist_acc)) / 50
        assert abs(len(reader) - duration * 15) <= 1
        frames = reader.get_batch(list(range(len(reader)))).asnumpy()
        assert frames.shape[1:] == (64, 64, 3)
        assert frames.std(axis=0).mean() > 1.0   # not a still image


def person_pixels(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Pixels differing clearly from the scene backdrop (scaled by the video's brightness)."""
    frames = frames.astype(np.float32) / 255
    brightness = np.median(frames[:, :8]) / np.median(background[:8])
    return np.abs(frames - brightness * background).max(axis=-1) > 0.15


def test_person_is_visible_and_smaller_when_distant(dataset, metadata):
    plain = metadata[metadata["scene"] == 1]
    background = render.scene_background(3, 1, 64)
    for recording_id, rows in plain.groupby("recording_id"):
        counts = {}
        for row in rows.itertuples():
            mask = person_pixels(decode(dataset / row.video), background)
            # The person stands in the middle of the frame: most changed pixels are there.
            assert mask[:, :, 16:48].sum() > 0.9 * mask.sum()
            counts[row.view] = mask.sum(axis=(1, 2)).mean()
        assert counts[1] > 0.02 * 64 * 64             # near view: person clearly visible
        assert counts[2] < 0.6 * counts[1]             # distant view: fewer person pixels


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    root = tmp_path / "out"
    root.mkdir()
    (root / "previous.txt").write_text("kept")

    def broken_writer(*args, **kwargs):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(render, "write_video", broken_writer)
    with pytest.raises(RuntimeError, match="encoder exploded"):
        generate_dataset(root, seed=0, workers=1, **(TINY | {"classes": TINY_CLASSES[:1]}))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]
    assert sorted(path.name for path in root.iterdir()) == ["previous.txt"]


@pytest.mark.parametrize("change, argument", [
    ({"seed": -1}, "seed"),
    ({"num_subjects": 0}, "num_subjects"),
    ({"trials": 0}, "trials"),
    ({"views": []}, "views"),
    ({"views": [{"azimuth": 0.0}]}, "views"),
    ({"classes": ["right hand wave", "moonwalk"]}, "classes"),
    ({"classes": []}, "classes"),
    ({"video_size": 63}, "video_size"),
    ({"fps": 0.0}, "fps"),
    ({"num_scenes": 3}, "num_scenes"),   # 2 subjects x 1 trial cannot fill 3 scenes
])
def test_bad_arguments(tmp_path, change, argument):
    with pytest.raises(ValueError, match=argument):
        generate_dataset(tmp_path / "out", **(TINY | change))
    assert not any(tmp_path.iterdir())


def test_unknown_class_lists_valid_names(tmp_path):
    with pytest.raises(ValueError, match=re.escape(CLASS_NAMES[-1])):
        generate_dataset(tmp_path / "out", **(TINY | {"classes": ["moonwalk"]}))


def test_a_killed_run_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    import subprocess

    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid no longer runs: a stand-in for a killed generator
    stale = tmp_path / f".out.tmp-{finished.pid}"
    (stale / "videos").mkdir(parents=True)
    generate_dataset(tmp_path / "out", seed=0, workers=1, **(TINY | {"classes": TINY_CLASSES[:1]}))
    assert not stale.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]
