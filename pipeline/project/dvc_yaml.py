"""The one reader of ``dvc.yaml``: the DAG is where every stage's command and paths are named,
so code that runs a stage outside DVC (a study's final runs, a benchmark) reads them here."""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def read_yaml(path: Path) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(Path(path).read_text())


def stages(dvc_yaml: Path | None = None) -> dict:
    """dvc.yaml's stages by name (a ``foreach`` stage's body under ``do``)."""
    return read_yaml(dvc_yaml or REPO / "dvc.yaml")["stages"]


def data_paths(dvc_yaml: Path | None = None) -> dict[str, str]:
    """dvc.yaml's ``paths`` variables: where the stages write the manifest and the caches."""
    variables = read_yaml(dvc_yaml or REPO / "dvc.yaml").get("vars", [])
    return next((entry["paths"] for entry in variables if isinstance(entry, dict) and "paths" in entry), {})


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
    definition = read_yaml(dvc_yaml or REPO / "dvc.yaml")
    context = dict(params if params is not None else read_yaml(REPO / "params.yaml"))
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
