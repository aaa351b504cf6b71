"""Write the synthetic dataset: sensor CSVs, rendered videos and the metadata table."""
from __future__ import annotations

import csv
import functools
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.errors import InputError
from pipeline.io import remove_stale_temporaries, temporary_path
from pipeline.synthetic import render
from pipeline.synthetic.actions import CLASS_NAMES
from pipeline.synthetic.motion import VIDEO_STREAM, Recording, class_index, draw_subject, draw_trial, random_generator
from pipeline.synthetic.sensors import SENSORS, sensor_readings, write_sensor_csv

DEFAULT_VIEWS = (
    {"azimuth": 0.0, "distance": 4.0},
    {"azimuth": 45.0, "distance": 4.0},
    {"azimuth": 90.0, "distance": 7.0},
)
METADATA_COLUMNS = (
    "sample_id", "recording_id", "label", "class_name", "subject", "trial", "view", "scene", "session",
    "video", *(f"sensor_{sensor}" for sensor in SENSORS),
)


def recording_id(class_number: int, subject: int, trial: int) -> str:
    """e.g. ``a03_s02_t1``: 1-based action number in CLASS_NAMES, subject, trial. The
    number is the class's position in the full list, so ids do not change with ``classes``."""
    return f"a{class_number:02d}_s{subject:02d}_t{trial}"


def _rotation(class_number: int, subject: int, trial: int, trials: int) -> int:
    # Consecutive recordings of a class (subject-major) get consecutive values, so any
    # `count` recordings of the class cover all residues modulo `count` or fewer.
    return (subject - 1) * trials + (trial - 1) + class_number


def scene_of(class_number: int, subject: int, trial: int, trials: int, num_scenes: int) -> int:
    """1-based scene of a recording. Every class occurs in every scene whenever
    num_subjects * trials >= num_scenes; the last scene is the occluded one."""
    return _rotation(class_number, subject, trial, trials) % num_scenes + 1


def session_of(class_number: int, subject: int, trial: int, trials: int, num_sessions: int) -> int:
    """1-based session of a recording; every class occurs in every session whenever
    num_subjects * trials >= num_sessions."""
    return _rotation(class_number, subject, trial, trials) % num_sessions + 1


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to write one recording (picklable)."""

    directory: Path
    seed: int
    class_name: str
    label: int
    subject: int
    trial: int
    scene: int
    session: int
    num_scenes: int
    views: tuple[tuple[float, float], ...]
    sample_rate: float
    fps: float
    video_size: int


@functools.lru_cache(maxsize=16)
def _background(seed: int, scene: int, size: int) -> np.ndarray:
    return render.scene_background(seed, scene, size)


def _write_recording(task: _Task) -> list[dict]:
    """Write one recording's sensor files and one video per view; return its metadata rows."""
    number = class_index(task.class_name) + 1
    identity = (task.subject, number - 1, task.trial)
    recording = Recording(task.class_name, draw_subject(task.seed, task.subject), draw_trial(task.seed, *identity))
    name = recording_id(number, task.subject, task.trial)

    sample_times = np.arange(int(round(recording.duration * task.sample_rate))) / task.sample_rate
    sensor_paths = {}
    (task.directory / "sensors" / name).mkdir(parents=True)
    for sensor, values in sensor_readings(recording, sample_times, task.seed, identity).items():
        sensor_paths[sensor] = f"sensors/{name}/{sensor}.csv"
        write_sensor_csv(task.directory / sensor_paths[sensor], sample_times, values)

    frame_times = np.arange(int(round(recording.duration * task.fps))) / task.fps
    skeleton = recording.skeleton(frame_times)
    background = _background(task.seed, task.scene, task.video_size)
    occluders = render.scene_occluders(task.seed, task.scene, task.num_scenes)
    rows = []
    for view, (azimuth, distance) in enumerate(task.views, start=1):
        camera = render.camera_for_view(azimuth, distance, task.video_size)
        rng = random_generator(task.seed, VIDEO_STREAM, *identity, view)
        frames = render.render_frames(skeleton, recording.subject, camera, background, occluders, rng)
        sample_id = f"{name}_v{view}"
        video = f"videos/{sample_id}.avi"
        render.write_video(task.directory / video, frames, task.fps)
        rows.append({
            "sample_id": sample_id, "recording_id": name, "label": task.label,
            "class_name": task.class_name, "subject": task.subject, "trial": task.trial,
            "view": view, "scene": task.scene, "session": task.session, "video": video,
            **{f"sensor_{sensor}": path for sensor, path in sensor_paths.items()},
        })
    return rows


