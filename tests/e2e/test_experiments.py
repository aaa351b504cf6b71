"""DVC experiments on the reproduced tiny project: a queued experiment with set params, shown by
`dvc exp show`."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import clone_project, run


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
def test_experiments_with_set_params_and_a_queue(project, tmp_path):
    clone = clone_project(project, tmp_path / "clone")
    # The distillation levers of docs/method.md §5 and §6b set as a user would, queued; none of
    # them retrains a teacher (cross-fitted teachers: test_cross_fitting.py). One experiment: a
    # second would test DVC's queue, not our wiring, at a minute of the suite.
    run(["dvc", "exp", "run", "--queue", "-n", "levers", "-S", "gamma=0.5", "-S", "alpha=0.1",
         "-S", "distill.importance=channel", "-S", "distill.align=temporal", "-S", "temperature=auto",
         "-S", "splits.protocols=[cross_subject]"], clone)  # one protocol: the wiring is the same for both
    run(["dvc", "queue", "start"], clone)
    # Wait for the experiment's git ref (a git call takes milliseconds; `dvc queue status`
    # takes 3 s of CPU, which polling would take from the experiments), asking DVC itself only
    # now and then, in case one failed and will never have a ref.
    deadline, asked = time.time() + 600, time.time()
    while time.time() < deadline:
        refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], clone).stdout.split()
        if "levers" in {ref.rsplit("/", 1)[-1] for ref in refs}:
            break
        if time.time() - asked > 60:
            asked = time.time()
            status = run(["dvc", "queue", "status"], clone).stdout
            if "Queued" not in status and "Running" not in status:
                break
        time.sleep(1)
    for _ in range(30):  # the last task may be marked done a moment after its ref is written
        status = run(["dvc", "queue", "status"], clone).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    assert "Failed" not in status and "Queued" not in status and "Running" not in status, status
    experiments = experiment_metrics(clone)
    levers = experiments["levers"]["params"]
    assert levers["alpha"] == 0.1 and levers["temperature"] == "auto"
    assert levers["distill"]["align"] == "temporal" and levers["distill"]["importance"] == "channel"
    assert levers["gamma"] == 0.5
    for experiment in experiments.values():
        metrics = experiment["metrics"]["metrics/cross_subject.json"]["data"]
        assert 0 <= metrics["student"]["accuracy"] <= 100
    shown = run(["dvc", "exp", "show", "--no-pager", "--csv"], clone).stdout
    assert "student.accuracy" in shown and "cross_subject.student.accuracy" not in shown
    assert "student.best_val_accuracy" in shown  # what a grid of experiments is ranked by
