"""pipeline/study/report.py: the results table and its notes."""
from __future__ import annotations

import json

from pipeline.study.report import markdown, p_value_text, run_seconds, write_results
from pipeline.study.spec import load_spec
from pipeline.study.statistics import statistics_of
from tests.pipeline.study.helpers import scored_run

SPEC = """\
preset: presets/utd_mhad_depth.yaml
split: subject_specific
seeds: [0, 1]
search: {short_epochs: 1}
controls: [shuffled, class_mean]
description: A test study.
arms:
  baseline: {stage: baseline}
  dkd: {cells: {t4: [distill.method=dkd]}}
"""


def result_of(tmp_path, **extra):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    runs = {"baseline": [scored_run([1, 0, 0, 0]), scored_run([1, 1, 0, 0])],
            "dkd": [scored_run([1, 1, 0, 0]), scored_run([1, 1, 1, 0])],
            "dkd_shuffled": [scored_run([1, 0, 0, 0]), scored_run([1, 0, 0, 0])],
            "dkd_class_mean": [scored_run([0, 0, 0, 0]), scored_run([1, 1, 0, 0])]}
    controls = ["dkd_shuffled", "dkd_class_mean"]
    students = statistics_of(runs, [0, 1], "baseline", {"dkd": controls})
    for arm, row in students.items():
        row["setting"] = arm
    result = {"split": "s", "seeds": [0, 1], "reference": "baseline", "controls": controls,
              "search": {"schedule": {"epochs": 2, "candidates": {"1": {}, "2": {}}}}, "students": students,
              "chosen_on_validation": "dkd", "verdict": "v", "code_commits": ["0" * 40],
              "seconds": {"median_final_run": 1}, "this_invocation_seconds": 1.0,
              "machines": {"m": {"cpu": "c", "cores": 2, "gpu": None}}, "git": {"commit": "0" * 40, "dirty": False},
              "command": "c", "results_folder": "studies/results", **extra}
    return load_spec(path), result


def test_the_table_has_every_arm_and_the_chosen_arm_against_its_controls(tmp_path):
    spec, result = result_of(tmp_path)
    table = markdown(spec, result)
    assert table.startswith("A test study. Test accuracy and macro F-measure in % over 2 paired student seeds (0, 1;")
    assert "Schedule: 2 epochs (chosen for the baseline on validation)." in table
    assert "| dkd | dkd | 62.50 ± 17.68 |" in table and "dkd against its controls" in table
    assert "dkd_shuffled: +37.50 [" in table and "dkd_class_mean: +37.50 [" in table
    assert "| baseline | baseline | 37.50 ± 17.68 | 0.00 ± 0.00 |  |  |" in table
    assert "Chosen on validation: **dkd**. v" in table
    assert "Every run used the code of commit `000000000000`" in table
    assert "Machine of the runs: c, 2 cores, GPU: none." in table and "Command: `c` at commit `000000000000`." in table
    assert "recorded" not in table


def test_recorded_counts_reused_models_and_plot_data_are_said(tmp_path):
    check = {"arm": "baseline", "seed": 0, "experiment": "schedule-e2-s0", "identical": True}
    spec, result = result_of(tmp_path, plots_data=["s_accuracy.csv"], finals_from_search={"runs": 3, "check": check})
    result["students"]["dkd"]["gain_vs_baseline"]["mcnemar"]["recorded"] = True
    table = markdown(spec, result)
    assert "McNemar counts of runs recorded without per-sample predictions" in table
    assert ("3 final runs evaluated the model that the search had trained with the same params, seed and code, after "
            "baseline seed 0, trained again, was identical bit for bit to experiment `schedule-e2-s0`'s.") in table
    assert "`dvc plots show studies/results/s_accuracy.csv -x accuracy -y arm --template scatter`" in table
    result["finals_from_search"] = {"runs": 0, "check": {"arm": "baseline", "seed": 0, "experiment": "e",
                                                         "identical": False, "max_abs_difference": 0.5}}
    assert "Every final run was trained: baseline seed 0 trained again differed" in markdown(spec, result)


def test_results_are_written_as_json_and_markdown(tmp_path):
    spec, result = result_of(tmp_path)
    path = write_results(spec, result, tmp_path / "out")
    assert path == tmp_path / "out" / "s.json" and json.loads(path.read_text())["chosen_on_validation"] == "dkd"
    assert path.with_suffix(".md").read_text() == markdown(spec, result)
    write_results(spec, {**result, "students": {}}, tmp_path / "early")
    assert not (tmp_path / "early" / "s.md").exists()  # no final runs yet: no table


def test_only_trained_final_runs_count_for_the_time_per_run():
    runs = {"a": [{"seconds": {"distill": 10.0, "evaluate": 2.0}, "trained_in": None},
                  {"seconds": {"evaluate": 2.0}, "trained_in": "r2-x"},
                  {"seconds": {"distill": 20.0, "evaluate": 1.0}}]}
    assert run_seconds(runs) == {"median_final_run": 21.0, "finals_total": 33.0}


def test_the_choices_made_before_the_search_are_said(tmp_path):
    spec, result = result_of(tmp_path)
    result["search"]["schedule"]["head"] = "trn"
    result["search"]["teachers"] = {"candidates": {"spamfm": 70.0, "plain": 72.5}, "chosen": "plain"}
    assert ("Schedule: 2 epochs (chosen for the baseline on validation); student head trn, chosen with it; teachers "
            "plain (fused validation spamfm 70.00, plain 72.50).") in markdown(spec, result)


def test_arms_the_spec_compares_are_said_with_their_paired_difference(tmp_path):
    spec, result = result_of(tmp_path)
    runs = {"baseline": [scored_run([1, 0, 0, 0]), scored_run([1, 1, 0, 0])], "dkd": [scored_run([1, 1, 0, 0]), scored_run([1, 1, 1, 0])],
            "dkd_shuffled": [scored_run([1, 0, 0, 0]), scored_run([1, 0, 0, 0])]}
    result["students"] = statistics_of(runs, [0, 1], "baseline", {"dkd_shuffled": ["dkd"]})
    for arm, row in result["students"].items():
        row["setting"] = arm
    table = markdown(spec, {**result, "compared": {"dkd_shuffled": ["dkd"]}})
    assert ("dkd_shuffled against the arms the spec compares it with (paired difference, 95 % CI): "
            "dkd: -37.50 [") in table
    assert "against dkd" not in markdown(spec, result)
    assert "dkd against the arms the spec compares it with (paired difference, 95 % CI): gone: not run." in markdown(
        spec, {**result, "compared": {"dkd": ["gone"]}})


def test_a_p_value_below_the_stored_precision_is_said_as_a_bound():
    assert p_value_text({"mcnemar": {"p_value": 0.0}}) == "< 0.0001"
    assert p_value_text({"mcnemar": {"p_value": 0.0386}}) == "0.0386"
    assert p_value_text({"mcnemar": None}) == p_value_text(None) == ""
