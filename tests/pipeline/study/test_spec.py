"""pipeline/study/spec.py: a good spec read into arms and cells; every bad one is one error
naming the file and the key."""
from __future__ import annotations

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.spec import load_spec
from tests.conftest import REPO

PRESET = "presets/utd_mhad_depth.yaml"
GOOD = f"""\
preset: {PRESET}
split: subject_specific
seeds: [0, 1, 2]
schedule: [12, 24]
search: {{short_epochs: 6}}
controls: [shuffled]
arms:
  baseline: {{stage: baseline}}
  smoothing:
    overrides: [distill.method=label_smoothing]
    setting: "fixed: epsilon 0.1"
  sakdn:
    final: sakdn_best
    base: [distill.method=sakdn]
    grid: {{alpha: [0.1, 1], beta: [0.1, 10]}}
    grid_name: a{{alpha}}-b{{beta}}
    cells: {{t-auto: [temperature=auto]}}
"""


def write(tmp_path, text: str, name: str = "study.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_spec_gives_its_arms_cells_and_defaults(tmp_path):
    spec = load_spec(write(tmp_path, GOOD, "my_study.yaml"))
    assert spec.name == "my_study" and spec.preset == REPO / PRESET and spec.data_root is None
    assert spec.seeds == [0, 1, 2] and spec.selection_seeds == [0]  # default: the first seed
    assert (spec.short_epochs, spec.reduction, spec.reference) == (6, 3, "baseline")
    assert list(spec.arms) == ["baseline", "smoothing", "sakdn"]
    assert list(spec.fixed_arms) == ["baseline", "smoothing"] and list(spec.searched_arms) == ["sakdn"]
    sakdn = spec.arms["sakdn"]
    assert sakdn.final == "sakdn_best" and spec.arms["baseline"].final == "baseline"
    assert sakdn.cells == {
        "a0.1-b0.1": ["distill.method=sakdn", "alpha=0.1", "beta=0.1"],
        "a0.1-b10": ["distill.method=sakdn", "alpha=0.1", "beta=10"],
        "a1-b0.1": ["distill.method=sakdn", "alpha=1", "beta=0.1"],
        "a1-b10": ["distill.method=sakdn", "alpha=1", "beta=10"],
        "t-auto": ["distill.method=sakdn", "temperature=auto"]}
    assert sakdn.grid_points["a1-b10"] == (1, 10)
    assert spec.arms["smoothing"].setting == "fixed: epsilon 0.1" and spec.arms["baseline"].setting == "fixed"
    params = spec.base_params(tmp_path / "data")
    assert params["splits"]["protocols"] == ["subject_specific"]
    assert params["data"]["root"] == str((tmp_path / "data").resolve())


def test_the_utd_mhad_study_spec_loads():
    spec = load_spec(REPO / "studies" / "utd_mhad_depth.yaml")
    assert spec.split == "subject_specific" and spec.seeds == [0, 1, 2, 3, 4] and spec.schedule == [12, 24]
    assert sum(len(arm.cells) for arm in spec.searched_arms.values()) == 23
    assert spec.controls == ["shuffled", "class_mean"] and spec.arms["sakdn"].final == "sakdn_best"


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BAD = {
    "missing key": (GOOD.replace("split: subject_specific\n", ""), "missing key split"),
    "unknown key": (GOOD + "seed: 3\n", "unknown key seed"),
    "unknown arm key": (replace("stage: baseline", "stage: baseline, epochs: 3"), "unknown key arms.baseline.epochs"),
    "bad yaml": (GOOD + "arms: [\n", "not valid YAML"),
    "not a mapping": ("- preset\n", "must be a mapping"),
    "no preset file": (replace(PRESET, "presets/nope.yaml"), "preset: .*nope.yaml is not a file"),
    "bad stage": (replace("stage: baseline", "stage: teacher"), "arms.baseline.stage must be one of distill, baseline"),
    "seeds not ints": (replace("seeds: [0, 1, 2]", "seeds: [0, one]"), "seeds must be a non-empty list of integers"),
    "seed twice": (replace("seeds: [0, 1, 2]", "seeds: [0, 1, 1]"), "seeds lists a value twice"),
    "zero epochs": (replace("schedule: [12, 24]", "schedule: [0]"),
                    "schedule must be a non-empty list of integers >= 1"),
    "override not key=value": (replace("[distill.method=label_smoothing]", "[label_smoothing]"),
                               "arms.smoothing.overrides must be a list of key=value overrides"),
    "typo in a key": (replace("distill.method=label_smoothing", "distill.methd=label_smoothing"),
                      "arms.smoothing: .*distill.methd"),
    "bad value in a cell": (replace("[temperature=auto]", "[temperature=hot]"),
                            "arms.sakdn cell t-auto: .*temperature"),
    "bad pairing control": (replace("controls: [shuffled]", "controls: [reversed]"), "controls reversed: .*pairing"),
    "searched arm without search": (GOOD.replace("search: {short_epochs: 6}\n", ""),
                                    "arms sakdn have cells but there is no search key"),
    "search without short_epochs": (replace("search: {short_epochs: 6}", "search: {reduction: 2}"),
                                    "missing key search.short_epochs"),
    "cells with overrides": (replace("    final: sakdn_best\n", "    final: sakdn_best\n    overrides: [alpha=1]\n"),
                             "arms.sakdn has cells: its overrides and setting come from the search"),
    "base on a fixed arm": (replace("    setting: \"fixed: epsilon 0.1\"\n", "    base: [alpha=1]\n"),
                            "arms.smoothing.base is for searched arms"),
    "grid_name without grid": (replace("stage: baseline}", "stage: baseline, grid_name: x}"),
                               "arms.baseline.grid_name without arms.baseline.grid"),
    "grid names collide": (replace("a{alpha}-b{beta}", "a{alpha}"), "gives two cells the name"),
    "cell is a grid cell": (replace("{t-auto: [temperature=auto]}", "{a1-b10: [temperature=auto]}"),
                            "arms.sakdn.cells.a1-b10 is also a grid cell"),
    "empty grid values": (replace("beta: [0.1, 10]", "beta: []"), "arms.sakdn.grid must map params keys"),
    "searched baseline": (replace("stage: baseline}", "stage: baseline, cells: {x: [alpha=1]}}"),
                          "a searched arm is a distill arm"),
    "reference searched": (GOOD.replace("controls:", "reference: sakdn\ncontrols:"),
                           "reference 'sakdn' must name a fixed arm"),
    "reference unknown": (GOOD.replace("controls:", "reference: nobody\ncontrols:"),
                          "reference 'nobody' must name a fixed arm"),
    "two finals share a name": (replace("final: sakdn_best", "final: smoothing"),
                                "two arms share the final name 'smoothing'"),
    "target not a number": (GOOD + "target_gain: lots\n", "target_gain must be a number"),
    "controls without search": (f"preset: {PRESET}\nsplit: subject_specific\nseeds: [0]\ncontrols: [shuffled]\n"
                                "arms: {baseline: {stage: baseline}}\n",
                                "controls are of the arm chosen on validation"),
    "bad split": (replace("split: subject_specific", "split: cross_view"), "splits.protocols"),
    "no arms": (f"preset: {PRESET}\nsplit: subject_specific\nseeds: [0]\narms: {{}}\n", "arms must map arm names"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_spec_is_one_error_naming_the_file_and_the_key(tmp_path, case):
    text, message = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(StudyError, match=message) as error:
        load_spec(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_a_missing_spec_file_is_an_error(tmp_path):
    with pytest.raises(StudyError, match="study spec not found"):
        load_spec(tmp_path / "nope.yaml")
