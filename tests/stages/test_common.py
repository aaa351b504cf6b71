"""stages/common.py: a non-finite model is never saved, project errors become one line, and the
training runtime stops when a stage fails."""
from __future__ import annotations

import sys

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
