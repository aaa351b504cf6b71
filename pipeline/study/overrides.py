"""Params overrides (``key.sub=value``, as ``dvc exp run -S`` takes them) and run keys.

A run's result is keyed on its params without the speed settings (``results_params``): a new
speed setting, or a changed default of one, does not throw away finished runs.
"""
from __future__ import annotations

import copy
import hashlib
import json

# Settings that change how fast a stage runs, never what it computes (dvc.yaml leaves them out
# of every stage's params, so DVC reruns nothing when they change).
SPEED_SETTINGS = ("train.threads", "train.workers", "train.cache_in_memory", "frames.workers", "gaf.batch_size",
                  "synthetic.workers")


class OverrideError(ValueError):
    """An override that is not ``key=value``."""


def parse_value(text: str):
    """An override's value, parsed as YAML (``1`` an int, ``[a, b]`` a list, ``null`` None)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def override(params: dict, assignment: str) -> dict:
    """Apply ``key.sub=value`` (value parsed as YAML) to ``params`` in place."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise OverrideError(f"override {assignment!r} is not key=value")
    target = params
    *parents, leaf = key.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = parse_value(value)
    return params


def with_overrides(params: dict, assignments: list[str]) -> dict:
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
            target[key] = value
    return target


def fingerprint(*values) -> str:
    """A short digest of JSON-able values (dict key order does not matter)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def results_params(params: dict) -> dict:
    """``params`` without its speed settings: what a cached result is keyed on."""
    params = copy.deepcopy(params)
    for key in SPEED_SETTINGS:
        *parents, leaf = key.split(".")
        section = params
        for parent in parents:
            section = section.get(parent, {}) if isinstance(section, dict) else {}
        if isinstance(section, dict):
            section.pop(leaf, None)
    return params
