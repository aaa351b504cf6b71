"""pipeline/study/overrides.py: the params a result is keyed on (without the speed settings)."""
from __future__ import annotations

from pipeline.params_compose import with_overrides
from pipeline.project.provenance import fingerprint
from pipeline.study.overrides import SPEED_SETTINGS, results_params


def test_results_are_keyed_without_speed_settings():
    params = {"seed": 0, "train": {"workers": 0, "cache_in_memory": "auto", "device": "cpu"}, "gaf": {"batch_size": 8}}
    faster = with_overrides(params, ["train.workers=4", "train.cache_in_memory=false", "gaf.batch_size=64"])
    assert fingerprint(results_params(params)) == fingerprint(results_params(faster))
    assert results_params(params) == {"seed": 0, "train": {"device": "cpu"}, "gaf": {}}
    assert params["train"]["workers"] == 0  # the caller's params are left as they were
    other_device = with_overrides(params, ["train.device=cuda"])
    assert fingerprint(results_params(params)) != fingerprint(results_params(other_device))
    assert set(SPEED_SETTINGS) == {"train.threads", "train.workers", "train.cache_in_memory", "frames.workers",
                                   "gaf.batch_size", "synthetic.workers"}  # the schema's speed_only keys
    assert results_params({"seed": 1}) == {"seed": 1}  # sections that are not there: nothing to drop


def test_fingerprints_ignore_key_order_and_are_short():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1}) != fingerprint({"a": 1, "b": 3})
    assert len(fingerprint("x")) == 16
