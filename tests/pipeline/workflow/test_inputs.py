"""Fast unit tests of pipeline/workflow/, pipeline/training.py's safety checks and
stages/common.py: the files a split reads, what a checkpoint fingerprint covers, non-finite
losses, damaged model files, and which errors become one line."""
from __future__ import annotations

import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from ruamel.yaml import YAML
from torch import nn
from torch.utils.data import Dataset

from pipeline.datasets import MANIFEST_COLUMNS
from pipeline.embeddings import ClassEmbeddings, write_class_embeddings
from pipeline.errors import InputError, PipelineError, TrainingError
from pipeline.params import ParamsError, validate_params
from pipeline.training import Runtime, fit, input_digests, load_checkpoint, loader, params_subset
from pipeline.workflow.inputs import Inputs, SplitData, load_model_file
from pipeline.workflow.student_training import BASELINE_PARAMS, DISTILL_PARAMS
from pipeline.workflow.teacher_inference import teacher_sensors
from pipeline.workflow.teacher_outputs import TeacherOutputCache
from pipeline.workflow.teacher_training import FOLD_PARAMS, TEACHER_PARAMS
from tests.conftest import REPO

CLASSES = ["wave", "squat"]


def write_split_files(folder, frames_for=None):
    """A 4-sample manifest (2 recordings x 2 views), its splits, class vectors and a frame cache
    holding ``frames_for`` (default: every sample)."""
    rows = []
    for recording, label, part in (("r1", 0, "train"), ("r2", 1, "test")):
        for view in (1, 2):
            rows.append({"sample_id": f"{recording}_v{view}", "recording_id": recording, "label": label,
                         "class_name": CLASSES[label], "subject": 1, "trial": 1, "view": view, "scene": None,
                         "session": None, "video": f"{recording}_{view}.avi", "sensor_acc": f"{recording}.csv",
                         "part": part})
    table = pd.DataFrame(rows)
    table[list(MANIFEST_COLUMNS) + ["sensor_acc"]].to_csv(folder / "manifest.csv", index=False)
    table[["sample_id", "part"]].rename(columns={"part": "cross_view"}).to_csv(folder / "splits.csv", index=False)
    write_class_embeddings(folder / "embeddings.h5", ClassEmbeddings(CLASSES, np.eye(2, 3, dtype=np.float32)))
    ids = table["sample_id"].tolist() if frames_for is None else frames_for
    with h5py.File(folder / "frames.h5", "w") as cache:
        cache["frames"] = np.zeros((len(ids), 2, 8, 8, 3), dtype=np.uint8)
        cache.create_dataset("sample_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    return Inputs(str(folder / "manifest.csv"), str(folder / "splits.csv"), str(folder / "embeddings.h5"),
                  frames=str(folder / "frames.h5"))


# ------------------------------------------------------------------ what a split reads
def test_split_data_reads_parts_classes_and_sensors(tmp_path):
    data = SplitData("cross_view", write_split_files(tmp_path))
    assert data.class_names == CLASSES and data.sensors == ["acc"]
    assert data.samples("train")["sample_id"].tolist() == ["r1_v1", "r1_v2"]
    assert data.recordings("test")["recording_id"].tolist() == ["r2"]
    assert data.skipped_samples == []


def test_samples_without_frames_are_dropped_and_reported(tmp_path, caplog):
    inputs = write_split_files(tmp_path, frames_for=["r1_v1", "r1_v2", "r2_v1"])  # r2_v2 skipped by frames
    data = SplitData("cross_view", inputs)
    assert data.skipped_samples == ["r2_v2"]
    assert data.samples("test")["sample_id"].tolist() == ["r2_v1"]
    assert "r2_v2" in caplog.text and "no cached frames" in caplog.text


def test_missing_or_truncated_input_names_the_file(tmp_path):
    inputs = write_split_files(tmp_path)
    (tmp_path / "embeddings.h5").unlink()
    with pytest.raises(InputError, match=r"embeddings\.h5: class embeddings not found"):
        SplitData("cross_view", inputs)
    write_split_files(tmp_path)
    whole = (tmp_path / "frames.h5").read_bytes()
    (tmp_path / "frames.h5").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"frames\.h5: not a readable HDF5 file .*delete it"):
        SplitData("cross_view", inputs)


def test_unknown_split_names_the_splits_file(tmp_path):
    with pytest.raises(InputError, match=r"splits\.csv: no split 'cross_subject' \(has cross_view\)"):
        SplitData("cross_subject", write_split_files(tmp_path))


def test_teacher_sensors_error_names_the_params_key():
    params = validate_params({"teacher": {"sensors": ["gyro"]}})
    with pytest.raises(ParamsError, match="teacher.sensors: 'gyro' is not a sensor"):
        teacher_sensors(params, ["acc"])
    assert teacher_sensors(validate_params({}), ["acc", "gyro"]) == ["acc", "gyro"]


def test_teacher_output_cache_names_its_file(tmp_path):
    with pytest.raises(InputError, match="outputs.h5: teacher outputs not found"):
        TeacherOutputCache(tmp_path / "outputs.h5")


# ------------------------------------------------------------------ params each stage depends on
def test_params_subset_takes_dotted_keys_and_sections():
    params = {"seed": 3, "train": {"device": "cpu", "threads": 2}, "teacher": {"lr": 0.1}}
    assert params_subset(params, ("seed", "teacher", "train.device")) == {
        "seed": 3, "teacher": {"lr": 0.1}, "train.device": "cpu"}


