"""Scratch workspaces: folders that look like the repository to a stage.

A workspace holds ``pipeline`` and ``stages`` linked from a checkout, its own ``params.yaml``,
and input files linked from elsewhere (a DVC project's caches), so a stage runs there with
exactly the command dvc.yaml gives it (paths included) and never touches the repository's DVC
outputs. The study's final runs and the speed benchmarks run stages this way. A workspace is
scratch: nothing in it is ever looked up to skip work (the study's run record does that).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from pipeline.errors import ProjectError
from pipeline.project.dvc_yaml import REPO, dvc_command, read_yaml


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
            raise ProjectError(f"{source} is missing (an input of the workspace {root})")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(Path(source).resolve())
    with open(root / "params.yaml", "w") as handle:
        YAML().dump(params, handle)
    return root


def run_stage(root: Path, stage: str, *arguments: str, item: str | None = None, leave_out: tuple[str, ...] = (),
              log: Path | None = None, dvc_yaml: Path | None = None) -> float:
    """Run a stage in a workspace with its dvc.yaml command (``dvc_yaml``, default this
    repository's; plus ``arguments``); return its wall time in seconds. A failing stage raises
    ``ProjectError`` with its last error lines."""
    params = read_yaml(root / "params.yaml")
    command = [*dvc_command(stage, item, params, dvc_yaml=dvc_yaml, leave_out=leave_out), "--no-progress", *arguments]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(command[1:])}  ({seconds:.1f} s)\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise ProjectError(f"`{' '.join(command[1:])}` failed in {root}:\n{done.stderr[-3000:]}")
    return seconds
