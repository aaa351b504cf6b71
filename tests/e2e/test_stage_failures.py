"""Stages given damaged or changed inputs, run exactly as dvc.yaml runs them on a copy of the
reproduced tiny project: each either produces a correct output or stops with one line
naming the file, and never saves a wrong model."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import copy_project, run, stage_command, write_params

pytestmark = pytest.mark.slow
SPLIT = "cross_subject"


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_changed_gaf_images_restart_the_teachers_instead_of_resuming(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    before = torch.load(copy / f"models/{SPLIT}/teachers.pt", weights_only=False)
    # A finished checkpoint of the same params exists; the data under it changes.
    write_params(copy / "params.yaml", {"gaf": {"method": "difference"}})
    run(stage_command(copy, "gaf", None, "--no-progress"), copy)
    result = run(stage_command(copy, "teachers", SPLIT, "--no-progress"), copy)
    assert "resuming" not in result.stdout
    after = torch.load(copy / f"models/{SPLIT}/teachers.pt", weights_only=False)
    changed = [key for key, value in before["state"].items() if not torch.equal(value, after["state"][key])]
    assert changed, "the teachers were not retrained on the new GAF images"


def test_nan_inputs_stop_teacher_training_and_save_no_model(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    with h5py.File(copy / "data/gaf.h5", "r+") as cache:
        images = cache["wrist_acc/gaf_images"]
        images[0] = np.full(images.shape[1:], np.nan, dtype=images.dtype)
    model = copy / f"models/{SPLIT}/teachers.pt"
    model.unlink()
    line = one_line_error(run(stage_command(copy, "teachers", SPLIT, "--no-progress"), copy, check=False))
    assert f"teachers[{SPLIT}]: epoch 1, batch" in line and "the loss is not finite" in line
    assert "model is not saved" in line
    assert not model.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_checkpoint_names_the_file_and_says_to_delete_it(project, tmp_path, damage):
    copy = copy_project(project, tmp_path / "copy")
    checkpoint = copy / f"checkpoints/{SPLIT}/baseline.pt"
    whole = checkpoint.read_bytes()
    checkpoint.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"")
    line = one_line_error(run(stage_command(copy, "baseline", SPLIT, "--no-progress"), copy, check=False))
    assert f"checkpoints/{SPLIT}/baseline.pt: checkpoint is" in line and "delete it" in line


def test_truncated_model_file_stops_evaluation_with_one_line(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    model = copy / f"models/{SPLIT}/teachers.pt"
    model.write_bytes(model.read_bytes()[:2000])
    line = one_line_error(run(stage_command(copy, "evaluate", SPLIT, "--no-progress"), copy, check=False))
    assert f"models/{SPLIT}/teachers.pt: model file is truncated or corrupt" in line
    assert "--traceback" not in line
    shown = run(stage_command(copy, "evaluate", SPLIT, "--traceback"), copy, check=False)
    assert shown.returncode != 0 and "Traceback" in shown.stderr  # for bug reports


def test_skipped_videos_are_left_out_of_training_and_reported(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    manifest = pd.read_csv(copy / "data/manifest.csv")
    splits = pd.read_csv(copy / "data/splits.csv")
    broken = manifest.loc[splits[SPLIT] == "test", ["sample_id", "video"]].iloc[0]
    (copy / broken["video"]).write_bytes(b"not a video" * 10)
    write_params(copy / "params.yaml", {"frames": {"on_error": "skip"}})
    run(stage_command(copy, "frames", None, "--no-progress"), copy)
    report = json.loads((copy / "data/frames_report.json").read_text())
    assert [s["sample_id"] for s in report["skipped"]] == [broken["sample_id"]]

    trained = run(stage_command(copy, "baseline", SPLIT, "--no-progress"), copy)
    assert broken["sample_id"] in trained.stderr and "no cached frames" in trained.stderr
    run(stage_command(copy, "evaluate", SPLIT, "--no-progress"), copy)
    details = json.loads((copy / f"evaluation/{SPLIT}/details.json").read_text())
    assert details["skipped_samples"] == [broken["sample_id"]]
    test_samples = int((splits[SPLIT] == "test").sum())
    assert sum(map(sum, details["baseline"]["confusion_matrix"])) == test_samples - 1
    per_sample = details["baseline"]["per_sample"]  # what a paired (McNemar) comparison reads
    assert len(per_sample["sample_id"]) == test_samples - 1 and broken["sample_id"] not in per_sample["sample_id"]
    correct = sum(p == y for p, y in zip(per_sample["predicted"], per_sample["label"]))
    assert abs(100 * correct / (test_samples - 1) - details["baseline"]["accuracy"]) < 0.01


def test_unknown_params_key_stops_the_stage_with_its_name(project, tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text((project / "params.yaml").read_text() + "\nfrmaes: {}\n")
    result = run(stage_command(project, "embed", params=str(bad)), project, check=False)
    assert result.returncode == 1
    assert "unknown key frmaes" in result.stderr and "Traceback" not in result.stderr


def test_broken_video_names_the_file_and_leaves_no_cache(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    manifest = pd.read_csv(copy / "data" / "manifest.csv")
    broken = Path(manifest["video"][3])
    (copy / broken).write_bytes(b"garbage" * 50)
    (copy / "data" / "frames.h5").unlink()
    result = run(stage_command(copy, "frames", None, "--no-progress"), copy, check=False)
    assert result.returncode == 1
    assert f"{broken}: decord cannot read this video" in result.stderr
    assert not any(p.name.startswith(".frames.h5") or p.name == "frames.h5" for p in (copy / "data").iterdir())


def test_non_numeric_sensor_row_names_the_file_and_line(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    manifest = pd.read_csv(copy / "data" / "manifest.csv")
    csv = copy / manifest["sensor_wrist_gyro"][0]
    lines = csv.read_text().splitlines()
    lines[5] = "0.1,1.0,abc,2.0"
    csv.write_text("\n".join(lines) + "\n")
    (copy / "data" / "gaf.h5").unlink()
    result = run(stage_command(copy, "gaf", None, "--no-progress"), copy, check=False)
    assert result.returncode == 1
    assert f"{manifest['sensor_wrist_gyro'][0]}: line 6: y value 'abc' is not a number" in result.stderr
    assert not any(p.name.startswith(".gaf.h5") or p.name == "gaf.h5" for p in (copy / "data").iterdir())


def test_class_name_without_known_word_fails_embed(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "data" / "classes.txt").write_text("right hand wave\nqqzx zzqy\n")
    (copy / "data" / "class_embeddings.h5").unlink()
    result = run(stage_command(copy, "embed"), copy, check=False)
    assert result.returncode == 1
    assert "class 'qqzx zzqy': none of its words" in result.stderr
    assert not (copy / "data" / "class_embeddings.h5").exists()
