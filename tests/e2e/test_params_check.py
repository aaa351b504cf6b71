"""Every `dvc repro` and `dvc exp run` checks the whole params file first: a mistyped key or a
bad value stops the run with one line naming the key, before any stage deletes its outputs,
and a valid file reruns nothing."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import clone_project, run, write_params


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture
def clone(project, tmp_path) -> Path:
    """A full copy of the reproduced tiny project: git history, DVC cache and outputs."""
    return clone_project(project, tmp_path / "clone")


@pytest.mark.slow
def test_a_mistyped_key_stops_dvc_repro_and_dvc_exp_run_before_any_stage(clone):
    params = clone / "params.yaml"
    valid = params.read_text()
    teachers, plots = clone / "models/cross_subject/teachers.pt", clone / "dvclive/cross_subject/teachers/plots"
    before = teachers.stat().st_mtime_ns

    params.write_text(valid + "temprature: 2.0\n")
    result = run(["dvc", "repro"], clone, check=False)
    assert result.returncode != 0
    assert "params.yaml: unknown key temprature" in result.stderr + result.stdout
    assert stages_run(result.stdout) == ["check_params"]

    # a bad value of a key that only a late stage lists: stopped before that stage deletes its outputs
    params.write_text(valid)
    write_params(params, {"teacher": {"epochs": 0}})
    result = run(["dvc", "repro"], clone, check=False)
    assert result.returncode != 0 and "teacher.epochs: 0 is below the minimum 1" in result.stderr + result.stdout
    assert stages_run(result.stdout) == ["check_params"]
    assert teachers.stat().st_mtime_ns == before and plots.is_dir()

    # back to the valid file: the check reruns, its output is unchanged, nothing else reruns
    params.write_text(valid)
    result = run(["dvc", "repro"], clone)
    assert stages_run(result.stdout) == ["check_params"] and teachers.stat().st_mtime_ns == before

    result = run(["dvc", "exp", "run", "-S", "+temprature=2"], clone, check=False)
    assert result.returncode != 0 and "unknown key temprature" in result.stderr + result.stdout
    assert stages_run(result.stdout) == ["check_params"]
