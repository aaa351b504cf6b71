"""Scratch workspaces for benchmarks that run the pipeline's stages many times.

A workspace is a folder that looks like the repository to a stage: ``pipeline`` and
``stages`` linked from the repository, its own ``params.yaml``, and input files linked from
another workspace, so variants share the preprocessed caches and never touch the
repository's DVC outputs. Stages run with exactly the command dvc.yaml gives them (paths
included), so a benchmark has no code path of its own.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]


# The tiny configuration of the test suite's DVC project (seconds per stage on a CPU); the GPU
# smoke run (benchmarks.gpu) trains on it too.
TINY = {
    "synthetic": {
        "num_subjects": 4, "trials": 1, "num_scenes": 2, "num_sessions": 2,
        "views": [{"azimuth": 0, "distance": 4.0}, {"azimuth": 90, "distance": 6.0}],
        "classes": ["right hand wave", "squat", "right arm swipe to the left"],
        "video_size": 64, "workers": 1,
    },
    "splits": {"protocols": ["cross_subject", "cross_view"]},
    "frames": {"per_video": 4, "size": 16, "workers": 1},
    "gaf": {"image_size": 32},
    "teacher": {"width_mult": 0.125, "spamfm_reduction": 2, "epochs": 2, "batch_size": 4},
    "student": {"weights": None, "num_segments": 2, "epochs": 2, "batch_size": 4},
    "distill": {"layer_pairs": [["conv3", "stage5"]]},
    "train": {"threads": 1},
}


def deep_update(target: dict, update: dict) -> dict:
    """Merge ``update`` into ``target`` key by key, nested dicts too."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = value
    return target


def override(params: dict, assignment: str) -> dict:
    """Apply ``key.sub=value`` (value parsed as YAML) to ``params`` in place."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"error: override {assignment!r} is not key=value")
    target = params
    *parents, leaf = key.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = YAML(typ="safe").load(value)
    return params


def with_overrides(params: dict, assignments: list[str]) -> dict:
    params = copy.deepcopy(params)
    for assignment in assignments:
        override(params, assignment)
    return params


def fingerprint(*values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Settings that change how fast a stage runs, never what it computes (dvc.yaml leaves them out
# of every stage's params, so DVC reruns nothing when they change).
SPEED_SETTINGS = ("train.threads", "train.workers", "train.cache_in_memory", "frames.workers", "gaf.batch_size",
                  "synthetic.workers")


def results_params(params: dict) -> dict:
    """``params`` without its speed settings: what a cached result is keyed on, so a new speed
    setting (or a changed default of one) does not throw away hours of finished runs."""
    params = copy.deepcopy(params)
    for key in SPEED_SETTINGS:
        *parents, leaf = key.split(".")
        section = params
        for parent in parents:
            section = section.get(parent, {}) if isinstance(section, dict) else {}
        if isinstance(section, dict):
            section.pop(leaf, None)
    return params


def make_workspace(root: Path, params: dict, links: dict[str, Path], code: Path = REPO) -> Path:
    """(Re)create ``root`` with ``params.yaml`` and ``links`` (relative path -> source file);
    ``pipeline`` and ``stages`` link to ``code`` (this repository, or a pinned clone of it)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("pipeline", "stages"):
        if not (root / name).exists():
            (root / name).symlink_to(code / name)
    for relative, source in links.items():
        if not Path(source).exists():
            raise SystemExit(f"error: {source} is missing")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(Path(source).resolve())
    with open(root / "params.yaml", "w") as handle:
        YAML().dump(params, handle)
    return root


def _lookup(context: dict, dotted: str):
    value = context
    for part in dotted.split("."):
        value = value[part]
    return value


def dvc_command(stage: str, item: str | None = None, params: dict | None = None, dvc_yaml: Path | None = None,
                leave_out: tuple[str, ...] = ()) -> list[str]:
    """The argv dvc.yaml gives ``stage`` (``item`` for a foreach stage), interpolated with
    dvc.yaml's vars and ``params``, ``python`` replaced by this interpreter. ``leave_out``
    drops options and their values (e.g. ``--student`` to evaluate fewer models)."""
    yaml = YAML(typ="safe", pure=True)
    definition = yaml.load((dvc_yaml or REPO / "dvc.yaml").read_text())
    context = dict(params if params is not None else yaml.load((REPO / "params.yaml").read_text()))
    for entry in definition.get("vars", []):
        if isinstance(entry, dict):
            context.update(entry)
    body = definition["stages"][stage]
    if "foreach" in body:
        if item is None:
            raise ValueError(f"stage {stage!r} is a foreach stage: give the item (a split)")
        body, context = body["do"], {**context, "item": item}
    command = re.sub(r"\$\{([^}]+)\}", lambda match: str(_lookup(context, match.group(1).strip())), body["cmd"])
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    for option in leave_out:
        if option in argv:
            at = argv.index(option)
            del argv[at : at + 2]
    return argv


def run_stage(root: Path, stage: str, *arguments: str, item: str | None = None, leave_out: tuple[str, ...] = (),
              log: Path | None = None, dvc_yaml: Path | None = None) -> float:
    """Run a stage in a workspace with its dvc.yaml command (``dvc_yaml``, default this
    repository's; plus ``arguments``); return its wall time in seconds. Exits with the
    stage's last error lines when it fails."""
    params = YAML(typ="safe", pure=True).load((root / "params.yaml").read_text())
    command = [*dvc_command(stage, item, params, dvc_yaml=dvc_yaml, leave_out=leave_out), "--no-progress", *arguments]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(command[1:])}  ({seconds:.1f} s)\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise SystemExit(f"error: `{' '.join(command[1:])}` failed in {root}:\n{done.stderr[-3000:]}")
    return seconds


def finished_run(folder: Path, key: str) -> dict | None:
    """The result a benchmark saved in ``folder`` for the run fingerprinted ``key``, if any."""
    result = folder / "result.json"
    if result.exists():
        saved = json.loads(result.read_text())
        if saved.get("fingerprint") == key:
            return saved
    return None


def summary(values: list[float]) -> dict:
    """Mean, standard deviation (0 for one run) and the runs, rounded for results files."""
    import statistics

    return {"mean": round(statistics.mean(values), 2),
            "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0, "runs": values}


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    # Results files are what a benchmark rewrites: they do not make the code dirty.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed)}


def machine() -> dict:
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def add_utd_mhad_arguments(parser) -> None:
    """The UTD-MHAD drivers' shared options: the dataset folder and the params preset."""
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "utd_mhad"),
                        help="UTD-MHAD folder in its native layout (Inertial/, Depth/)")
    parser.add_argument("--params", default=str(REPO / "presets" / "utd_mhad_depth.yaml"), help="params preset")


def provenance(result: dict, timing: str) -> list[str]:
    """A results table's closing lines: the machine with ``timing``, then the command and commit."""
    machine_ = result["machine"]
    return ["", f"Machine: {machine_['cpu']}, {machine_['cores']} cores, GPU: {machine_['gpu'] or 'none'}. {timing}",
            f"Command: `{result['command']}` at commit `{result['git']['commit'][:12]}`"
            + (" (uncommitted changes)" if result["git"]["dirty"] else "") + "."]
