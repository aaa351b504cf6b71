"""stages/compose_params.py: params.yaml and the docs' params table are the schema written out."""
from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from pipeline.params_compose import compose, defaults
from pipeline.params_document import render, yaml_value
from stages import compose_params
from tests.conftest import REPO


def test_the_repository_params_and_the_docs_table_are_current(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert compose_params.main(["--check", "--docs"]) == 0, capsys.readouterr().err


def test_a_stale_file_is_reported_and_left_alone(tmp_path, capsys):
    stale = tmp_path / "params.yaml"
    stale.write_text("seed: 0\n")
    assert compose_params.main(["--check", "--output", str(stale)]) == 1
    assert f"{stale}: stale" in capsys.readouterr().err
    assert stale.read_text() == "seed: 0\n"


def test_a_preset_and_overrides_are_written_as_a_complete_commented_file(tmp_path, capsys):
    out = tmp_path / "params.yaml"
    preset = REPO / "presets" / "utd_mhad_depth.yaml"
    assert compose_params.main([str(preset), "-S", "data.root=/data/UTD MHAD", "-S", "student.epochs=6",
                                "--output", str(out)]) == 0
    text = out.read_text()
    written = YAML(typ="safe", pure=True).load(text)
    assert written == compose(preset, ["data.root=/data/UTD MHAD", "student.epochs=6"])
    assert written["data"]["root"] == "/data/UTD MHAD" and written["gaf"]["image_size"] == 64
    assert "  epochs: 6                   # training epochs" in text
    assert f"-S 'data.root=/data/UTD MHAD' -S student.epochs=6`: {preset} over the defaults" in text


def test_a_bad_override_writes_nothing(tmp_path, capsys):
    out = tmp_path / "params.yaml"
    out.write_text("kept\n")
    assert compose_params.main(["-S", "frames.size=2", "--output", str(out)]) == 1
    assert "frames.size: 2 is below the minimum 8" in capsys.readouterr().err
    assert out.read_text() == "kept\n"


def test_rendering_reads_back_every_value_with_its_type():
    params = defaults()
    params["data"]["root"] = "my data: 2"
    params["embed"]["glove_path"] = "null"
    params["synthetic"]["classes"] = ["yes", "1e3", "wave"]
    back = YAML(typ="safe", pure=True).load(render(params, ["a header"]))
    assert json.dumps(back, sort_keys=True) == json.dumps(params, sort_keys=True)


@pytest.mark.parametrize("value, text", [(None, "null"), (True, "true"), (1000, "1000"), (1000.0, "1000.0"),
                                         (1e-07, "1e-07"), ("a/b_c.d", "a/b_c.d"), ("on", '"on"'),
                                         ([["conv4", "stage5"]], "[[conv4, stage5]]"), ({"a": 1}, "{a: 1}")])
def test_values_are_written_in_yaml_flow_style(value, text):
    assert yaml_value(value) == text
