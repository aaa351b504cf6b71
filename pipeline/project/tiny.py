"""The tiny configuration (``tiny.yaml``, a params overlay: every stage in seconds on a CPU),
as a mapping to merge onto a params file:

    params = deep_update(load_yaml("params.yaml"), copy.deepcopy(TINY))
"""
from __future__ import annotations

from pathlib import Path

from pipeline.params_compose import read_preset

TINY_PRESET = Path(__file__).with_name("tiny.yaml")
TINY = read_preset(TINY_PRESET)
