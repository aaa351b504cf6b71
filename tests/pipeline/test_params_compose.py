"""pipeline/params_compose.py: overrides, the defaults, presets composed onto them."""
from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from pipeline.errors import ParamsError
from pipeline.params import validate_params
from pipeline.params_compose import (
    OverrideError, compose, deep_update, defaults, override, parse_value, read_preset, schema_leaves, with_overrides,
)
from tests.conftest import REPO

PRESETS = sorted((REPO / "presets").glob("*.yaml"))


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


def test_the_defaults_are_every_key_as_the_schema_writes_it():
    assert defaults()["frames"]["depth"]["near"] == 1000 and isinstance(defaults()["frames"]["depth"]["near"], int)
    assert validate_params(defaults()) == validate_params({})
    assert len(list(schema_leaves())) > 80


def test_a_preset_is_merged_key_by_key_onto_the_defaults(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("student:\n  epochs: 3\nframes: {depth: {far: 5000}}\n")
    params = compose(preset)
    assert params["student"]["epochs"] == 3 and params["student"]["lr"] == defaults()["student"]["lr"]
    assert params["frames"]["depth"] == {**defaults()["frames"]["depth"], "far": 5000}
    assert compose(preset, ["student.epochs=4"])["student"]["epochs"] == 4  # overrides come last


def test_a_complete_params_file_composes_to_itself():
    raw = YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text())
    assert json.dumps(compose(REPO / "params.yaml"), sort_keys=True) == json.dumps(raw, sort_keys=True)


@pytest.mark.parametrize("text, message", [
    ("student:\n  epoch: 3\n", r"mine.yaml: unknown key student.epoch"),
    ("[1, 2]\n", r"mine.yaml: expected a mapping of params keys, got list"),
    ("student: {epochs: 3\n", r"mine.yaml: not valid YAML"),
])
def test_a_bad_preset_is_an_error_naming_the_file_and_key(tmp_path, text, message):
    preset = tmp_path / "mine.yaml"
    preset.write_text(text)
    with pytest.raises(ParamsError, match=message):
        compose(preset)
    with pytest.raises(ParamsError, match="nope.yaml: preset not found"):
        read_preset(tmp_path / "nope.yaml")


def test_a_bad_override_names_itself():
    with pytest.raises(ParamsError, match=r"-S student.epochs=0: student.epochs: 0 is below the minimum 1"):
        compose(None, ["student.epochs=0"])
    with pytest.raises(ParamsError, match="is not key=value"):
        compose(None, ["student.epochs"])


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_hold_only_what_differs(preset):
    raw = read_preset(preset)
    lines = [line for line in preset.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) <= 40
    differing = []

    def walk(section, default, prefix=""):
        for key, value in section.items():
            if isinstance(value, dict):
                walk(value, default[key], f"{prefix}{key}.")
            elif json.dumps(value) == json.dumps(default[key]):
                differing.append(prefix + key)
    walk(raw, defaults())
    assert differing == [], "keys a preset sets to their default"
    params = compose(preset)
    assert params["dataset"] != "synthetic" and params["data"]["root"] != "data/synthetic"
