"""Run keys: what a study's cached result is keyed on.

A run's result is keyed on its params without the speed settings (``results_params``): a new
speed setting, or a changed default of one, does not throw away finished runs. Overrides
(``key.sub=value``) are ``pipeline.params_compose``'s.
"""
from __future__ import annotations

import copy

from pipeline.params_compose import schema_leaves

# Settings that change how fast a stage runs, never what it computes (the schema marks them;
# dvc.yaml leaves them out of every stage's params, so DVC reruns nothing when they change).
SPEED_SETTINGS = tuple(key for key, field in schema_leaves() if field.speed_only)


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
