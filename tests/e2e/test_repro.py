"""End to end: `dvc repro` of the whole DAG on a tiny synthetic configuration, in a temporary
git repository (the `project` fixture), plus stage-level bad inputs."""
from __future__ import annotations

from pathlib import Path

import h5py
import pandas as pd
import pytest
import torch

from tests.conftest import TINY, copy_project, run, stage_command

pytestmark = pytest.mark.slow

SENSORS = ["wrist_acc", "wrist_gyro", "phone_acc"]


def test_repro_builds_every_preprocessing_output(project):
    manifest = pd.read_csv(project / "data" / "manifest.csv")
    assert len(manifest) == 4 * 3 * 1 * 2  # subjects x classes x trials x views
    assert manifest["recording_id"].nunique() == 12
    assert [c for c in manifest.columns if c.startswith("sensor_")] == [f"sensor_{s}" for s in SENSORS]
    classes = (project / "data" / "classes.txt").read_text().splitlines()
    assert classes == TINY["synthetic"]["classes"]
    assert (manifest["class_name"] == [classes[label] for label in manifest["label"]]).all()

    splits = pd.read_csv(project / "data" / "splits.csv")
    assert list(splits.columns) == ["sample_id", *TINY["splits"]["protocols"]]
    test_views = manifest.loc[splits["cross_view"] == "test", "view"]
    assert set(test_views) == {2}

    with h5py.File(project / "data" / "frames.h5") as frames:
        assert frames["frames"].shape == (24, 4, 16, 16, 3)
        assert [s.decode() for s in frames["sample_id"][()]] == manifest["sample_id"].tolist()
        assert frames["frames"][()].std() > 5  # real pictures, not blank frames
    with h5py.File(project / "data" / "gaf.h5") as gaf:
        assert sorted(gaf) == sorted(SENSORS)
        for sensor in SENSORS:
            images = gaf[sensor]["gaf_images"]
            assert images.shape == (12, 3, 32, 32) and images.dtype == "float16"
            assert abs(images[()]).max() <= 1.0
    with h5py.File(project / "data" / "class_embeddings.h5") as embeddings:
        assert embeddings["embeddings"].shape == (3, 50)


def test_second_repro_does_nothing_and_status_is_clean(project):
    again = run(["dvc", "repro"], project)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout
    status = run(["dvc", "status"], project)
    assert "up to date" in status.stdout


def test_changing_one_param_invalidates_only_its_stage(project):
    params = project / "params.yaml"
    original = params.read_text()
    try:
        params.write_text(original.replace("image_size: 32", "image_size: 64"))
        status = run(["dvc", "status"], project).stdout
        changed = [line.strip().rstrip(":") for line in status.splitlines() if line and not line.startswith((" ", "\t"))]
        # the params check lists the file whole; its output never changes, so only gaf retrains
        assert changed == ["check_params", "gaf"], status
    finally:
        params.write_text(original)
    assert "up to date" in run(["dvc", "status"], project).stdout


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


def test_teachers_validate_only_on_recordings_they_do_not_train_on(project, tmp_path):
    """Teachers select their epoch on validation recordings they do not train on. A split whose
    validation videos are other views of training recordings (the default cross_view, three
    views) leaves them none: they then keep their last epoch, with no validation pass."""
    manifest = pd.read_csv(project / "data/manifest.csv")
    for split in ("cross_subject", "cross_view"):  # as the tiny project splits them: held-out recordings exist
        table = manifest.merge(pd.read_csv(project / "data/splits.csv"), on="sample_id")
        held_out = set(table.loc[table[split] == "val", "recording_id"]) - set(
            table.loc[table[split] == "train", "recording_id"])
        saved = torch.load(project / f"models/{split}/teachers.pt", weights_only=False)
        assert held_out and all(isinstance(r["val_accuracy"], float) for r in saved["history"])
    # Validation = half of the held-out view's videos: every one is a video of a training recording.
    copy = copy_project(project, tmp_path / "copy")
    splits = pd.read_csv(copy / "data/splits.csv")
    splits.loc[splits["cross_view"] == "val", "cross_view"] = "test"
    recording = splits["sample_id"].map(manifest.set_index("sample_id")["recording_id"])
    training = set(recording[splits["cross_view"] == "train"])
    test_rows = splits.index[(splits["cross_view"] == "test") & recording.isin(training)]
    splits.loc[test_rows[: len(test_rows) // 2], "cross_view"] = "val"
    splits.to_csv(copy / "data/splits.csv", index=False)
    table = manifest.merge(splits, on="sample_id")
    assert set(table.loc[table["cross_view"] == "val", "recording_id"]) <= set(
        table.loc[table["cross_view"] == "train", "recording_id"])
    run(stage_command(copy, "teachers", "cross_view", "--no-progress"), copy)
    saved = torch.load(copy / "models/cross_view/teachers.pt", weights_only=False)
    assert [r["val_accuracy"] for r in saved["history"]] == [None] * TINY["teacher"]["epochs"]
    assert saved["best_epoch"] == TINY["teacher"]["epochs"]
