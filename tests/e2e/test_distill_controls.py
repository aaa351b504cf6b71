"""The distillation controls and extra terms, run through the student stage exactly as
dvc.yaml runs it, on a copy of the reproduced tiny project."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import copy_project, run, stage_command, write_params

pytestmark = pytest.mark.slow
SPLIT = "cross_subject"


def trained_student(copy, update: dict) -> dict:
    write_params(copy / "params.yaml", update)
    run(stage_command(copy, "distill", SPLIT, "--no-progress"), copy)
    return torch.load(copy / f"models/{SPLIT}/student.pt", weights_only=False)


def test_a_control_with_extra_terms_trains_and_logs_every_terms_gradient(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    saved = trained_student(copy, {"distill": {"pairing": "class_shuffled", "dkd": {"weight": 0.5},
                                               "contrastive": {"weight": 0.5}, "align": "temporal"},
                                   "student": {"epochs": 1}})
    assert saved["loss"] == "1 * ce + 0.1 * soft_target + 1 * gsdm + 1 * semantic + 0.5 * dkd + 0.5 * contrastive"
    record = saved["history"][0]
    for term in ("ce", "soft_target", "gsdm", "semantic", "dkd", "contrastive"):
        assert f"train_{term}" in record and f"train_grad_{term}" in record
    # Every term reaches fc1 except GSDM, whose student side is its maps below fc1 (their
    # channel weights are read off the student, detached: method.md §5).
    assert all(record[f"train_grad_{term}"] > 0 for term in ("ce", "soft_target", "semantic", "dkd", "contrastive"))


def test_label_smoothing_with_automatic_epsilon_is_a_teacherless_objective(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    saved = trained_student(copy, {"distill": {"method": "label_smoothing", "label_smoothing": {"epsilon": "auto"}},
                                   "student": {"epochs": 1}})
    assert saved["loss"] == "1 * label_smoothing"
    assert "train_grad_label_smoothing" not in saved["history"][0]  # one term: nothing to compare
