"""pipeline/study/spec.py: a good spec read into arms and cells; every bad one is one error
naming the file and the key."""
from __future__ import annotations

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.finals import cell_controls, final_arms, final_params
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
    "bad finals": (GOOD + "finals: best\n", "finals must be one of all, chosen, got 'best'"),
    "controls without search": (f"preset: {PRESET}\nsplit: subject_specific\nseeds: [0]\ncontrols: [shuffled]\n"
                                "arms: {baseline: {stage: baseline}}\n",
                                "controls are of the arm chosen on validation"),
    "compare_with unknown arm": (replace("stage: baseline}", "stage: baseline, compare_with: [nobody]}"),
                                 "arms.baseline.compare_with: 'nobody' must name another arm"),
    "compare_with itself": (replace("stage: baseline}", "stage: baseline, compare_with: [baseline]}"),
                            "arms.baseline.compare_with: 'baseline' must name another arm"),
    "compare_with not a list": (replace("stage: baseline}", "stage: baseline, compare_with: sakdn}"),
                                "arms.baseline.compare_with must be a list of arm names"),
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


def test_a_duplicated_arm_is_one_line_naming_it_and_its_line(tmp_path):
    path = write(tmp_path, "split: cross_subject\narms:\n  baseline: {stage: baseline}\n  baseline: {stage: distill}\n")
    with pytest.raises(StudyError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f'{path}: not valid YAML: found duplicate key "baseline"')
    assert message.endswith("(line 4, column 3)") and "\n" not in message


def test_a_missing_spec_file_is_an_error(tmp_path):
    with pytest.raises(StudyError, match="study spec not found"):
        load_spec(tmp_path / "nope.yaml")


FRACTIONS = f"""\
preset: {PRESET}
split: cross_subject
selection_seeds: [0]
schedule: [12, 24]
search: {{short_epochs: 6}}
controls: [shuffled]
heads: [tsn, tsm]
teachers: {{spamfm: [], no_spamfm: ['teacher.spamfm_layers=[]']}}
fractions:
  0.1: {{seeds: [0, 1, 2]}}
  1.0: {{seeds: [0, 1], controls: [shuffled, class_mean], schedule: [24]}}
class_pairs: [[sit to stand, stand to sit]]
arms:
  baseline: {{stage: baseline}}
  soft_target: {{cells: {{t4: [distill.method=soft_target]}}}}
  self_training:
    cell_of: soft_target
    overrides: [distill.targets=baseline]
    fractions: [0.1]
  smoothing:
    overrides: [distill.method=label_smoothing]
    fractions: [1.0]
"""


def test_a_fraction_spec_gives_each_fraction_its_own_study(tmp_path):
    spec = load_spec(write(tmp_path, FRACTIONS, "scarce.yaml"))
    assert list(spec.fractions) == [0.1, 1.0] and spec.seeds == [] and spec.heads == ["tsn", "tsm"]
    assert spec.teachers == {"spamfm": [], "no_spamfm": ["teacher.spamfm_layers=[]"]}
    assert spec.class_pairs == [("sit to stand", "stand to sit")] and spec.cost is None
    scarce, full = spec.at_fraction(0.1), spec.at_fraction(1.0)
    assert scarce.name == "scarce_f0.1" and full.name == "scarce_f1.0"
    assert list(scarce.arms) == ["baseline", "soft_target", "self_training"]
    assert list(full.arms) == ["baseline", "soft_target", "smoothing"]
    assert (scarce.seeds, scarce.schedule, scarce.controls) == ([0, 1, 2], [12, 24], ["shuffled"])
    assert (full.seeds, full.schedule, full.controls) == ([0, 1], [24], ["shuffled", "class_mean"])
    assert spec.finals == scarce.finals == full.finals == "all"
    assert scarce.base_params()["splits"]["labeled_fraction"] == 0.1 and scarce.labeled_fraction == 0.1
    assert spec.arms["self_training"].cell_of == "soft_target" and not scarce.fractions


def test_the_label_scarce_study_spec_loads():
    spec = load_spec(REPO / "studies" / "utd_mhad_label_scarce.yaml")
    assert list(spec.fractions) == [0.1, 0.25, 1.0] and spec.split == "cross_subject"
    assert [spec.at_fraction(f).seeds for f in spec.fractions] == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert spec.heads == ["tsn", "trn", "tsm"] and list(spec.teachers) == ["spamfm", "no_spamfm"]
    assert "self_training" in spec.at_fraction(0.1).arms and "self_training" not in spec.at_fraction(1.0).arms
    assert spec.at_fraction(1.0).controls == ["shuffled", "class_mean"] and spec.cost["training_clips"] == 324
    assert [spec.at_fraction(f).finals for f in spec.fractions] == ["all", "chosen", "chosen"]


