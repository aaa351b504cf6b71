"""Training and evaluation: sampling, metrics, DVC experiments, resume after a kill, DDP."""
from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pipeline.data import EpochShuffle, segment_indices
from pipeline.metrics import classification_metrics
from tests.conftest import copy_project, run, stage_command, write_params

SPLITS = ["cross_subject", "cross_view"]


# ---------------------------------------------------------------------------- units
def test_segment_indices_by_hand():
    assert segment_indices(16, 4, "centre").tolist() == [2, 6, 10, 14]
    assert segment_indices(3, 4, "centre").tolist() == [0, 1, 1, 2]  # shorter than T: repeats


@given(st.integers(1, 500), st.integers(1, 32), st.integers(0, 2**31 - 1))
def test_random_segments_fall_in_their_segment(num_frames, num_segments, seed):
    indices = segment_indices(num_frames, num_segments, "random", torch.Generator().manual_seed(seed))
    bounds = torch.arange(num_segments + 1, dtype=torch.float64) * num_frames / num_segments
    assert ((indices >= bounds[:-1].floor()) & (indices <= torch.clamp(bounds[1:].ceil() - 1, max=num_frames - 1))).all()
    assert torch.all(indices[1:] >= indices[:-1])


def test_epoch_shuffle_depends_on_seed_and_epoch_and_splits_ranks():
    sampler = EpochShuffle(10, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(list(sampler)) == list(range(10))
    sampler.set_epoch(0)
    assert list(sampler) == first  # a function of (seed, epoch), not of history
    ranks = [EpochShuffle(10, 3, rank=r, world_size=2) for r in (0, 1)]
    assert sorted(list(ranks[0]) + list(ranks[1])) == list(range(10)) and len(ranks[0]) == 5


def test_classification_metrics_by_hand():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"])
    assert metrics["accuracy"] == 75.0
    # F1: class a 2*1*0.5/1.5 = 0.667, class b 2*(2/3)*1/(5/3) = 0.8; c is absent from the labels
    assert metrics["f_measure"] == pytest.approx(73.33, abs=0.01)
    assert metrics["per_class_accuracy"] == {"a": 50.0, "b": 100.0}
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]


# ---------------------------------------------------------------------------- the DAG
@pytest.mark.slow
def test_metrics_show_compares_models_per_split(project):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    files = next(iter(shown.values()))["data"]
    assert set(files) == {f"metrics/{split}.json" for split in SPLITS}  # one row per split
    for split in SPLITS:
        metrics = files[f"metrics/{split}.json"]["data"]
        assert set(metrics) == {"teachers", "baseline", "student"}
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


def experiment_metrics(project: Path) -> dict:
    """name -> params and metrics of each experiment in `dvc exp show --json`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    found = {}
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                data = revision.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                found[revision.get("name") or data.get("name")] = {"params": params, "metrics": data.get("metrics", {})}
    return found


@pytest.mark.slow
def test_experiments_with_set_params_and_a_queue(project):
    # A queue of two: the distillation levers of docs/method.md §5 and §6b set as a user would on
    # one, a second value of gamma on the other.
    run(["dvc", "exp", "run", "--queue", "-n", "levers", "-S", "gamma=0", "-S", "alpha=0.1",
         "-S", "distill.importance=channel", "-S", "distill.align=temporal", "-S", "teacher_outputs.folds=2",
         "-S", "temperature=auto"], project)
    run(["dvc", "exp", "run", "--queue", "-n", "gamma-half", "-S", "gamma=0.5"], project)
    run(["dvc", "queue", "start"], project)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], project).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status
    experiments = experiment_metrics(project)
    levers = experiments["levers"]["params"]
    assert levers["alpha"] == 0.1 and levers["temperature"] == "auto" and levers["teacher_outputs"]["folds"] == 2
    assert levers["distill"]["align"] == "temporal" and levers["distill"]["importance"] == "channel"
    gammas = sorted(e["params"]["gamma"] for e in experiments.values() if e["params"].get("gamma") in (0, 0.5))
    assert gammas == [0, 0.5]
    for experiment in experiments.values():
        metrics = experiment["metrics"]["metrics/cross_subject.json"]["data"]
        assert 0 <= metrics["student"]["accuracy"] <= 100
    shown = run(["dvc", "exp", "show", "--no-pager", "--csv"], project).stdout
    assert "student.accuracy" in shown and "cross_subject.student.accuracy" not in shown
    assert "student.best_val_accuracy" in shown  # what a grid of experiments is ranked by


# ---------------------------------------------------------------------------- resume and DDP
def stage(copy: Path, split: str, method: str) -> list[str]:
    """The student stage's dvc.yaml command (baseline or distill) with the long.yaml params."""
    return stage_command(copy, method, split, "--no-progress", params="long.yaml")


