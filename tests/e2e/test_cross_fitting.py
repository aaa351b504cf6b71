"""Cross-fitted teacher outputs, the fitted temperature and the teachers' diagnostics
(docs/method.md §6b), by hand and through the stages as dvc.yaml runs them."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from pipeline.metrics import fit_temperature, teacher_diagnostics
from pipeline.workflow.teacher_training import assign_folds
from tests.conftest import copy_project, run, stage_command, write_params

SPLIT = "cross_subject"


def test_folds_are_stratified_by_class_seeded_and_cover_every_recording():
    recordings = pd.DataFrame({"recording_id": [f"r{i:02d}" for i in range(20)], "label": [i % 3 for i in range(20)]})
    folds = assign_folds(recordings, 4, seed=1)
    assert sorted(folds) == sorted(recordings["recording_id"]) and set(folds.values()) == {0, 1, 2, 3}
    sizes = pd.Series(folds).value_counts()
    assert sizes.max() - sizes.min() <= 1
    for _, group in recordings.groupby("label"):  # each class spread over the folds
        per_fold = pd.Series([folds[r] for r in group["recording_id"]]).value_counts()
        assert per_fold.max() - per_fold.min() <= 1
    assert assign_folds(recordings, 4, seed=1) == folds
    assert assign_folds(recordings, 4, seed=2) != folds
    with pytest.raises(ValueError, match="folds must be >= 2"):
        assign_folds(recordings, 1, seed=0)


def test_fitted_temperature_recovers_the_temperature_that_generated_the_labels():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4000, 5, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / 2.0, dim=1), 1, generator=generator).flatten()
    assert fit_temperature([logits], labels) == pytest.approx(2.0, rel=0.1)
    # Over several teachers: the mean NLL; a copy of the same logits changes nothing.
    assert fit_temperature([logits, logits], labels) == pytest.approx(fit_temperature([logits], labels))


def test_teacher_diagnostics_by_hand():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])  # probabilities (0.75, 0.25) and (0.5, 0.5)
    labels = torch.tensor([0, 1])
    d = teacher_diagnostics(logits, labels, temperature=1.0, bins=2)
    assert d["accuracy"] == 50.0  # the tie predicts class 0
    assert d["nll"] == pytest.approx(round(-(math.log(0.75) + math.log(0.5)) / 2, 4))
    assert d["true_class_probability"] == pytest.approx((0.75 + 0.5) / 2)
    entropy = lambda p: -sum(x * math.log(x) for x in p)  # noqa: E731
    assert d["entropy"] == pytest.approx(round((entropy([0.75, 0.25]) + entropy([0.5, 0.5])) / 2, 4))
    # Bins (0, 0.5] and (0.5, 1]: the tie (confidence 0.5, wrong) and the 0.75 (right).
    assert d["ece"] == pytest.approx(0.5 * abs(0 - 0.5) + 0.5 * abs(1 - 0.75))
    # A higher temperature flattens: lower true-class probability, higher entropy.
    hot = teacher_diagnostics(logits, labels, temperature=4.0, bins=2)
    assert hot["entropy"] > d["entropy"]


@pytest.mark.slow
def test_cross_fitted_outputs_come_from_the_teacher_that_never_saw_the_recording(project, tmp_path):
    from pipeline.workflow.teacher_inference import teacher_predictor
    from pipeline.workflow.teacher_outputs import TeacherOutputCache
    from pipeline.data import SensorImages
    from pipeline.training import start_runtime

    copy = copy_project(project, tmp_path / "copy")
    write_params(copy / "params.yaml", {"teacher_outputs": {"folds": 2}, "temperature": "auto",
                                        "student": {"epochs": 1}})
    for stage in ("fold_teachers", "teacher_outputs", "distill"):
        run(stage_command(copy, stage, SPLIT, *(["--no-progress"] if stage != "teacher_outputs" else [])), copy)
    folds = torch.load(copy / f"models/{SPLIT}/fold_teachers.pt", weights_only=False)
    assert folds["folds"] == 2 and len(folds["teachers"]) == 2
    summary = json.loads((copy / f"data/{SPLIT}/teacher_outputs.json").read_text())
    assert summary["folds"] == 2 and summary["temperature"]["fitted_on"] == "cross_fitted"
    assert set(summary["diagnostics"]) == {"in_fold", "cross_fitted"}
    assert set(summary["diagnostics"]["cross_fitted"]["fused"]["T=1"]) == {
        "accuracy", "nll", "ece", "true_class_probability", "entropy"}
    # A training recording's cached logits are its fold teacher's, who never trained on it.
    cache = TeacherOutputCache(copy / f"data/{SPLIT}/teacher_outputs.h5")
    recording = sorted(folds["assignment"])[0]
    fold_teacher = folds["teachers"][folds["assignment"][recording]]
    assert recording not in fold_teacher["reference"]["recording_ids"]
    runtime = start_runtime("cpu", False)
    predictor = teacher_predictor(fold_teacher, runtime)
    manifest = pd.read_csv(copy / "data/manifest.csv").drop_duplicates("recording_id")
    alone = predictor.predict(SensorImages(copy / "data/gaf.h5", predictor.teacher.sensors,
                                           manifest[manifest["recording_id"] == recording]))
    row = cache.row[recording]
    sensor = predictor.teacher.sensors[0]
    torch.testing.assert_close(cache.values[sensor]["logits"][row], alone["branches"][sensor]["logits"][0])
    # The student used the fitted temperature.
    student = torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)
    assert summary["temperature"]["used"] == pytest.approx(cache.fitted_temperature)
    assert student["history"][0]["train_soft_target"] > 0
