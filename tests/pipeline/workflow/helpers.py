"""Small inputs shared by the workflow tests: a split's files, a teacher and its images."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.datasets import MANIFEST_COLUMNS
from pipeline.embeddings import ClassEmbeddings, write_class_embeddings
from pipeline.models.teachers import TAPS, MultiSensorTeacher
from pipeline.workflow.inputs import Inputs

CLASSES = ["wave", "squat"]


def write_split_files(folder, frames_for=None):
    """A 4-sample manifest (2 recordings x 2 views), its splits, class vectors and a frame cache
    holding ``frames_for`` (default: every sample)."""
    rows = []
    for recording, label, part in (("r1", 0, "train"), ("r2", 1, "test")):
        for view in (1, 2):
            rows.append({"sample_id": f"{recording}_v{view}", "recording_id": recording, "label": label,
                         "class_name": CLASSES[label], "subject": 1, "trial": 1, "view": view, "scene": None,
                         "session": None, "video": f"{recording}_{view}.avi", "sensor_acc": f"{recording}.csv",
                         "part": part})
    table = pd.DataFrame(rows)
    table[list(MANIFEST_COLUMNS) + ["sensor_acc"]].to_csv(folder / "manifest.csv", index=False)
    table[["sample_id", "part"]].rename(columns={"part": "cross_view"}).to_csv(folder / "splits.csv", index=False)
    write_class_embeddings(folder / "embeddings.h5", ClassEmbeddings(CLASSES, np.eye(2, 3, dtype=np.float32)))
    ids = table["sample_id"].tolist() if frames_for is None else frames_for
    with h5py.File(folder / "frames.h5", "w") as cache:
        cache["frames"] = np.zeros((len(ids), 2, 8, 8, 3), dtype=np.uint8)
        cache.create_dataset("sample_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    return Inputs(str(folder / "manifest.csv"), str(folder / "splits.csv"), str(folder / "embeddings.h5"),
                  frames=str(folder / "frames.h5"))


def small_teacher(fusion=TAPS) -> MultiSensorTeacher:
    torch.manual_seed(0)
    teacher = MultiSensorTeacher(["acc", "gyro"], num_classes=3, embedding_dim=4, architecture="vgg11",
                                 width_mult=0.125, fusion_layers=fusion, reduction=2)
    # Train-mode steps move BatchNorm's running statistics off their identity start, and
    # steeper excitations make SPAMFM's batch dependence plain (at init it is ~1e-5).
    with torch.no_grad():
        for module in teacher.fusions.modules():
            if isinstance(module, nn.Linear):
                module.weight.mul_(20)
        for _ in range(3):
            teacher(random_images(8, seed=9))
    return teacher.eval()


def random_images(count: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {s: torch.rand(count, 3, 32, 32, generator=generator) * 2 - 1 for s in ("acc", "gyro")}


def two_splits(folder):
    """write_split_files' manifest with a second protocol holding out the other recording."""
    inputs = write_split_files(folder)
    splits = pd.read_csv(inputs.splits)
    splits["other"] = splits["cross_view"].map({"train": "test", "test": "train"})
    splits.to_csv(inputs.splits, index=False)
    return inputs
