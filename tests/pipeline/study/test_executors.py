"""pipeline/study/executors.py: a study asks its executor for the runs its record lacks, and
only for those; the record-only executor makes and trains nothing."""
from __future__ import annotations

import json

import pytest

from pipeline.study.errors import RunsMissing
from pipeline.study.executors import Executor, RecordOnly
from pipeline.study.runner import Study
from tests.pipeline.study.helpers import recorded_study


class Scripted(Executor):
    """Gives every missing final run the same entry and notes what it was asked."""

    def __init__(self):
        self.asked, self.told = [], []

    def project(self, study):
        raise AssertionError("no search run is missing: the project is never needed")

    def final(self, finals, arm, seed, epochs, key):
        self.asked.append((arm.name, seed, epochs))
        finals.record.add_final(key, {"arm": arm.name, "seed": seed, "accuracy": 100.0, "f_measure": 100.0,
                                      "validation_accuracy": 90.0, "best_epoch": 1, "seconds": {}})
        return finals.record.final(key)

    def recorded(self, finals, arm, seed, epochs, entry):
        self.told.append((arm.name, seed))


def drop_final(tmp_path, arm: str, seed: int) -> None:
    path = tmp_path / "results" / "tiny_runs.json"
    record = json.loads(path.read_text())
    key = next(key for key, entry in record["finals"].items() if entry["arm"] == arm and entry["seed"] == seed)
    del record["finals"][key]
    path.write_text(json.dumps(record))


def test_the_executor_is_asked_for_the_missing_runs_only(tmp_path):
    spec = recorded_study(tmp_path)
    drop_final(tmp_path, "sakdn_best", 1)
    executor = Scripted()
    result = Study(spec, workdir=tmp_path / "work", results=tmp_path / "results", say=lambda m: None,
                   executor=executor).run()
    assert executor.asked == [("sakdn_best", 1, 4)]  # at the schedule chosen on validation
    assert len(executor.told) == 5 and ("sakdn_best", 1) not in executor.told
    assert result["students"]["sakdn_best"]["accuracy"]["runs"] == [75.0, 100.0]  # the executor's entry, recorded
    saved = json.loads((tmp_path / "results" / "tiny_runs.json").read_text())
    assert sum(entry["arm"] == "sakdn_best" for entry in saved["finals"].values()) == 2


def test_record_only_raises_on_a_missing_run_and_makes_nothing(tmp_path):
    spec = recorded_study(tmp_path)
    drop_final(tmp_path, "baseline", 0)
    work = tmp_path / "work"
    with pytest.raises(RunsMissing, match="final run baseline seed 0 is missing from the run record"):
        Study(spec, workdir=work, results=tmp_path / "results", say=lambda m: None, executor=RecordOnly()).run()
    assert not work.exists()


def test_record_only_never_makes_a_project(tmp_path):
    spec = recorded_study(tmp_path)
    study = Study(spec, workdir=tmp_path / "work", results=tmp_path / "results", executor=RecordOnly())
    with pytest.raises(RunsMissing, match="runs are missing from .*tiny_runs.json .--recorded-only trains nothing"):
        study.project()
    assert not (tmp_path / "work").exists()
