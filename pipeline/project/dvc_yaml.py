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


def resolved_stages(item: str | None = None, dvc_yaml: Path | None = None, params: dict | None = None,
                    only: str | None = None) -> dict:
    """dvc.yaml's stages (or the stage ``only``) with every ``${...}`` resolved as DVC resolves
    it: from dvc.yaml's vars, ``params`` (default: the params.yaml beside it) and, in a
    ``foreach`` stage's body, ``item`` (without an item, foreach stages are left out)."""
    dvc_yaml = Path(dvc_yaml or REPO / "dvc.yaml")
    definition = read_yaml(dvc_yaml)
    context = dict(params if params is not None else read_yaml(dvc_yaml.parent / "params.yaml"))
    for entry in definition.get("vars", []):
        if isinstance(entry, dict):
            context.update(entry)

    def resolve(value, scope: dict):
        if isinstance(value, str):
            return re.sub(r"\$\{([^}]+)\}", lambda match: str(_lookup(scope, match.group(1).strip())), value)
        if isinstance(value, list):
            return [resolve(v, scope) for v in value]
        if isinstance(value, dict):
            return {resolve(k, scope): resolve(v, scope) for k, v in value.items()}
        return value

    found = {}
    for name, body in definition["stages"].items():
        if only is not None and name != only:
            continue
        if "foreach" not in body:
            found[name] = resolve(body, context)
        elif item is not None:
            found[name] = resolve(body["do"], {**context, "item": item})
    return found


def stage_files(item: str, dvc_yaml: Path | None = None, params: dict | None = None) -> dict[str, dict]:
    """Per stage (foreach stages for ``item``): its params ``keys`` (a ``{file: null}`` entry,
    the whole file, names none), ``deps``, ``outs`` and ``cached`` (the outs in DVC's cache)."""
    found = {}
    for name, body in resolved_stages(item, dvc_yaml, params).items():
        keys = []
        for entry in body.get("params") or []:
            keys += [entry] if isinstance(entry, str) else [key for listed in entry.values() for key in (listed or [])]
        outs = [(out, {}) if isinstance(out, str) else next(iter(out.items())) for out in body.get("outs") or []]
        found[name] = {"keys": keys, "deps": list(body.get("deps") or []), "outs": [path for path, _ in outs],
                       "cached": [path for path, options in outs if (options or {}).get("cache", True)]}
    return found


def dvc_command(stage: str, item: str | None = None, params: dict | None = None, dvc_yaml: Path | None = None,
                leave_out: tuple[str, ...] = ()) -> list[str]:
    """The argv dvc.yaml gives ``stage`` (``item`` for a foreach stage), interpolated with
    dvc.yaml's vars and ``params`` (default: the repository's params.yaml), ``python`` replaced
    by this interpreter. ``leave_out`` drops options and their values (e.g. ``--student`` to
    evaluate fewer models)."""
    if item is None and "foreach" in stages(dvc_yaml)[stage]:
        raise ValueError(f"stage {stage!r} is a foreach stage: give the item (a split)")
    params = params if params is not None else read_yaml(REPO / "params.yaml")
    argv = shlex.split(resolved_stages(item, dvc_yaml, params, only=stage)[stage]["cmd"])
    if argv[0] == "python":
        argv[0] = sys.executable
    for option in leave_out:
        if option in argv:
            at = argv.index(option)
            del argv[at : at + 2]
    return argv
