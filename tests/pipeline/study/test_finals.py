"""pipeline/study/finals.py: which final arms run, in which order, with which overrides."""
from __future__ import annotations

from pipeline.study.finals import (
    FinalArm, cell_controls, chosen_final, compared_arms, control_arms, final_arms, final_key, final_params,
)
from pipeline.study.spec import load_spec
from tests.conftest import REPO


def utd_spec():
    return load_spec(REPO / "studies" / "utd_mhad_depth.yaml")


def test_final_arms_run_the_verdicts_arms_first_with_controls_of_the_chosen_setting():
    spec = utd_spec()
    search = {"chosen": {arm: {"cell": "c", "overrides": [f"{arm}.x=1"]}
                         for arm in ("sakdn", "soft_target", "dkd", "contrastive")},
              "chosen_on_validation": "contrastive"}
    arms = final_arms(spec, search)
    assert list(arms) == ["baseline", "contrastive", "contrastive_shuffled", "contrastive_class_mean", "sakdn_best",
                          "label_smoothing", "sakdn_paper", "soft_target", "dkd"]
    assert arms["contrastive_shuffled"].overrides == ["contrastive.x=1", "distill.pairing=shuffled"]
    assert arms["contrastive_class_mean"].overrides == ["contrastive.x=1", "distill.pairing=class_mean"]
    assert arms["contrastive_class_mean"].setting == "control: contrastive with distill.pairing class_mean"
    assert arms["sakdn_best"] == FinalArm("sakdn_best", "distill", ["sakdn.x=1"], "validation: sakdn/c")
    assert arms["baseline"] == FinalArm("baseline", "baseline", [], "fixed") and arms["baseline"].model == "baseline"
    assert arms["sakdn_paper"].setting == "fixed: input importance, spatial, no folds, (0.1, 1, 1), T 4"
    search["chosen_on_validation"] = "sakdn"
    assert chosen_final(spec, search) == "sakdn_best"
    assert list(final_arms(spec, search))[:4] == ["baseline", "sakdn_best", "sakdn_best_shuffled",
                                                  "sakdn_best_class_mean"]
    assert control_arms(spec, "dkd") == {"dkd_shuffled": "shuffled", "dkd_class_mean": "class_mean"}


def test_a_final_run_is_keyed_on_its_arm_seed_and_schedule():
    spec = utd_spec()
    base = spec.base_params()
    arm = FinalArm("dkd", "distill", ["distill.method=dkd"])
    params = final_params(base, arm, 3, 24)
    assert (params["student"]["seed"], params["student"]["epochs"], params["distill"]["method"]) == (3, 24, "dkd")
    keys = {final_key(spec, base, arm, seed, epochs) for seed in (0, 1) for epochs in (12, 24)}
    assert len(keys) == 4
    baseline, distilled = FinalArm("b", "baseline"), FinalArm("d", "distill")
    assert final_key(spec, base, baseline, 0, 24) != final_key(spec, base, distilled, 0, 24)


def test_an_arm_on_a_searched_arms_cell_takes_its_chosen_overrides_then_its_own():
    spec = load_spec(REPO / "studies" / "utd_mhad_label_scarce.yaml").at_fraction(0.1)
    search = {"chosen": {"soft_target": {"cell": "t-auto", "overrides": ["distill.method=soft_target",
                                                                         "temperature=auto"]},
                         "sakdn": {"cell": "a1-b0.1-g1", "overrides": ["distill.method=sakdn"]}},
              "chosen_on_validation": "sakdn"}
    arms = final_arms(spec, search)
    assert list(arms) == ["baseline", "sakdn_best", "sakdn_best_shuffled", "soft_target", "self_training",
                          "teacher_labels"]
    assert arms["self_training"] == FinalArm("self_training", "distill", [
        "distill.method=soft_target", "temperature=auto", "distill.targets=baseline"],
        "control: soft_target/t-auto with distill.targets=baseline")
    assert cell_controls(spec) == {"soft_target": ["self_training", "teacher_labels"]}
    params = final_params(spec.base_params(), arms["self_training"], 2, 24)
    assert params["distill"]["targets"] == "baseline" and params["splits"]["labeled_fraction"] == 0.1


def test_finals_chosen_leaves_out_the_searched_arms_validation_did_not_choose():
    """``finals: chosen``: the other searched arm ends with its search, unless a control runs on
    its cell (self-training and hard labels on soft_target's)."""
    spec = load_spec(REPO / "studies" / "utd_mhad_label_scarce.yaml")
    search = {"chosen": {"soft_target": {"cell": "t4", "overrides": ["distill.method=soft_target"]},
                         "sakdn": {"cell": "a1-b0.1-g1", "overrides": ["distill.method=sakdn"]}},
              "chosen_on_validation": "soft_target"}
    scarce, full = spec.at_fraction(0.25), spec.at_fraction(1.0)
    assert scarce.finals == full.finals == "chosen"
    assert list(final_arms(scarce, search)) == ["baseline", "soft_target", "soft_target_shuffled", "self_training",
                                                "teacher_labels"]
    assert list(final_arms(full, search)) == ["baseline", "soft_target", "soft_target_shuffled",
                                              "soft_target_class_mean", "label_smoothing"]
    search["chosen_on_validation"] = "sakdn"  # soft_target stays below 1.0: its cell carries the controls
    assert list(final_arms(scarce, search)) == ["baseline", "sakdn_best", "sakdn_best_shuffled", "soft_target",
                                                "self_training", "teacher_labels"]
    assert "soft_target" not in final_arms(full, search)
    assert "sakdn_best" in final_arms(spec.at_fraction(0.1), search)  # finals: all there


def test_compare_with_pairs_an_arm_with_other_arms_by_final_name(tmp_path):
    """The sensors' hard labels against the video's own pseudo-labels: both controls on soft
    targets' cell, so only ``compare_with`` puts them side by side."""
    spec = load_spec(REPO / "studies" / "utd_mhad_label_scarce.yaml")
    assert compared_arms(spec) == {"teacher_labels": ["self_training"], "soft_target": ["label_smoothing"]}
    # at each fraction, the pairs of the arms that run there
    assert compared_arms(spec.at_fraction(0.25)) == {"teacher_labels": ["self_training"], "soft_target": []}
    assert compared_arms(spec.at_fraction(1.0)) == {"soft_target": ["label_smoothing"]}
    text = (REPO / "studies" / "utd_mhad_depth.yaml").read_text()
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("  label_smoothing:\n", "  label_smoothing:\n    compare_with: [sakdn]\n", 1))
    assert compared_arms(load_spec(path)) == {"label_smoothing": ["sakdn_best"]}
