"""A killed student stage resumes to the same result; a checkpoint of other params is ignored
(run by hand on a copy of the reproduced tiny project)."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest
import torch

from tests.conftest import copy_project, run, write_params
from tests.e2e.helpers import stage


@pytest.mark.slow
def test_killed_student_stage_resumes_to_the_same_result(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"student": {"epochs": 12}})
    checkpoint = copy / "checkpoints/cross_subject/student.pt"
    model = copy / "models/cross_subject/student.pt"
    command = stage(copy, "cross_subject", "distill")

    checkpoint.unlink(missing_ok=True)
    run(command, copy)
    uninterrupted = torch.load(model, weights_only=False)

    checkpoint.unlink()
    model.unlink()
    process = subprocess.Popen(command, cwd=copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            if checkpoint.exists() and torch.load(checkpoint, weights_only=False)["epoch"] >= 1:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, "the stage finished before it could be interrupted"
    interrupted_at = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 1 <= interrupted_at < 12 and not model.exists()

    resumed = run(command, copy)
    assert f"resuming after epoch {interrupted_at}" in resumed.stdout
    final = torch.load(model, weights_only=False)
    assert final["history"] == uninterrupted["history"] and final["best_epoch"] == uninterrupted["best_epoch"]
    for key, value in uninterrupted["state"].items():
        assert torch.equal(final["state"][key], value), key


@pytest.mark.slow
def test_stale_checkpoint_of_other_params_is_ignored(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"student": {"lr": 0.002}})
    result = run(stage(copy, "cross_subject", "baseline"), copy)
    assert "resuming" not in result.stdout  # the persisted checkpoint belongs to other params
