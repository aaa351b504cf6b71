"""pipeline/study/tiny.py: the tiny configuration is a valid overlay on params.yaml."""
from __future__ import annotations

import copy

from pipeline.params import validate_params
from pipeline.study.tiny import TINY, deep_update
from tests.conftest import REPO


def test_tiny_overlays_params_yaml_into_valid_params():
    from ruamel.yaml import YAML

    params = deep_update(YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text()), copy.deepcopy(TINY))
    validated = validate_params(params)
    assert validated["frames"]["size"] == 16 and validated["student"]["epochs"] == 2
    assert validated["synthetic"]["num_subjects"] == 4
