"""Stage by stage on a copy of the reproduced tiny project: a model file or cache of another
split, or a GAF cache of other settings, stops the stage with one line naming both files,
and writes nothing; the teachers alone are evaluated without any video."""
from __future__ import annotations

import json

import pytest

from tests.conftest import copy_project, run, stage_command, write_params

pytestmark = pytest.mark.slow


def refused(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_models_and_caches_of_another_split_are_refused_naming_both_files(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    metrics = copy / "metrics/cross_subject.json"
    before = metrics.read_bytes()
    other = "models/cross_view/teachers.pt"
    error = refused(run(stage_command(copy, "evaluate", "cross_subject", "--teachers", other), copy, check=False))
    assert f"{other}: made for split 'cross_view' (held out: view 2;" in error
    assert "but data/splits.csv gives split 'cross_subject' (held out: subject 4;" in error
    assert metrics.read_bytes() == before

    error = refused(run(stage_command(copy, "evaluate", "cross_subject", "--student", "models/cross_view/student.pt"),
                        copy, check=False))
    assert "models/cross_view/student.pt: made for split 'cross_view'" in error and metrics.read_bytes() == before

    model = copy / "models/cross_subject/student.pt"
    trained = model.read_bytes()
    (copy / "checkpoints/cross_subject/student.pt").unlink()
    error = refused(run(stage_command(copy, "distill", "cross_subject", "--no-progress", "--teacher-outputs",
                                      "data/cross_view/teacher_outputs.h5"), copy, check=False))
    assert "data/cross_view/teacher_outputs.h5: made for split 'cross_view'" in error
    assert "data/splits.csv gives split 'cross_subject'" in error and model.read_bytes() == trained


def test_a_gaf_cache_of_other_settings_stops_evaluation(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    write_params(copy / "params.yaml", {"gaf": {"image_size": 64}})
    error = refused(run(stage_command(copy, "evaluate", "cross_subject"), copy, check=False))
    assert "data/gaf.h5: GAF images of size 32 (summation), but params.yaml has gaf.image_size 64" in error


def test_models_made_with_other_settings_are_refused_naming_the_key(project, tmp_path):
    """Every model file carries the settings it was made with, and its consumers compare them:
    teachers trained on 32-pixel GAF images are not scored on 64-pixel ones (even where the
    GAF cache agrees with params.yaml), nor a 2-segment student on 4-segment clips."""
    copy = copy_project(project, tmp_path / "copy")
    metrics = copy / "metrics/cross_subject.json"
    before = metrics.read_bytes()
    original = (copy / "params.yaml").read_text()
    write_params(copy / "params.yaml", {"student": {"num_segments": 4}})
    error = refused(run(stage_command(copy, "evaluate", "cross_subject"), copy, check=False))
    assert "models/cross_subject/baseline.pt: made with student.num_segments 2, but params.yaml or " in error
    assert metrics.read_bytes() == before
    (copy / "params.yaml").write_text(original)
    write_params(copy / "params.yaml", {"gaf": {"image_size": 64}})
    run(stage_command(copy, "gaf"), copy)
    error = refused(run(stage_command(copy, "evaluate", "cross_subject"), copy, check=False))
    assert "models/cross_subject/teachers.pt: made with gaf.image_size 32, but data/gaf.h5 has 64" in error
    assert metrics.read_bytes() == before


def test_the_teachers_alone_are_evaluated_without_any_video(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "data/frames.h5").unlink()
    command = stage_command(copy, "evaluate", "cross_subject", leave_out=("--baseline", "--student"))
    run(command, copy)
    metrics = json.loads((copy / "metrics/cross_subject.json").read_text())
    reference = json.loads((project / "metrics/cross_subject.json").read_text())
    assert set(metrics) == {"teachers", "training"} and metrics["teachers"] == reference["teachers"]
    assert metrics["teachers"]["fused"]["samples"] == 3  # the test subject's recordings
    assert reference["student"]["samples"] == reference["baseline"]["samples"] == 6  # its videos, 2 views each
