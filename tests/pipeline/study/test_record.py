"""pipeline/study/record.py: the run record, the study's one run cache."""
from __future__ import annotations

import json

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.record import Record, pair_key, run_key

PARAMS = {"seed": 0, "data": {"root": "/data/a", "vision": "depth"}, "student": {"epochs": 24},
          "train": {"threads": 2, "device": "cpu"}}


def test_a_run_is_keyed_on_split_stage_and_params_but_not_where_the_data_is_or_how_fast():
    key = run_key("s", "distill", PARAMS)
    moved = {**PARAMS, "data": {"root": "/elsewhere", "vision": "depth"}, "train": {"threads": 8, "device": "cpu"}}
    assert run_key("s", "distill", moved) == key
    assert PARAMS["data"]["root"] == "/data/a"  # not changed by keying
    assert run_key("s", "baseline", PARAMS) != key and run_key("t", "distill", PARAMS) != key
    assert run_key("s", "distill", {**PARAMS, "student": {"epochs": 12}}) != key
    assert run_key("s", "distill", {**PARAMS, "data": {"root": "/data/a", "vision": "rgb"}}) != key


def test_the_record_is_written_after_every_run_and_read_back(tmp_path):
    path = tmp_path / "results" / "s_runs.json"
    record = Record(path, "s")
    record.add_search("k1", {"name": "r1-x", "validation_accuracy": 80.0})
    assert json.loads(path.read_text())["search"]["k1"] == {"key": "k1", "name": "r1-x", "validation_accuracy": 80.0}
    machine = record.machine_id({"cpu": "c", "cores": 2})
    assert machine == record.machine_id({"cores": 2, "cpu": "c"}) and len(machine) == 8
    per_sample = {"sample_id": ["a", "b"], "label": [0, 1], "predicted": [0, 0]}
    record.add_final("f1", {"accuracy": 50.0, "machine": machine}, per_sample)
    record.set_reuse_check({"identical": True})
    again = Record(path, "s")
    assert again.search_run("k1")["name"] == "r1-x" and again.search_run("nope") is None
    assert again.final("f1")["predicted"] == [0, 0]
    assert again.test_samples() == {"sample_id": ["a", "b"], "label": [0, 1]}
    assert again.per_sample(again.final("f1")) == per_sample
    assert again.machine(again.final("f1")) == {"cpu": "c", "cores": 2}
    assert again.reuse_check == {"identical": True}
    assert '"predicted": [0, 0]' in path.read_text()  # lists of scalars on one line: a readable diff
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # written atomically: no temporary left


def test_a_run_on_another_test_set_keeps_its_samples_and_one_without_predictions_has_none(tmp_path):
    record = Record(tmp_path / "r.json", "s")
    record.add_final("f1", {}, {"sample_id": ["a", "b"], "label": [0, 1], "predicted": [1, 1]})
    other = {"sample_id": ["c"], "label": [2], "predicted": [2]}
    record.add_final("f2", {}, other)
    assert "predicted" not in record.final("f2") and record.per_sample(record.final("f2")) == other
    record.add_final("f3", {"accuracy": 1.0})
    assert record.per_sample(record.final("f3")) is None


def test_recorded_mcnemar_counts_are_found_by_the_two_arms_run_keys(tmp_path):
    record = Record(tmp_path / "r.json", "s")
    counts = {"only_arm": 3, "only_reference": 1, "p_value": 0.625}
    record.data["recorded_mcnemar"][pair_key(["a0", "a1"], ["b0", "b1"])] = counts
    assert record.recorded_mcnemar(["a0", "a1"], ["b0", "b1"]) == counts
    assert record.recorded_mcnemar(["b0", "b1"], ["a0", "a1"]) is None  # the direction matters


def test_a_record_of_another_format_is_an_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(StudyError, match="run record format 99, this code reads 1"):
        Record(path, "s")


def test_settings_added_later_at_their_neutral_value_leave_recorded_keys_alone():
    key = run_key("s", "distill", PARAMS)
    neutral = {**PARAMS, "splits": {"labeled_fraction": 1.0}, "distill": {"targets": "teachers"}}
    assert run_key("s", "distill", neutral) == run_key("s", "distill", {**PARAMS, "splits": {}, "distill": {}})
    assert run_key("s", "distill", {**PARAMS, "splits": {"labeled_fraction": 0.5}}) != key
    assert run_key("s", "distill", {**neutral, "distill": {"targets": "baseline"}}) != run_key("s", "distill", neutral)


def test_a_truncated_record_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "s_runs.json"
    path.write_text('{"study": "s", "format": 1, "finals": {"k": {"accuracy": 5')
    with pytest.raises(StudyError, match=r"s_runs\.json: not a readable run record \(.* at line 1: truncated or "
                                         r"edited\? restore it from git\)$"):
        Record(path, "s")
    path.write_text("[1, 2]")
    with pytest.raises(StudyError, match="run record format None, this code reads 1"):
        Record(path, "s")


def test_the_synthetic_classes_change_no_real_datasets_key():
    """The first run's default classes changed; a real dataset's recorded keys did not."""
    real = {**PARAMS, "dataset": "utd_mhad", "synthetic": {"num_subjects": 8, "classes": None}}
    assert run_key("s", "distill", {**real, "synthetic": {"num_subjects": 8, "classes": ["squat"]}}) == \
        run_key("s", "distill", real)
    synthetic = {**real, "dataset": "synthetic"}
    assert run_key("s", "distill", {**synthetic, "synthetic": {"num_subjects": 8, "classes": ["squat"]}}) != \
        run_key("s", "distill", synthetic)


def test_a_self_training_coverage_left_at_null_keeps_recorded_keys():
    before = {**PARAMS, "teacher": {"self_training": {"rounds": 1, "threshold": 0.8}}}
    after = {**PARAMS, "teacher": {"self_training": {"rounds": 1, "threshold": 0.8, "coverage": None}}}
    assert run_key("s", "distill", after) == run_key("s", "distill", before)
    assert run_key("s", "distill", {**PARAMS, "teacher": {"self_training": {"rounds": 1, "threshold": 0.8,
                                                                            "coverage": 0.5}}}) != \
        run_key("s", "distill", before)
