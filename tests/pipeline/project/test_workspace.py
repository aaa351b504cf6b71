"""pipeline/project/workspace.py: a stage's command exactly as dvc.yaml gives it, and scratch
workspaces that look like the repository to a stage."""
from __future__ import annotations

import sys

import pytest

from pipeline.errors import ProjectError
from pipeline.project.dvc_yaml import REPO, data_paths, dvc_command
from pipeline.project.workspace import make_workspace, run_stage


def test_a_stage_command_is_dvc_yamls_interpolated_with_this_interpreter():
    params = {"splits": {"protocols": ["cross_subject"]}, "data": {"root": "/d"}}
    argv = dvc_command("evaluate", "cross_subject", params)
    assert argv[:3] == [sys.executable, "-m", "stages.evaluate"]
    assert argv[argv.index("--split") + 1] == "cross_subject"
    assert argv[argv.index("--frames") + 1] == data_paths()["frames"] == "data/frames.h5"
    assert "--student" not in dvc_command("evaluate", "cross_subject", params, leave_out=("--student",))
    with pytest.raises(ValueError, match="foreach stage"):
        dvc_command("evaluate", None, params)


def test_a_workspace_links_code_and_inputs_and_a_failing_stage_is_one_error(tmp_path):
    source = tmp_path / "manifest.csv"
    source.write_text("x")
    root = make_workspace(tmp_path / "ws", {"seed": 0}, {"data/manifest.csv": source})
    assert (root / "pipeline").resolve() == REPO / "pipeline" and (root / "data" / "manifest.csv").read_text() == "x"
    assert (root / "params.yaml").read_text() == "seed: 0\n"
    make_workspace(root, {"seed": 1}, {"data/manifest.csv": source})  # again: replaced, not an error
    with pytest.raises(ProjectError, match="is missing"):
        make_workspace(root, {}, {"data/x": tmp_path / "nope"})
    with pytest.raises(ProjectError, match="stages.check_params"):
        run_stage(root, "check_params", log=tmp_path / "log")  # params.yaml lacks every section
    assert "$ -m stages.check_params" in (tmp_path / "log").read_text()
