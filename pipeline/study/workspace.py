"""Scratch workspaces: folders that look like the repository to a stage.

A workspace holds ``pipeline`` and ``stages`` linked from a checkout, its own ``params.yaml``,
and input files linked from elsewhere (a DVC project's caches), so a stage runs there with
exactly the command dvc.yaml gives it (paths included) and never touches the repository's DVC
outputs. The study's final runs and the speed benchmarks run stages this way. A workspace is
scratch: nothing in it is ever looked up to skip work (the study's run record does that).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pipeline.study.errors import StudyError

REPO = Path(__file__).resolve().parents[2]


def _yaml(path: Path) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(Path(path).read_text())


def data_paths(dvc_yaml: Path | None = None) -> dict[str, str]:
    """dvc.yaml's ``paths`` variables: where the stages write the manifest and the caches."""
    variables = _yaml(dvc_yaml or REPO / "dvc.yaml").get("vars", [])
    return next((entry["paths"] for entry in variables if isinstance(entry, dict) and "paths" in entry), {})


def make_workspace(root: Path, params: dict, links: dict[str, Path], code: Path = REPO) -> Path:
    """(Re)create ``root`` with ``params.yaml`` and ``links`` (relative path -> source file);
    ``pipeline`` and ``stages`` link to ``code`` (this repository, or a pinned clone of it)."""
    from ruamel.yaml import YAML

    root.mkdir(parents=True, exist_ok=True)
    for name in ("pipeline", "stages"):
        if not (root / name).exists():
            (root / name).symlink_to(code / name)
    for relative, source in links.items():
        if not Path(source).exists():
            raise StudyError(f"{source} is missing (an input of the workspace {root})")
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
    definition = _yaml(dvc_yaml or REPO / "dvc.yaml")
    context = dict(params if params is not None else _yaml(REPO / "params.yaml"))
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
    repository's; plus ``arguments``); return its wall time in seconds. A failing stage raises
    ``StudyError`` with its last error lines."""
    params = _yaml(root / "params.yaml")
    command = [*dvc_command(stage, item, params, dvc_yaml=dvc_yaml, leave_out=leave_out), "--no-progress", *arguments]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(command[1:])}  ({seconds:.1f} s)\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise StudyError(f"`{' '.join(command[1:])}` failed in {root}:\n{done.stderr[-3000:]}")
    return seconds
