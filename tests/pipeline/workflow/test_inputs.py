"""What a split reads (pipeline/workflow/inputs.py): its parts, classes and sensors, samples
without cached frames, and missing, truncated or damaged input and model files."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.datasets import MANIFEST_COLUMNS
from pipeline.embeddings import ClassEmbeddings, write_class_embeddings
from pipeline.errors import InputError, TrainingError
from pipeline.training import load_checkpoint
from pipeline.workflow.inputs import Inputs, SplitData, load_model_file

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

