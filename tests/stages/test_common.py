"""stages/common.py: a non-finite model is never saved, project errors become one line, and the
training runtime stops when a stage fails."""
from __future__ import annotations

import sys
import time

import pytest
import torch

from pipeline.errors import InputError, PipelineError, TrainingError
from pipeline.params import ParamsError, validate_params
from tests.conftest import REPO


def test_a_non_finite_weight_is_never_saved(tmp_path):
    from stages.common import save_trained

    state = {"weight": torch.tensor([1.0, float("inf")])}
    with pytest.raises(TrainingError, match="weight weight is not finite; the model is not saved"):
        save_trained(tmp_path / "model.pt", tmp_path / "curves", {"state": state, "history": []})
    assert not (tmp_path / "model.pt").exists()


def run_with(monkeypatch, body, *argv):
    from stages.common import run_stage, stage_parser

    monkeypatch.setattr(sys, "argv", ["stages/probe.py", "--params", str(REPO / "params.yaml"), *argv])
    run_stage(stage_parser("probe"), body)


def test_project_errors_become_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys):
    def bad_input(args, params):
        raise InputError("data/x.h5: not found")

    with pytest.raises(SystemExit) as stopped:
        run_with(monkeypatch, bad_input)
    assert stopped.value.code == 1
    assert capsys.readouterr().err == "error: data/x.h5: not found\n"

    with pytest.raises(InputError):  # --traceback: the expected error propagates with its traceback
        run_with(monkeypatch, bad_input, "--traceback")

    def bug(args, params):
        raise KeyError("a bug, not an input problem")

    with pytest.raises(KeyError):  # not caught: Python prints the traceback
        run_with(monkeypatch, bug)
    assert issubclass(ParamsError, PipelineError)


def test_training_runtime_is_stopped_when_the_stage_fails(monkeypatch):
    import pipeline.training
    from stages.common import training_runtime

    stopped = []
    monkeypatch.setattr(pipeline.training, "stop_runtime", lambda runtime: stopped.append(runtime))
    with pytest.raises(InputError):
        with training_runtime(validate_params({"train": {"device": "cpu"}})):
            raise InputError("boom")
    assert len(stopped) == 1


STAGE = """
import sys, time
from stages.common import run_stage, stage_parser
def body(args, params):
    print("stage running", flush=True)
    time.sleep(60)
run_stage(stage_parser("a stage that takes a while"), body)
"""
LAUNCHER = """
import subprocess, sys, time
stage = subprocess.Popen([sys.executable, "-c", sys.argv[1], "--params", sys.argv[2]])
print(stage.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("launcher_name,dies", [("dvc", True), ("my_script", False)])
def test_a_stage_dies_with_the_dvc_that_started_it_and_only_with_dvc(tmp_path, launcher_name, dies):
    import os
    import signal
    import subprocess

    from tests.pipeline.helpers import gone, kill_leftovers, wait_for

    launcher = tmp_path / launcher_name  # the process name the stage sees: `python .../dvc ...`
    launcher.write_text(LAUNCHER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, str(launcher), STAGE, str(REPO / "params.yaml")], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, text=True)
    stage = None
    try:
        stage = int(parent.stdout.readline())
        wait_for(lambda: "stage running" in (parent.stdout.readline() or ""), 60, "the stage to start")
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=10)
        if dies:
            wait_for(lambda: gone(stage), 10, "the stage to die with dvc")
        else:
            time.sleep(1)
            assert not gone(stage)  # started by hand or by a script: left running
    finally:
        parent.kill()
        kill_leftovers([stage] if stage else [])
