"""A complete params file from the schema's defaults, a preset and ``key=value`` overrides.

Every key is written by hand once, in the schema (``pipeline/params.py``): its default, range
and help. A preset (``presets/<dataset>.yaml``) holds only what differs for its dataset;
composing it onto the defaults gives the complete mapping that ``params.yaml`` holds and DVC
reads as it is (``dvc repro``, ``dvc exp run -S alpha=0.1``). A complete params file composes to
itself, so any params file is also a preset. Values keep the type they are written with (``1000``
stays an int where the schema reads a float): a composed file is the file it replaces, byte for
byte where nothing differs.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

from pipeline.errors import ParamsError
from pipeline.io import read_yaml_file
from pipeline.params import SCHEMA, validate_params


class OverrideError(ValueError):
    """An override that is not ``key=value``."""


def parse_value(text: str):
    """An override's value, parsed as YAML (``1`` an int, ``[a, b]`` a list, ``null`` None)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def override(params: dict, assignment: str) -> dict:
    """Apply ``key.sub=value`` (value parsed as YAML, as ``dvc exp run -S`` takes it) in place."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise OverrideError(f"override {assignment!r} is not key=value")
    target = params
    *parents, leaf = key.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = parse_value(value)
    return params


def with_overrides(params: dict, assignments: Iterable[str]) -> dict:
    """A copy of ``params`` with ``assignments`` applied in order (a later one wins)."""
    params = copy.deepcopy(params)
    for assignment in assignments:
        override(params, assignment)
    return params


def deep_update(target: dict, update: dict) -> dict:
    """Merge ``update`` into ``target`` key by key, nested dicts too."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def defaults(schema: dict = SCHEMA) -> dict:
    """Every key at its schema default, as written there (not coerced)."""
    return {name: defaults(spec) if isinstance(spec, dict) else copy.deepcopy(spec.default)
            for name, spec in schema.items()}


def read_preset(path: str | Path) -> dict:
    """A preset's mapping; errors name the file."""
    raw = read_yaml_file(path, "preset", ParamsError)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of params keys, got {type(raw).__name__}")
    return raw


def compose(preset: str | Path | None = None, overrides: Iterable[str] = ()) -> dict:
    """The defaults, then ``preset``'s keys, then ``overrides``: a complete params mapping,
    validated (errors name the preset or the override)."""
    params = defaults()
    if preset is not None:
        deep_update(params, read_preset(preset))
        try:
            validate_params(params)
        except ParamsError as error:
            raise ParamsError(f"{preset}: {error}") from None
    overrides = list(overrides)
    try:
        params = with_overrides(params, overrides)
    except OverrideError as error:
        raise ParamsError(str(error)) from None
    if overrides:
        try:
            validate_params(params)
        except ParamsError as error:
            raise ParamsError(f"-S {' -S '.join(overrides)}: {error}") from None
    return params


def schema_leaves(schema: dict = SCHEMA, prefix: str = ""):
    """(dotted key, Field) of every leaf, in the schema's order."""
    for name, spec in schema.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(spec, dict):
            yield from schema_leaves(spec, key)
        else:
            yield key, spec

