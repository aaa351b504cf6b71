"""Stage by stage on a copy of the reproduced tiny project with half of each class's training
recordings unlabeled (splits.labeled_fraction 0.5): nothing a student or teacher learns from
depends on an unlabeled recording's label (self-training teachers and every pseudo-labeller
included), the self-training control is labelled by the frozen baseline, and the video-only
labeller reads no sensor data. (That the teacher terms do reach unlabeled clips: tests/pipeline/test_distill.py.)"""
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


# Every pseudo-label path: the teachers' most confident share (a quantile of their confidences
# over the unlabeled pool) with the student as a second view and class balance, and the student
# alone (FixMatch, its batch's most confident half); each trains before the SAKDN student.
PSEUDO_LABELLERS = {
    "teachers": {"method": "pseudo_label", "pseudo_label": {"coverage": 0.7, "second_view": True,
                                                             "student_threshold": 0.4,
                                                             "class_balance": "inverse_frequency"}},
    "student": {"method": "pseudo_label", "pseudo_label": {"labeller": "student", "coverage": 0.5}},
}


def distill_with(copy, distill: dict) -> dict:
    """The distill stage with these distill settings (params restored after), its model."""
    original = (copy / "params.yaml").read_text()
    write_params(copy / "params.yaml", {"distill": distill})
    (copy / f"checkpoints/{SPLIT}/student.pt").unlink(missing_ok=True)
    try:
        stage(copy, "distill", "--no-progress")
    finally:
        (copy / "params.yaml").write_text(original)
    return torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)


def train_all(copy):
    """Teachers, their outputs and the distilled students (SAKDN, then each pseudo-labeller),
    from scratch (no checkpoint)."""
    for path in (copy / "checkpoints").rglob("*.pt"):
        path.unlink()
    for name in ("teachers", "fold_teachers", "teacher_outputs"):
        stage(copy, name)
    labelled = {name: distill_with(copy, distill) for name, distill in PSEUDO_LABELLERS.items()}
    stage(copy, "distill", "--no-progress")
    model = torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)
    model["pseudo_labelled"] = labelled
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
                                        # 3 labelled recordings; semi-supervised teachers: one round of
                                        # self-training on the half of the unlabeled recordings they are
                                        # surest of
                                        "teacher": {"epochs": 1, "batch_size": 2,
                                                    "self_training": {"rounds": 1, "coverage": 0.5}},
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
    assert teachers["self_training"] == teachers_again["self_training"]
    assert teachers["self_training"][0]["of"] == 3 and teachers["self_training"][0]["recordings"] >= 2  # ceil(1.5)
    assert outputs.keys() == outputs_again.keys()
    for name in outputs:
        assert np.array_equal(outputs[name], outputs_again[name]), name
    assert same_state(model["state"], again["state"])
    assert model["history"] == again["history"]
    for name, student in model["pseudo_labelled"].items():
        other = again["pseudo_labelled"][name]
        assert same_state(student["state"], other["state"]), name
        assert student["history"] == other["history"] and student["pseudo_labels"] == other["pseudo_labels"], name
        # one decision per unlabeled recording, recorded for the reports
        assert len(student["pseudo_labels"]) == 3 and student["targets"] == f"pseudo_label:{name}"
        assert "train_pseudo_label" in student["history"][0] and 0 <= student["history"][0]["train_pseudo_labelled"] <= 1


def test_the_video_only_labeller_reads_no_sensor_data(trained, tmp_path):
    """FixMatch's student labels its own clips: it trains with the teacher outputs and the
    teachers' model gone (files that do not exist cannot be read), and the teachers' labeller
    cannot."""
    copy = copy_project(trained[0], tmp_path / "copy")
    for name in (f"data/{SPLIT}/teacher_outputs.h5", f"models/{SPLIT}/teachers.pt"):
        (copy / name).unlink()
    student = distill_with(copy, PSEUDO_LABELLERS["student"])
    assert student["targets"] == "pseudo_label:student" and student["training_clips"] == {"labeled": 6, "unlabeled": 6}
    with pytest.raises(AssertionError, match="teacher_outputs.h5"):
        distill_with(copy, PSEUDO_LABELLERS["teachers"])


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
