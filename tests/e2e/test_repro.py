"""End to end: `dvc repro` of the whole DAG on a tiny synthetic configuration, in a temporary
git repository (the `project` fixture): its outputs, its status, its metrics, and the
teachers' validation."""
from __future__ import annotations

import json

import h5py
import pandas as pd
import pytest
import torch

from tests.conftest import TINY, clone_project, copy_project, run, stage_command

pytestmark = pytest.mark.slow

SENSORS = ["wrist_acc", "wrist_gyro", "phone_acc"]
SPLITS = ["cross_subject", "cross_view"]


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


# This file's tests are the only ones that run dvc in the shared project itself.
def test_second_repro_does_nothing_and_status_is_clean(project):
    again = run(["dvc", "repro"], project)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout
    status = run(["dvc", "status"], project)
    assert "up to date" in status.stdout


def test_changing_one_param_invalidates_only_its_stage(project, tmp_path):
    project = clone_project(project, tmp_path / "clone")
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


@pytest.mark.slow
def test_metrics_show_compares_models_per_split(project):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    files = next(iter(shown.values()))["data"]
    assert set(files) == {f"metrics/{split}.json" for split in SPLITS}  # one row per split
    for split in SPLITS:
        metrics = files[f"metrics/{split}.json"]["data"]
        assert set(metrics) == {"teachers", "baseline", "student", "training"}
        assert metrics["training"]["unlabeled_recordings"] == 0 and metrics["training"]["labeled_recordings"] > 0
        assert metrics["student"]["training_clips"]["labeled"] > 0 and metrics["student"]["temperature"] == 4.0
        assert set(metrics["teachers"]) == {"fused", "wrist_acc", "wrist_gyro", "phone_acc"}
        for model in (metrics["baseline"], metrics["student"], metrics["teachers"]["fused"]):
            assert 0 <= model["accuracy"] <= 100 and 0 <= model["f_measure"] <= 100
    for split in SPLITS:
        assert (project / f"evaluation/{split}/confusion_student.csv").read_text().startswith("actual,predicted")
        curves = project / f"dvclive/{split}/student/plots/metrics"
        assert {"train_loss.tsv", "train_gsdm.tsv", "val_accuracy.tsv"} <= {p.name for p in curves.iterdir()}
        # The epoch kept, chosen on validation: what `dvc exp show` ranks a settings grid by,
        # in the split's metrics file and (for experiments that stop before the test split)
        # in each student's git-tracked dvclive summary.
        for model in ("baseline", "student"):
            summary = json.loads((project / f"dvclive/{split}/{model}/metrics.json").read_text())
            history = torch.load(project / f"models/{split}/{model}.pt", weights_only=False)["history"]
            kept = max(history, key=lambda record: (record["val_accuracy"], record["epoch"]))
            assert summary["best_epoch"] == kept["epoch"]
            assert summary["best_val_accuracy"] == kept["val_accuracy"]
            assert files[f"metrics/{split}.json"]["data"][model]["best_epoch"] == kept["epoch"]
            assert files[f"metrics/{split}.json"]["data"][model]["best_val_accuracy"] == round(kept["val_accuracy"], 2)
