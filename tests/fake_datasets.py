"""Small trees in the real datasets' native layouts, one writer per dataset, for the tests
that read a dataset through its adapter (the real files are in ../shared, see conftest)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import savemat

from pipeline.datasets import check_manifest

from tests.conftest import write_video


def video_frames(count: int = 6, size: int = 32, level: int = 60) -> np.ndarray:
    """RGB frames of a box that moves right and brightens frame by frame."""
    frames = np.zeros((count, size, size, 3), dtype=np.uint8)
    for k in range(count):
        frames[k, 8:24, 4 + 2 * k: 12 + 2 * k] = level + 20 * k
    return frames


def write_utd_mhad(root: Path, actions=(1, 2, 3), subjects=(1, 2), trials=(1, 2, 3, 4), *, depth_frames: int = 6,
                   rgb: bool = False, missing_depth: tuple[str, ...] = (), seed: int = 0) -> Path:
    """UTD-MHAD's layout: Inertial/aA_sS_tT_inertial.mat (120 x 6: accelerometer, gyroscope),
    Depth/aA_sS_tT_depth.mat (240 x 320 x frames, mm) and, with ``rgb``, RGB/aA_sS_tT_color.avi.
    Each action is learnable: its own signal frequency and its own place of the subject (2500 mm)
    in the depth clip. ``missing_depth``: recordings whose depth clip is not written."""
    rng = np.random.default_rng(seed)
    for folder in ("Inertial", "Depth", *(("RGB",) if rgb else ())):
        (root / folder).mkdir(parents=True, exist_ok=True)
    time = np.linspace(0, 2 * np.pi, 120)[:, None]
    for action in actions:
        for subject in subjects:
            for trial in trials:
                name = f"a{action}_s{subject}_t{trial}"
                signal = np.sin(action * time + rng.normal(0, 0.1, (1, 6))) + rng.normal(0, 0.05, (120, 6))
                savemat(root / "Inertial" / f"{name}_inertial.mat", {"d_iner": signal})
                if name not in missing_depth:
                    depth = np.zeros((240, 320, depth_frames), dtype=np.uint16)
                    left = 100 + 20 * (action % 8)
                    depth[60:200, left:left + 40] = 2500
                    savemat(root / "Depth" / f"{name}_depth.mat", {"d_depth": depth})
                if rgb:
                    write_video(root / "RGB" / f"{name}_color.avi", video_frames())
    return root


# The synthetic dataset's test units per protocol at the default settings.
SYNTHETIC_TESTS = {"cross_subject": ("subject", [7, 8]), "cross_view": ("view", [3]),
                   "cross_scene": ("scene", [3]), "cross_session": ("session", [2])}


def synthetic_manifest(num_subjects=8, trials=2, num_scenes=3, num_sessions=2, num_views=3):
    """The manifest the synthetic dataset gets with these settings (defaults: params.yaml's),
    built from the generator's own id, scene and session rules without rendering anything."""
    from pipeline.synthetic.actions import CLASS_NAMES
    from pipeline.synthetic.generate import METADATA_COLUMNS, recording_id, scene_of, session_of

    rows = []
    for label, class_name in enumerate(CLASS_NAMES):
        number = label + 1
        for subject in range(1, num_subjects + 1):
            for trial in range(1, trials + 1):
                recording = recording_id(number, subject, trial)
                for view in range(1, num_views + 1):
                    sample = f"{recording}_v{view}"
                    rows.append({
                        "sample_id": sample, "recording_id": recording, "label": label, "class_name": class_name,
                        "subject": subject, "trial": trial, "view": view,
                        "scene": scene_of(number, subject, trial, trials, num_scenes),
                        "session": session_of(number, subject, trial, trials, num_sessions),
                        "video": f"videos/{sample}.avi",
                        **{c: f"sensors/{recording}/{c[7:]}.csv" for c in METADATA_COLUMNS if c.startswith("sensor_")},
                    })
    return check_manifest(pd.DataFrame(rows, columns=list(METADATA_COLUMNS)), "synthetic layout")
