"""dvc.yaml is the one place that names a stage's files: every path a stage's command reads
is one of its dependencies, every path it writes is one of its outputs, and the scripts hold
no paths of their own."""
from __future__ import annotations

import shlex

import pytest

from pipeline.project import dvc_yaml
from pipeline.workflow.student_training import BASELINE_PARAMS, DISTILL_PARAMS
from pipeline.workflow.teacher_training import FOLD_PARAMS, TEACHER_PARAMS
from tests.conftest import REPO

# Command options that name what a stage writes; every other path option is read.
WRITES = {"--output", "--report", "--preview", "--model", "--checkpoint", "--checkpoints", "--curves", "--summary", "--metrics",
          "--details", "--confusion-dir", "--manifest@manifest", "--classes@manifest", "--splits@manifest"}


def resolved_stages() -> dict[str, dict]:
    """Every stage of dvc.yaml, foreach stages for one split, ``${...}`` resolved."""
    return dvc_yaml.resolved_stages("cross_subject")


def declared(entries) -> set[str]:
    return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries or []}


@pytest.mark.parametrize("name", list(resolved_stages()))
def test_every_path_a_stage_reads_or_writes_is_declared(name):
    stage = resolved_stages()[name]
    argv = shlex.split(stage["cmd"])
    deps = declared(stage.get("deps"))
    outs = declared(stage.get("outs")) | declared(stage.get("metrics")) | declared(stage.get("plots"))
    path_options = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)
                    if argv[i].startswith("--") and "/" in argv[i + 1]]
    assert path_options, f"{name}: no path arguments in {stage['cmd']!r}"
    for option, path in path_options:
        written = option in WRITES or f"{option}@{name}" in WRITES
        if option == "--confusion-dir":
            assert any(out.startswith(path + "/confusion_") for out in outs), (name, option)
        elif option == "--curves":
            assert f"{path}/plots/metrics" in outs, (name, option)
        elif written:
            assert path in outs, f"{name}: {option} {path} is written but not an output"
        else:
            assert path in deps, f"{name}: {option} {path} is read but not a dependency"
    # The stage's own script and the library it runs are dependencies too.
    assert f"stages/{argv[2].split('.')[1]}.py" in deps


def test_teacher_outputs_and_evaluate_declare_the_inputs_they_read():
    stages = resolved_stages()
    for name in ("teacher_outputs", "evaluate"):
        deps = declared(stages[name]["deps"])
        assert {"data/manifest.csv", "data/splits.csv", "data/class_embeddings.h5"} <= deps, name
    assert "pipeline/distill.py" in declared(stages["teacher_outputs"]["deps"])  # holds the ablation constant
    assert "pipeline/losses/gsdm_channel.py" in declared(stages["teacher_outputs"]["deps"])  # computes the maps


def test_loss_weights_and_method_never_recompute_the_teacher_outputs():
    """A grid over alpha/beta/gamma or distill.method reruns only the student stages."""
    caches = {name: stage for name, stage in resolved_stages().items() if name.startswith("teacher_outputs")}
    assert caches
    for name, stage in caches.items():
        assert not {"alpha", "beta", "gamma", "temperature", "distill.method", "distill.pairing"} & \
            set(stage["params"]), name


def test_speed_settings_retrain_nothing():
    from pipeline.study.overrides import SPEED_SETTINGS

    for name, stage in resolved_stages().items():
        whole_files = [entry for entry in stage.get("params", []) if isinstance(entry, dict)]
        # only the params check lists the file whole; its output never changes, so a speed
        # setting reruns the check and nothing after it
        assert not whole_files or (name == "check_params" and whole_files == [{"params.yaml": None}]), name
        params = {entry for entry in stage.get("params", []) if isinstance(entry, str)}
        assert not {"train", *SPEED_SETTINGS} & params, name


def test_scripts_hold_no_data_paths():
    for script in (REPO / "stages").glob("*.py"):
        text = script.read_text()
        for constant in ("data/", "models/", "checkpoints/", "metrics/", "dvclive/", "evaluation/"):
            assert f'"{constant}' not in text, f"{script.name} names a path ({constant}); dvc.yaml should"
    library = "\n".join(path.read_text() for path in (REPO / "pipeline").rglob("*.py"))
    for constant in ('"data/manifest.csv"', '"data/frames.h5"', '"data/gaf.h5"', '"data/splits.csv"'):
        assert constant not in library


def test_bytecode_caches_never_change_a_code_folders_hash():
    """A stage's code folders (pipeline/losses, pipeline/models, ...) must hash the same with and
    without Python's __pycache__: each queued `dvc exp run` starts from a fresh copy without it,
    and would otherwise rerun every stage, teachers included."""
    import subprocess
    import sys

    paths = ["pipeline/losses/__pycache__/sakdn.cpython-311.pyc", "stages/__pycache__/student.cpython-311.pyc",
             "pipeline/losses/sakdn.py"]
    ignored = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", *paths], cwd=REPO, capture_output=True,
                             text=True)
    assert ignored.stdout.split() == paths[:2]  # the bytecode, never the source


def dvc_stage_params(stage: str) -> tuple[str, ...]:
    stages = dvc_yaml.stages()
    return tuple(stages[stage]["do"]["params"])


@pytest.mark.parametrize("stage,keys", [("teachers", TEACHER_PARAMS), ("fold_teachers", FOLD_PARAMS),
                                        ("baseline", BASELINE_PARAMS), ("distill", DISTILL_PARAMS)])
def test_fingerprinted_params_are_the_ones_dvc_tracks(stage, keys):
    # A key DVC reruns the stage for but the checkpoint ignores would resume a stale run;
    # the opposite would restart training for nothing.
    assert sorted(dvc_stage_params(stage)) == sorted(keys)
    assert "train.threads" not in keys and "train.workers" not in keys
