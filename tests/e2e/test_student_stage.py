"""The student stage run by hand on a copy of the reproduced tiny project with other training
settings: streamed caches and DataLoader workers, a feature-map objective, DDP."""
from __future__ import annotations

import math
import sys

import pytest
import torch

from tests.conftest import copy_project, run, write_params
from tests.e2e.helpers import stage


@pytest.mark.slow
def test_streamed_distillation_trains_the_same_student_as_in_memory(project, tmp_path):
    """train.cache_in_memory: false with two DataLoader workers reproduces the in-memory,
    main-process run of the project (same seed, same params otherwise) weight for weight."""
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"train": {"cache_in_memory": False, "workers": 2}})
    (copy / "checkpoints/cross_subject/student.pt").unlink()  # speed settings alone would resume it
    run(stage(copy, "cross_subject", "distill"), copy, timeout=600)
    reference = torch.load(project / "models/cross_subject/student.pt", weights_only=False)
    streamed = torch.load(copy / "models/cross_subject/student.pt", weights_only=False)
    assert streamed["history"] == reference["history"] and streamed["best_epoch"] == reference["best_epoch"]
    assert all(torch.equal(streamed["state"][k], v) for k, v in reference["state"].items())


@pytest.mark.slow
def test_a_feature_map_objective_loads_the_teachers_tap_features_from_the_cache(project, tmp_path):
    """The default objective leaves the cached tap features on disk; FitNet, which reads them,
    loads them and trains on them (its term in the history, finite and non-zero)."""
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"distill": {"method": "fitnet"}, "student": {"epochs": 1}})
    (copy / "checkpoints/cross_subject/student.pt").unlink()
    run(stage(copy, "cross_subject", "distill"), copy, timeout=600)
    history = torch.load(copy / "models/cross_subject/student.pt", weights_only=False)["history"]
    assert len(history) == 1 and math.isfinite(history[0]["train_fitnet"]) and history[0]["train_fitnet"] > 0


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_writes_the_same_format(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    # Streamed from the caches through a worker per rank: DDP keeps working with streaming.
    write_params(copy / "long.yaml", {"student": {"epochs": 1}, "train": {"cache_in_memory": False, "workers": 1}})
    reference = torch.load(project / "models/cross_subject/baseline.pt", weights_only=False)
    (copy / "checkpoints/cross_subject/baseline.pt").unlink()
    command = stage(copy, "cross_subject", "baseline")
    assert command[1:3] == ["-m", "stages.student"]
    result = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *command[1:]],
                 copy, timeout=600)
    assert result.stdout.count("baseline[cross_subject] epoch 1/1") == 1  # only rank 0 reports
    saved = torch.load(copy / "models/cross_subject/baseline.pt", weights_only=False)
    assert set(saved) == set(reference) and set(saved["state"]) == set(reference["state"])
    assert len(saved["history"]) == 1
    checkpoint = torch.load(copy / "checkpoints/cross_subject/baseline.pt", weights_only=False)
    assert set(checkpoint["model"]) == {f"student.{k}" for k in reference["state"]} | {"class_embeddings", "student_black"}