def _check_arguments(seed, classes, views, num_subjects, trials, num_scenes, num_sessions,
                     sample_rate, fps, video_size, workers) -> tuple[list[str], tuple[tuple[float, float], ...]]:
    """Validate everything up front; return the chosen classes and views as (azimuth, distance)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    for name, value in (("num_subjects", num_subjects), ("trials", trials), ("num_scenes", num_scenes),
                        ("num_sessions", num_sessions), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    recordings_per_class = num_subjects * trials
    if recordings_per_class < max(num_scenes, num_sessions):
        raise ValueError(
            f"num_subjects * trials ({recordings_per_class}) must be at least num_scenes ({num_scenes}) "
            f"and num_sessions ({num_sessions}) so that every class occurs in every scene and session"
        )
    for name, value in (("sample_rate", sample_rate), ("fps", fps)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if isinstance(video_size, bool) or not isinstance(video_size, (int, np.integer)) or video_size < 16 or video_size % 2:
        raise ValueError(f"video_size must be an even integer >= 16 (video encoders need even sizes), got {video_size!r}")

    chosen = list(CLASS_NAMES) if classes is None else list(classes)
    unknown = [name for name in chosen if name not in CLASS_NAMES]
    if unknown:
        raise InputError(f"synthetic.classes: unknown class name(s) {unknown}; valid names are {CLASS_NAMES}")
    if not chosen or len(set(chosen)) != len(chosen):
        raise InputError(f"synthetic.classes must be a non-empty list without repeats, got {chosen}")

    if not views:
        raise ValueError("views must be a non-empty list of {'azimuth': degrees, 'distance': metres}")
    parsed = []
    for position, view in enumerate(views, start=1):
        if not isinstance(view, dict) or set(view) != {"azimuth", "distance"}:
            raise ValueError(f"views[{position}] must be a dict with exactly 'azimuth' and 'distance', got {view!r}")
        azimuth, distance = float(view["azimuth"]), float(view["distance"])
        # The camera must stay clear of arms reaching ~0.8 m towards it.
        if not np.isfinite(azimuth) or not np.isfinite(distance) or distance < 1.5:
            raise ValueError(f"views[{position}]: distance must be >= 1.5 metres and both values finite, got {view!r}")
        parsed.append((azimuth, distance))
    return chosen, tuple(parsed)


def generate_dataset(root, *, seed: int = 0, num_subjects: int = 8, trials: int = 2,
                     num_scenes: int = 3, num_sessions: int = 2, views=DEFAULT_VIEWS,
                     classes: list[str] | None = None, sample_rate: float = 50.0, fps: float = 15.0,
                     video_size: int = 128, workers: int = 2, progress: bool = True) -> None:
    """Generate the synthetic paired sensor/video action dataset into ``root``.

    Writes ``classes.txt``, ``metadata.csv`` (one row per video sample, paths relative to
    ``root``), ``sensors/<recording_id>/<sensor>.csv`` (``t,x,y,z``) and
    ``videos/<sample_id>.avi`` (MPEG-4, yuv420p). Recordings are every (subject, class,
    trial); each is filmed from every view. Output is a deterministic function of the
    arguments except ``workers`` and ``progress``. ``root`` is replaced atomically: it is
    built in a temporary sibling and renamed into place, so a failure leaves no partial
    output (and an existing ``root`` untouched). ``views=None`` means the default views.
    """
    chosen, parsed_views = _check_arguments(
        seed, classes, DEFAULT_VIEWS if views is None else views, num_subjects, trials,
        num_scenes, num_sessions, sample_rate, fps, video_size, workers,
    )
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(root)  # left by a killed run
    temporary = temporary_path(root)
    shutil.rmtree(temporary, ignore_errors=True)
    tasks = [
        _Task(temporary, seed, class_name, label, subject, trial,
              scene_of(class_index(class_name) + 1, subject, trial, trials, num_scenes),
              session_of(class_index(class_name) + 1, subject, trial, trials, num_sessions),
              num_scenes, parsed_views, float(sample_rate), float(fps), int(video_size))
        for label, class_name in enumerate(chosen)
        for subject in range(1, num_subjects + 1)
        for trial in range(1, trials + 1)
    ]
    try:
        (temporary / "videos").mkdir(parents=True)
        rows = []
        with tqdm(total=len(tasks), desc="synthesize", unit="recording", disable=not progress) as bar:
            if workers == 1:
                for task in tasks:
                    rows.extend(_write_recording(task))
                    bar.update()
            else:
                with ProcessPoolExecutor(workers) as pool:
                    futures = [pool.submit(_write_recording, task) for task in tasks]
                    try:
                        for future in as_completed(futures):
                            rows.extend(future.result())
                            bar.update()
                    except BaseException:
                        # Do not let the pool finish the remaining work before we clean up.
                        for future in futures:
                            future.cancel()
                        raise
        rows.sort(key=lambda row: (row["label"], row["subject"], row["trial"], row["view"]))
        with open(temporary / "metadata.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        (temporary / "classes.txt").write_text("".join(f"{name}\n" for name in chosen))
        if root.is_dir() and not root.is_symlink():
            shutil.rmtree(root)
        elif root.exists() or root.is_symlink():
            root.unlink()
        os.replace(temporary, root)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
