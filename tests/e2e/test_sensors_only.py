"""`dvc repro` of a sensors-only dataset (the tiny synthetic one without its videos, with
`data.require: any`): the teachers are trained and evaluated, the students are skipped with
outputs that say so, and a second `dvc repro` has nothing to do."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.conftest import clone_project, run, write_params

pytestmark = pytest.mark.slow

SPLIT = "cross_subject"
REASON = "no video: the manifest has sensor files only"


def test_a_sensors_only_dataset_trains_the_teachers_and_skips_the_students(project, tmp_path):
    copy = clone_project(project, tmp_path / "copy")
    # A dataset folder of its own: data/synthetic is the synthesize stage's output (DVC restores it).
    shutil.copytree(copy / "data/synthetic", copy / "sensors_only", ignore=shutil.ignore_patterns("videos"))
    write_params(copy / "params.yaml", {"data": {"root": "sensors_only", "require": "any"},
                                        "splits": {"protocols": [SPLIT]}})
    result = run(["dvc", "repro"], copy)
    out = result.stdout
    assert "Running stage 'teachers@cross_subject'" in out  # retrained on the new manifest
    assert "holds no frame; the students will be skipped" in out
    for method in ("baseline", "distill"):
        assert f"{method}[{SPLIT}]: skipped, data/frames.h5 holds no frame ({REASON})" in out
    assert f"; baseline and student skipped ({REASON})\n" in out

    metrics = json.loads((copy / f"metrics/{SPLIT}.json").read_text())
    assert metrics["teachers"]["fused"]["accuracy"] >= 0 and metrics["teachers"]["fused"]["samples"] == 3
    assert metrics["baseline"] == metrics["student"] == {"skipped": REASON}
    details = json.loads((copy / f"evaluation/{SPLIT}/details.json").read_text())
    assert set(details["teachers"]) >= {"fused"} and details["baseline"] == {"skipped": REASON}
    for name in ("baseline", "student"):
        assert (copy / f"evaluation/{SPLIT}/confusion_{name}.csv").read_text() == "actual,predicted\n"
        saved = torch.load(copy / f"models/{SPLIT}/{name}.pt", weights_only=False)
        assert saved["kind"] == "student" and saved["skipped"] is True and saved["reason"] == REASON
        assert json.loads((copy / f"dvclive/{SPLIT}/{name}/metrics.json").read_text()) == {"skipped": REASON}
    assert len((copy / f"evaluation/{SPLIT}/confusion_teachers_fused.csv").read_text().splitlines()) == 4
    assert json.loads((copy / "data/frames_report.json").read_text())["no_video"] is True

    again = run(["dvc", "repro"], copy)
    assert "Data and pipelines are up to date." in again.stdout, again.stdout
