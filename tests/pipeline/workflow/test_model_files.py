"""pipeline/workflow/model_files.py: a model file is saved only with finite weights, and loaded
only when it is whole, of the kind asked for, for the split at hand and not a skipped stage's."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from pipeline.errors import InputError, TrainingError
from pipeline.training import load_checkpoint
from pipeline.workflow.inputs import SplitData, check_made_for
from pipeline.workflow.model_files import load_model_file, save_model_file, save_skipped_model, skipped_model
from tests.pipeline.workflow.helpers import two_splits, write_split_files


def test_a_non_finite_weight_is_never_saved_a_fold_teachers_neither(tmp_path):
    bad = {"w": torch.tensor([1.0, float("nan")])}
    with pytest.raises(TrainingError, match=r"folds\.pt \(fold 1\): weight w is not finite"):
        save_model_file(tmp_path / "folds.pt", {"kind": "fold_teachers", "teachers": [{"state": {"w": torch.ones(1)}},
                                                                                      {"state": bad}]})
    assert not (tmp_path / "folds.pt").exists()
    save_model_file(tmp_path / "teachers.pt", {"kind": "teachers", "state": {"w": torch.ones(2)}})
    assert load_model_file(tmp_path / "teachers.pt", "teachers")["state"]["w"].tolist() == [1.0, 1.0]


def test_a_skipped_stage_keeps_a_checkpoint_that_may_hold_progress(tmp_path):
    checkpoint = tmp_path / "student.ckpt"
    save_skipped_model(tmp_path / "a.pt", checkpoint, {"kind": "student", "skipped": True, "reason": "no video"})
    assert torch.load(checkpoint, weights_only=False)["skipped"]
    torch.save({"progress": 3}, checkpoint)
    save_skipped_model(tmp_path / "b.pt", checkpoint, {"kind": "student", "skipped": True, "reason": "no video"})
    assert torch.load(checkpoint, weights_only=False) == {"progress": 3}


def test_damaged_model_and_checkpoint_files_get_one_line(tmp_path):
    model = tmp_path / "teachers.pt"
    model.write_bytes(b"")
    with pytest.raises(TrainingError, match=r"teachers\.pt: model file is empty \(0 bytes\); delete it"):
        load_model_file(model, "teachers")
    torch.save({"kind": "teachers", "state": {"w": torch.ones(1000)}}, model)
    whole = model.read_bytes()
    model.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TrainingError, match=r"teachers\.pt: model file is truncated or corrupt .*delete it"):
        load_model_file(model, "teachers")
    torch.save({"kind": "student"}, model)
    with pytest.raises(InputError, match="holds a 'student' model, expected 'teachers'"):
        load_model_file(model, "teachers")

    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(whole[:100])
    with pytest.raises(TrainingError, match=r"checkpoint\.pt: checkpoint is truncated or corrupt .*delete it"):
        load_checkpoint(checkpoint, "any")
    assert load_checkpoint(tmp_path / "absent.pt", "any") is None  # no checkpoint: a fresh start


def test_a_model_file_of_another_split_is_an_error_naming_both_files(tmp_path):
    inputs = two_splits(tmp_path)
    view, other = SplitData("cross_view", inputs), SplitData("other", inputs)
    path = tmp_path / "teachers.pt"
    torch.save({"kind": "teachers", "made_for": view.made_for}, path)
    assert load_model_file(path, "teachers", view)["kind"] == "teachers"
    with pytest.raises(InputError, match=r"teachers\.pt: made for split 'cross_view' .*, but .*splits\.csv gives "
                                         r"split 'other'"):
        load_model_file(path, "teachers", other)
    # the same split name with another assignment (e.g. another seed's validation) is also refused
    splits = pd.read_csv(inputs.splits)
    splits["cross_view"] = ["train", "val", "test", "test"]
    splits.to_csv(inputs.splits, index=False)
    with pytest.raises(InputError, match=r"made for split 'cross_view' \(.*assignment [0-9a-f]{16}\), but"):
        load_model_file(path, "teachers", SplitData("cross_view", inputs))
    torch.save({"kind": "teachers"}, path)
    with pytest.raises(InputError, match=r"teachers\.pt: records no split"):
        load_model_file(path, "teachers", view)
    check_made_for(view.made_for, view, path)  # no error



def test_a_skipped_model_file_is_refused_for_real_work(tmp_path):
    inputs = write_split_files(tmp_path)
    data = SplitData("cross_view", inputs)
    torch.save(skipped_model("student", "baseline", data, "no video"), tmp_path / "baseline.pt")
    with pytest.raises(InputError, match=r"baseline\.pt: holds no student model: its training was skipped "
                                         r"\(no video\)"):
        load_model_file(tmp_path / "baseline.pt", "student", data)
    saved = load_model_file(tmp_path / "baseline.pt", "student", data, allow_skipped=True)
    assert saved["skipped"] and saved["reason"] == "no video" and saved["made_for"] == data.made_for