def test_the_hard_label_study_spec_loads_with_fresh_seeds_and_the_first_studys_choices():
    spec = load_spec(REPO / "studies" / "utd_mhad_hard_labels.yaml")
    first = load_spec(REPO / "studies" / "utd_mhad_label_scarce.yaml").at_fraction(0.25)
    assert not set(spec.seeds) & set(first.seeds) and len(spec.seeds) == 10
    params = spec.base_params()
    assert params["splits"]["labeled_fraction"] == 0.25 and params["teacher"]["spamfm_layers"] == []
    assert params["student"]["head"] == "trn" and spec.split == first.split == "cross_subject"
    assert spec.arms["teacher_labels"].cells == {"t4": ["distill.method=soft_target", "temperature=4",
                                                        "distill.targets=teacher_labels"]}
    assert spec.arms["self_training"].cell_of == "teacher_labels"
    assert cell_controls(spec) == {"teacher_labels": ["self_training"]} and spec.controls == ["shuffled"]
    search = {"chosen": {"teacher_labels": {"cell": "t4", "overrides": spec.arms["teacher_labels"].cells["t4"]}},
              "chosen_on_validation": "teacher_labels"}
    arms = final_arms(spec, search)
    assert list(arms) == ["baseline", "teacher_labels", "teacher_labels_shuffled", "self_training"]
    targets = {name: final_params(params, arm, 5, 24)["distill"]["targets"] for name, arm in arms.items()}
    assert targets == {"baseline": "teachers", "teacher_labels": "teacher_labels",
                       "teacher_labels_shuffled": "teacher_labels", "self_training": "baseline"}


def fractions_replace(old: str, new: str) -> str:
    assert old in FRACTIONS
    return FRACTIONS.replace(old, new)


BAD_FRACTIONS = {
    "no seeds anywhere": (fractions_replace("0.1: {seeds: [0, 1, 2]}", "0.1: {}"), "missing key fractions.0.1.seeds"),
    "fraction above 1": (fractions_replace("  0.1:", "  1.5:"), "fractions.1.5 must be a labelled fraction in"),
    "fraction key": (fractions_replace("{seeds: [0, 1, 2]}", "{seeds: [0], epochs: 3}"),
                     "unknown key fractions.0.1.epochs"),
    "fractions not a mapping": (fractions_replace(
        "fractions:\n  0.1: {seeds: [0, 1, 2]}\n  1.0: {seeds: [0, 1], controls: [shuffled, class_mean], schedule: [24]}\n",
        "fractions: [0.1, 1.0]\nseeds: [0]\n"),
                                "fractions must map labelled fractions"),
    "arm at an unknown fraction": (fractions_replace("fractions: [0.1]", "fractions: [0.5]"),
                                   "arms.self_training.fractions: 0.5 is not one of the fractions"),
    "class_mean below 1": (fractions_replace("controls: [shuffled]\nheads", "controls: [class_mean]\nheads"),
                           "fractions.0.1: controls class_mean: .*labeled_fraction"),
    "compare_with an arm never run with it": (fractions_replace("    fractions: [0.1]\n",
                                                                "    fractions: [0.1]\n    compare_with: [smoothing]\n"),
                                              "arms.self_training.compare_with: smoothing runs at no fraction where "
                                              "self_training does"),
    "cell_of a fixed arm": (fractions_replace("cell_of: soft_target", "cell_of: smoothing"),
                            "arms.self_training.cell_of 'smoothing' must name a searched arm"),
    "cell_of on a searched arm": (fractions_replace("{cells: {t4: [distill.method=soft_target]}}",
                                                    "{cell_of: soft_target, cells: {t4: [distill.method=dkd]}}"),
                                  "arms.soft_target.cell_of is for fixed distill arms"),
    "self-training on a loss it cannot use": (fractions_replace("[distill.method=soft_target]", "[distill.method=at]"),
                                              "arms.self_training on soft_target cell t4: distill.targets"),
    "a bad head": (fractions_replace("heads: [tsn, tsm]", "heads: [tsn, lstm]"), "heads lstm: .*student.head"),
    "a head twice": (fractions_replace("heads: [tsn, tsm]", "heads: [tsn, tsn]"), "heads must be a non-empty list"),
    "a bad teacher": (fractions_replace("'teacher.spamfm_layers=[]'", "teacher.layers=1"),
                      "teachers.no_spamfm: .*teacher.layers"),
    "a class that is not": (fractions_replace("[sit to stand, stand to sit]", "[sit to stand, fly]"),
                            "class_pairs: 'fly' is not a class of utd_mhad"),
    "a pair of three": (fractions_replace("[sit to stand, stand to sit]", "[sit to stand, a, b]"),
                        "class_pairs must be a list of"),
    "the reference at one fraction": (fractions_replace("baseline: {stage: baseline}",
                                                        "baseline: {stage: baseline, fractions: [1.0]}"),
                                      "the reference runs at every fraction"),
    "fractions of an arm without fractions": (GOOD.replace("stage: baseline}", "stage: baseline, fractions: [1.0]}"),
                                              "arms.baseline.fractions needs the top-level fractions key"),
    "bad finals at a fraction": (fractions_replace("{seeds: [0, 1, 2]}", "{seeds: [0], finals: some}"),
                                 "fractions.0.1.finals must be one of all, chosen"),
    "a cost key": (FRACTIONS + "cost: {clip_seconds: 1}\n", "missing key cost.training_clips"),
    "a negative cost": (FRACTIONS + "cost: {clip_seconds: -1, training_clips: 3}\n",
                        "cost.clip_seconds must be a number >= 0"),
}


@pytest.mark.parametrize("case", list(BAD_FRACTIONS))
def test_a_bad_fraction_spec_is_one_error_naming_the_file_and_the_key(tmp_path, case):
    text, message = BAD_FRACTIONS[case]
    path = write(tmp_path, text)
    with pytest.raises(StudyError, match=message) as error:
        load_spec(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
