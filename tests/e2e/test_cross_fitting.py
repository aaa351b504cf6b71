"""Cross-fitted teacher outputs, the fitted temperature and the teachers' diagnostics
(docs/method.md §6b), through the stages as dvc.yaml runs them."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tests.conftest import copy_project, run, stage_command, write_params

SPLIT = "cross_subject"


@pytest.mark.slow
def test_cross_fitted_outputs_come_from_the_teacher_that_never_saw_the_recording(project, tmp_path):
    from pipeline.workflow.teacher_inference import teacher_predictor
    from pipeline.workflow.teacher_outputs import TeacherOutputCache
    from pipeline.data import SensorImages
    from pipeline.training import start_runtime

    copy = copy_project(project, tmp_path / "copy")
    write_params(copy / "params.yaml", {"teacher_outputs": {"folds": 2}, "temperature": "auto",
                                        # 3 recordings per fold teacher: a batch of 2 trains it
                                        "teacher": {"batch_size": 2}, "student": {"epochs": 1}})
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
    assert "used" not in summary["temperature"]  # the stage does not depend on `temperature`: the student says
    assert student["temperature"] == pytest.approx(cache.fitted_temperature)
    assert student["history"][0]["train_soft_target"] > 0
