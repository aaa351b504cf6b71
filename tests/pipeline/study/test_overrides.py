"""pipeline/study/overrides.py: `key.sub=value` overrides parsed as YAML, deep merges, and the
params a result is keyed on (without the speed settings)."""
from __future__ import annotations

import pytest

from pipeline.study.overrides import (
    SPEED_SETTINGS, OverrideError, deep_update, fingerprint, override, parse_value, results_params, with_overrides,
)


def test_values_are_parsed_as_yaml():
    assert parse_value("1") == 1 and parse_value("0.1") == 0.1 and parse_value("null") is None
    assert parse_value("[a, b]") == ["a", "b"] and parse_value("auto") == "auto" and parse_value("true") is True


def test_an_override_sets_a_nested_key_and_makes_missing_sections():
    params = {"student": {"epochs": 12}}
    assert override(params, "student.epochs=24") == {"student": {"epochs": 24}}
    assert override(params, "distill.contrastive.weight=0.1")["distill"] == {"contrastive": {"weight": 0.1}}
    for bad in ("student.epochs", "=3"):
        with pytest.raises(OverrideError, match="is not key=value"):
            override(params, bad)


def test_with_overrides_copies_and_a_later_override_wins():
    params = {"alpha": 0.1, "student": {"epochs": 12}}
    changed = with_overrides(params, ["alpha=1", "student.epochs=6", "alpha=0.5"])
    assert changed == {"alpha": 0.5, "student": {"epochs": 6}}
    assert params == {"alpha": 0.1, "student": {"epochs": 12}}  # the caller's params are left as they were


def test_deep_update_merges_nested_sections():
    target = {"a": {"b": 1, "c": 2}, "d": 3}
    assert deep_update(target, {"a": {"b": 5}, "e": {"f": 1}}) == {"a": {"b": 5, "c": 2}, "d": 3, "e": {"f": 1}}
    assert deep_update({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}  # a section replaces a scalar


def test_results_are_keyed_without_speed_settings():
    params = {"seed": 0, "train": {"workers": 0, "cache_in_memory": "auto", "device": "cpu"}, "gaf": {"batch_size": 8}}
    faster = with_overrides(params, ["train.workers=4", "train.cache_in_memory=false", "gaf.batch_size=64"])
    assert fingerprint(results_params(params)) == fingerprint(results_params(faster))
    assert results_params(params) == {"seed": 0, "train": {"device": "cpu"}, "gaf": {}}
    assert params["train"]["workers"] == 0  # the caller's params are left as they were
    other_device = with_overrides(params, ["train.device=cuda"])
    assert fingerprint(results_params(params)) != fingerprint(results_params(other_device))
    assert "train.cache_in_memory" in SPEED_SETTINGS
    assert results_params({"seed": 1}) == {"seed": 1}  # sections that are not there: nothing to drop


def test_fingerprints_ignore_key_order_and_are_short():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1}) != fingerprint({"a": 1, "b": 3})
    assert len(fingerprint("x")) == 16
