"""pipeline/project/tiny.py: the tiny configuration is a valid overlay, a preset like any other."""
from __future__ import annotations

import copy

from pipeline.params import validate_params
from pipeline.params_compose import compose, deep_update
from pipeline.project.tiny import TINY, TINY_PRESET
from tests.conftest import REPO


def test_tiny_overlays_params_yaml_into_valid_params():
    from ruamel.yaml import YAML

    params = deep_update(YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text()), copy.deepcopy(TINY))
    validated = validate_params(params)
    assert validated["frames"]["size"] == 16 and validated["student"]["epochs"] == 2
    assert validated["synthetic"]["num_subjects"] == 4
    assert validate_params(compose(TINY_PRESET)) == validated  # the same, composed as a preset