def dvc_stage_params(stage: str) -> tuple[str, ...]:
    stages = YAML(typ="safe", pure=True).load((REPO / "dvc.yaml").read_text())["stages"]
    return tuple(stages[stage]["do"]["params"])


@pytest.mark.parametrize("stage,keys", [("teachers", TEACHER_PARAMS), ("fold_teachers", FOLD_PARAMS),
                                        ("baseline", BASELINE_PARAMS), ("distill", DISTILL_PARAMS)])
def test_fingerprinted_params_are_the_ones_dvc_tracks(stage, keys):
    # A key DVC reruns the stage for but the checkpoint ignores would resume a stale run;
    # the opposite would restart training for nothing.
    assert sorted(dvc_stage_params(stage)) == sorted(keys)
    assert "train.threads" not in keys and "train.workers" not in keys


def test_input_digests_change_with_content(tmp_path):
    path = tmp_path / "gaf.h5"
    path.write_bytes(b"summation")
    before = input_digests([path])
    path.write_bytes(b"difference")
    assert input_digests([path]) != before
    assert input_digests([path, None]) == input_digests([path])  # optional inputs are skipped


# ------------------------------------------------------------------ damaged files
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


# ------------------------------------------------------------------ non-finite losses
class Numbers(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor([float(index)]), index


def test_fit_stops_at_a_non_finite_loss_naming_epoch_and_term(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    runtime = Runtime(torch.device("cpu"))
    epoch_of = {"now": 0}

    def step(batch):
        inputs, _ = batch
        value = model(inputs).pow(2).mean()
        poisoned = value * float("nan") if epoch_of["now"] == 2 else value  # epoch 2 goes wrong
        return value + poisoned, {"ce": value.detach(), "gsdm": poisoned.detach()}

    def validate():
        epoch_of["now"] += 1
        return 50.0

    epoch_of["now"] = 1
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(TrainingError, match=r"model: epoch 2, batch 1: the loss is not finite \(term gsdm;"):
        fit(name="model", model=model, parameters=list(model.parameters()),
            train_data=loader(Numbers(), 4, runtime, seed=0, shuffle=True), step=step, validate=validate,
            epochs=3, lr=0.01, weight_decay=0.0, checkpoint_path=checkpoint, config={}, runtime=runtime,
            progress=False)
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["epoch"] == 1  # the last good epoch; nothing of epoch 2 was written
    assert all(torch.isfinite(value).all() for value in saved["model"].values())


def test_a_non_finite_weight_is_never_saved(tmp_path):
    from stages.common import save_trained

    state = {"weight": torch.tensor([1.0, float("inf")])}
    with pytest.raises(TrainingError, match="weight weight is not finite; the model is not saved"):
        save_trained(tmp_path / "model.pt", tmp_path / "curves", {"state": state, "history": []})
    assert not (tmp_path / "model.pt").exists()


# ------------------------------------------------------------------ workers
class Epochs(Dataset):
    """Items depend on the epoch set on the dataset (like TSN offsets)."""

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.tensor(100 * self.epoch + index)


def test_loader_workers_see_each_epoch_like_the_main_process():
    from pipeline.training import set_epoch

    runtime = Runtime(torch.device("cpu"))
    seen = {}
    for workers in (0, 1):
        data = loader(Epochs(), 2, runtime, seed=1, shuffle=True, workers=workers)
        seen[workers] = []
        for epoch in range(2):
            set_epoch(data, epoch)
            seen[workers].append(sorted(torch.cat(list(data)).tolist()))
    assert seen[0] == [[0, 1, 2, 3], [100, 101, 102, 103]]
    assert seen[1] == seen[0]


# ------------------------------------------------------------------ stage error handling
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


def test_teacher_outputs_are_looked_up_by_each_clips_own_recording(tmp_path):
    """Pairing (docs/method.md §0): a batch gets the rows of its clips' recordings, in the
    batch's order, whatever order the cache holds them in."""
    path = tmp_path / "outputs.h5"
    ids = ["r1", "r2", "r3"]
    with h5py.File(path, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=2, taps=["conv3"], sensors=["acc"])
        cache["acc/logits"] = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], dtype=np.float32)
        cache["acc/fc2"] = np.array([[10.0], [20.0], [30.0]], dtype=np.float32)
        cache["acc/features/conv3"] = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
        cache["acc/ablated/logits"] = np.zeros((2, 2), dtype=np.float32)
        cache["acc/ablated/fc2"] = np.zeros((2, 1), dtype=np.float32)
    (acc,) = TeacherOutputCache(path).batch(["r3", "r1"])
    assert acc["logits"][:, 0].tolist() == [3.0, 1.0]
    assert acc["fc2"][:, 0].tolist() == [30.0, 10.0]
    assert acc["features"]["conv3"].flatten().tolist() == [2.0, 0.0]
    with pytest.raises(InputError, match="no cached teacher output for recording 'r9'"):
        TeacherOutputCache(path).batch(["r9", "r1"])


def test_student_seed_defaults_to_the_top_level_seed_and_is_fingerprinted():
    from pipeline.training import params_subset
    from pipeline.workflow.student_training import BASELINE_PARAMS, student_seed

    params = validate_params({"seed": 3})
    assert params["student"]["seed"] is None and student_seed(params) == 3
    own = validate_params({"seed": 3, "student": {"seed": 7}})
    assert student_seed(own) == 7
    # the checkpoint's fingerprint sees it; the teachers' params (seed, teacher) do not change
    assert params_subset(own, BASELINE_PARAMS) != params_subset(params, BASELINE_PARAMS)
    assert own["seed"] == params["seed"] and own["teacher"] == params["teacher"]
