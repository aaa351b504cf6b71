"""pipeline/study/statistics.py: paired differences, McNemar, summaries and the verdict,
against hand-computed values."""
from __future__ import annotations

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.statistics import (
    compare, interval_half_width, mcnemar, paired_difference, statistics_of, summary, target_met, verdict,
)
from tests.pipeline.study.helpers import scored_run


def test_paired_difference_t_interval_by_hand():
    # differences 1, 2, 3: mean 2, sd 1; t(0.975, 2) = 4.302653, half-width 4.302653 / sqrt(3) = 2.4841
    result = paired_difference([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    assert result["mean"] == 2.0 and result["ci95"] == [-0.48, 4.48] and result["n"] == 3
    assert paired_difference([5.0], [4.0])["ci95"] is None
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0])
    assert interval_half_width([1.0, 2.0, 3.0]) == pytest.approx(2.4841, abs=1e-4)
    assert interval_half_width([7.0]) == 0.0


def test_mcnemar_exact_by_hand():
    # 5 recordings right only by the reference, none only by the arm: p = 2 * 0.5^5 = 0.0625
    arm = [True] * 3 + [False] * 5
    reference = [True] * 8
    assert mcnemar(arm, reference) == {"only_arm": 0, "only_reference": 5, "p_value": 0.0625}
    assert mcnemar([True, False], [False, True])["p_value"] == 1.0  # one each way
    assert mcnemar([True, True], [True, True]) == {"only_arm": 0, "only_reference": 0, "p_value": 1.0}


def test_summary_rounds_mean_and_sd_and_keeps_the_runs():
    assert summary([1.0, 2.0, 4.0]) == {"mean": 2.33, "std": 1.53, "runs": [1.0, 2.0, 4.0]}  # sd sqrt(7/3)
    assert summary([5.0]) == {"mean": 5.0, "std": 0.0, "runs": [5.0]}


def test_statistics_compare_only_the_chosen_arm_with_its_controls():
    runs = {"baseline": [scored_run([1, 0, 0, 0]), scored_run([1, 1, 0, 0])],
            "dkd": [scored_run([1, 1, 0, 0]), scored_run([1, 1, 1, 0])],
            "dkd_shuffled": [scored_run([1, 0, 0, 0]), scored_run([1, 0, 0, 0])],
            "dkd_class_mean": [scored_run([0, 0, 0, 0]), scored_run([1, 1, 0, 0])],
            "soft_target": [scored_run([1, 1, 1, 1]), scored_run([1, 1, 1, 1])]}
    controls = ["dkd_shuffled", "dkd_class_mean"]
    students = statistics_of(runs, [0, 1], "baseline", {"dkd": controls})
    # dkd - baseline per seed: +25, +25; dkd - dkd_shuffled: +25, +50
    assert students["dkd"]["gain_vs_baseline"]["differences"] == [25.0, 25.0]
    assert students["dkd"]["gain_vs_dkd_shuffled"]["mean"] == 37.5
    assert "gain_vs_baseline" in students["soft_target"] and "gain_vs_dkd_shuffled" not in students["soft_target"]
    assert "gain_vs_baseline" not in students["baseline"]
    # pooled over both seeds: dkd right where baseline is wrong on 2 recordings, never the reverse
    assert students["dkd"]["gain_vs_baseline"]["mcnemar"] == {"only_arm": 2, "only_reference": 0, "p_value": 0.5}
    assert verdict(students, "dkd", "baseline", controls, 3) == (
        "Target (>= 3 points over the baseline, 95 % interval above 0 and above both controls): not met "
        "(gain +25.00, interval [25.0, 25.0]; above the controls: no).")  # two seeds: intervals too wide
    assert verdict(students, None, "baseline", controls, 3) == "No final runs of the chosen arm yet."


def test_the_target_needs_the_gain_its_interval_and_every_control():
    def row(mean, low, controls=()):
        entry = {"gain_vs_baseline": {"mean": mean, "ci95": [low, low + 2]}}
        entry.update({f"gain_vs_{name}": {"mean": 1.0, "ci95": [c, c + 1]} for name, c in controls})
        return {"a": entry}

    assert target_met(row(4.0, 1.0, [("c", 0.5)]), "a", "baseline", ["c"], 3)["met"] is True
    assert target_met(row(2.0, 1.0, [("c", 0.5)]), "a", "baseline", ["c"], 3)["met"] is False  # under the target
    assert target_met(row(4.0, -1.0, [("c", 0.5)]), "a", "baseline", ["c"], 3)["met"] is False  # interval across 0
    assert target_met(row(4.0, 1.0, [("c", -0.5)]), "a", "baseline", ["c"], 3)["met"] is False  # not above a control
    assert target_met(row(4.0, 1.0), "a", "baseline", ["c"], 3)["met"] is False  # a control not run
    assert target_met(row(0.5, 0.1), "a", "baseline", [], None)["met"] is True  # no target: interval above 0
    assert verdict(row(4.0, 1.0, [("c", 0.5)]), "a", "baseline", ["c"], 3).startswith(
        "Target (>= 3 points over the baseline, 95 % interval above 0 and above its control): met")


def test_runs_without_predictions_use_the_mcnemar_counts_recorded_when_they_ran():
    arm = [{**scored_run([1, 1, 0, 0], f"a{seed}"), "per_sample": None} for seed in (0, 1)]
    reference = [{**scored_run([1, 0, 0, 0], f"b{seed}"), "per_sample": None} for seed in (0, 1)]
    counts = {"only_arm": 7, "only_reference": 3, "p_value": 0.3438}
    asked = []

    def recorded(arm_keys, reference_keys):
        asked.append((arm_keys, reference_keys))
        return counts

    gain = compare("a", arm, "b", reference, [0, 1], recorded)
    assert asked == [(["a0", "a1"], ["b0", "b1"])]
    assert gain["mcnemar"] == {**counts, "recorded": True} and gain["mean"] == 25.0
    assert compare("a", arm, "b", reference, [0, 1])["mcnemar"] is None  # nothing recorded


def test_arms_tested_on_different_recordings_are_an_error():
    other = scored_run([1, 0, 0, 0])
    other["per_sample"] = {**other["per_sample"], "sample_id": ["a", "b", "c", "e"]}
    with pytest.raises(StudyError, match="different recordings"):
        compare("a", [scored_run([1, 1, 0, 0])], "b", [other], [0])


def test_pseudo_label_summary_in_percent_over_the_runs_that_record_them():
    from pipeline.study.statistics import pseudo_label_summary

    runs = [{"pseudo_labels": {"coverage": 0.5, "precision": 0.9}},
            {"pseudo_labels": {"coverage": 0.7, "precision": 0.8}},
            {"pseudo_labels": {"coverage": 0.0, "precision": None}},  # nothing labelled: no precision
            {"accuracy": 50.0}]                                        # a run from before
    result = pseudo_label_summary(runs)
    assert result["coverage"]["runs"] == [50.0, 70.0, 0.0] and result["coverage"]["mean"] == 40.0
    assert result["precision"] == {"mean": 85.0, "std": 7.07, "runs": [90.0, 80.0]}
    assert pseudo_label_summary([{"accuracy": 50.0}]) is None
