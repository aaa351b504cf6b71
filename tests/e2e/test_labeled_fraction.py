"""Stage by stage on a copy of the reproduced tiny project with half of each class's training
recordings unlabeled (splits.labeled_fraction 0.5): nothing a student or teacher learns from
depends on an unlabeled recording's label, and the self-training control is labelled by the
frozen baseline. (That the teacher terms do reach unlabeled clips: tests/pipeline/test_distill.py.)"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import copy_project, run, stage_command, write_params

pytestmark = pytest.mark.slow

SPLIT = "cross_subject"


def stage(copy, name, *extra):
    run(stage_command(copy, name, SPLIT if name not in ("manifest",) else None, *extra), copy)


def train_all(copy):
    """Teachers, their outputs and the distilled student, from scratch (no checkpoint)."""
    for path in (copy / "checkpoints").rglob("*.pt"):
        path.unlink()
    for name in ("teachers", "fold_teachers", "teacher_outputs"):
        stage(copy, name)
    stage(copy, "distill", "--no-progress")
    model = torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)
    teachers = torch.load(copy / f"models/{SPLIT}/teachers.pt", weights_only=False)
    with h5py.File(copy / f"data/{SPLIT}/teacher_outputs.h5", "r") as cache:
        arrays = {}
        cache.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                         else None)
    return model, teachers, arrays


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained(project, tmp_path_factory):
    """A copy with half of each class's training recordings unlabeled, its teachers, their
    outputs and a distilled student trained (one epoch each: only equality is checked)."""
    copy = copy_project(project, tmp_path_factory.mktemp("fraction") / "copy")
    write_params(copy / "params.yaml", {"splits": {"labeled_fraction": 0.5, "protocols": [SPLIT]},
                                        "teacher": {"epochs": 1, "batch_size": 2},  # 3 labelled recordings
                                        "student": {"epochs": 1}})
    stage(copy, "manifest")
    return copy, *train_all(copy)


def test_unlabeled_labels_never_reach_any_model(trained, tmp_path):
    copy, model, teachers, outputs = trained
    copy = copy_project(copy, tmp_path / "copy")
    splits = pd.read_csv(copy / "data/splits.csv")
    assert sorted(splits[SPLIT].unique()) == ["test", "train", "unlabeled", "val"]
    report = json.loads((copy / "data/manifest_report.json").read_text())["validation"][SPLIT]
    assert (report["labeled_recordings"], report["unlabeled_recordings"]) == (3, 3)  # 1 of 2 per class
    assert model["training_clips"] == {"labeled": 6, "unlabeled": 6}  # 2 views per recording
    # Give every unlabeled recording another class: nothing trained may change.
    manifest = pd.read_csv(copy / "data/manifest.csv")
    hidden = manifest["sample_id"].isin(splits.loc[splits[SPLIT] == "unlabeled", "sample_id"])
    names = dict(zip(manifest["label"], manifest["class_name"]))
    manifest.loc[hidden, "label"] = (manifest.loc[hidden, "label"] + 1) % 3
    manifest.loc[hidden, "class_name"] = manifest.loc[hidden, "label"].map(names)
    manifest.to_csv(copy / "data/manifest.csv", index=False)
    again, teachers_again, outputs_again = train_all(copy)
    assert same_state(teachers["state"], teachers_again["state"])
    assert outputs.keys() == outputs_again.keys()
    for name in outputs:
        assert np.array_equal(outputs[name], outputs_again[name]), name
    assert same_state(model["state"], again["state"])
    assert model["history"] == again["history"]


def test_self_training_is_labelled_by_the_frozen_baseline(trained, tmp_path):
    copy = copy_project(trained[0], tmp_path / "copy")
    stage(copy, "baseline", "--no-progress")
    baseline = torch.load(copy / f"models/{SPLIT}/baseline.pt", weights_only=False)
    assert baseline["training_clips"] == {"labeled": 6, "unlabeled": 0}
    write_params(copy / "params.yaml", {"distill": {"method": "soft_target", "targets": "baseline"}})
    (copy / f"checkpoints/{SPLIT}/student.pt").unlink(missing_ok=True)
    stage(copy, "distill", "--no-progress")
    student = torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)
    assert student["targets"] == "baseline" and student["training_clips"] == {"labeled": 6, "unlabeled": 6}
    # Without the baseline's model file the control cannot run: one line, nothing written.
    (copy / f"models/{SPLIT}/baseline.pt").unlink()
    (copy / f"checkpoints/{SPLIT}/student.pt").unlink(missing_ok=True)
    before = (copy / f"models/{SPLIT}/student.pt").read_bytes()
    result = run(stage_command(copy, "distill", SPLIT, "--no-progress"), copy, check=False)
    assert result.returncode == 1 and "distill.targets: baseline needs the baseline student's model file" in result.stderr
    assert (copy / f"models/{SPLIT}/student.pt").read_bytes() == before