@pytest.mark.slow
def test_killed_student_stage_resumes_to_the_same_result(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"student": {"epochs": 12}})
    checkpoint = copy / "checkpoints/cross_subject/student.pt"
    model = copy / "models/cross_subject/student.pt"
    command = stage(copy, "cross_subject", "distill")

    checkpoint.unlink(missing_ok=True)
    run(command, copy)
    uninterrupted = torch.load(model, weights_only=False)

    checkpoint.unlink()
    model.unlink()
    process = subprocess.Popen(command, cwd=copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            if checkpoint.exists() and torch.load(checkpoint, weights_only=False)["epoch"] >= 1:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, "the stage finished before it could be interrupted"
    interrupted_at = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 1 <= interrupted_at < 12 and not model.exists()

    resumed = run(command, copy)
    assert f"resuming after epoch {interrupted_at}" in resumed.stdout
    final = torch.load(model, weights_only=False)
    assert final["history"] == uninterrupted["history"] and final["best_epoch"] == uninterrupted["best_epoch"]
    for key, value in uninterrupted["state"].items():
        assert torch.equal(final["state"][key], value), key


@pytest.mark.slow
def test_stale_checkpoint_of_other_params_is_ignored(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"student": {"lr": 0.002}})
    result = run(stage(copy, "cross_subject", "baseline"), copy)
    assert "resuming" not in result.stdout  # the persisted checkpoint belongs to other params


@pytest.mark.slow
def test_streamed_distillation_trains_the_same_student_as_in_memory(project, tmp_path):
    """train.cache_in_memory: false with two DataLoader workers reproduces the in-memory,
    main-process run of the project (same seed, same params otherwise) weight for weight."""
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"train": {"cache_in_memory": False, "workers": 2}})
    (copy / "checkpoints/cross_subject/student.pt").unlink()  # speed settings alone would resume it
    run(stage(copy, "cross_subject", "distill"), copy, timeout=600)
    reference = torch.load(project / "models/cross_subject/student.pt", weights_only=False)
    streamed = torch.load(copy / "models/cross_subject/student.pt", weights_only=False)
    assert streamed["history"] == reference["history"] and streamed["best_epoch"] == reference["best_epoch"]
    assert all(torch.equal(streamed["state"][k], v) for k, v in reference["state"].items())


def test_a_feature_map_objective_loads_the_teachers_tap_features_from_the_cache(project, tmp_path):
    """The default objective leaves the cached tap features on disk; FitNet, which reads them,
    loads them and trains on them (its term in the history, finite and non-zero)."""
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    write_params(copy / "long.yaml", {"distill": {"method": "fitnet"}, "student": {"epochs": 1}})
    (copy / "checkpoints/cross_subject/student.pt").unlink()
    run(stage(copy, "cross_subject", "distill"), copy, timeout=600)
    history = torch.load(copy / "models/cross_subject/student.pt", weights_only=False)["history"]
    assert len(history) == 1 and math.isfinite(history[0]["train_fitnet"]) and history[0]["train_fitnet"] > 0


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_writes_the_same_format(project, tmp_path):
    copy = copy_project(project, tmp_path / "copy")
    (copy / "long.yaml").write_text((copy / "params.yaml").read_text())
    # Streamed from the caches through a worker per rank: DDP keeps working with streaming.
    write_params(copy / "long.yaml", {"student": {"epochs": 1}, "train": {"cache_in_memory": False, "workers": 1}})
    reference = torch.load(project / "models/cross_subject/baseline.pt", weights_only=False)
    (copy / "checkpoints/cross_subject/baseline.pt").unlink()
    command = stage(copy, "cross_subject", "baseline")
    assert command[1:3] == ["-m", "stages.student"]
    result = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *command[1:]],
                 copy, timeout=600)
    assert result.stdout.count("baseline[cross_subject] epoch 1/1") == 1  # only rank 0 reports
    saved = torch.load(copy / "models/cross_subject/baseline.pt", weights_only=False)
    assert set(saved) == set(reference) and set(saved["state"]) == set(reference["state"])
    assert len(saved["history"]) == 1
    checkpoint = torch.load(copy / "checkpoints/cross_subject/baseline.pt", weights_only=False)
    assert set(checkpoint["model"]) == {f"student.{k}" for k in reference["state"]} | {"class_embeddings", "student_black"}
