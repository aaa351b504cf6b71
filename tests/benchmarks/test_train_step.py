"""A tiny smoke version of benchmarks/train_step.py (the real sizes are run by hand): it must
run end to end, and what it reports is checked against literal counts and hooks' counts, not
against the benchmark's own arithmetic."""
import math

import pytest

from tests.benchmarks.helpers import positive_and_finite

SAKDN_TERMS = ["ce", "gsdm", "semantic", "soft_target"]


def test_train_step_benchmark_runs_what_each_configuration_names():
    from benchmarks import train_step

    result = train_step.main(["--segments", "2", "--size", "32", "--batch-size", "2", "--gaf-size", "32",
                              "--classes", "5", "--steps", "5", "--warmup", "1", "--device", "cpu",
                              "--importance", "norm", "--pair", "conv4", "stage4"])
    names = {"baseline", "sakdn_cached", "sakdn_uncached"}
    for key in ("median_step_seconds", "clips_per_second"):
        assert set(result[key]) == names
        assert all(positive_and_finite(value) for value in result[key].values()), key
    for key in ("distill_over_baseline", "uncached_over_baseline", "teacher_forward_seconds",
                "student_ablated_pass_seconds"):
        assert positive_and_finite(result[key]), key

    # 5 timed steps (over 2 interleaved rounds) + 1 warm-up, 2 clips each, for every configuration.
    assert result["timed_steps"] == dict.fromkeys(names, 5)
    assert result["steps_run"] == dict.fromkeys(names, 6)
    assert result["clips_trained"] == dict.fromkeys(names, 12)
    # Each configuration computed the loss it is named after.
    assert result["loss_terms"] == {"baseline": ["ce"], "sakdn_cached": SAKDN_TERMS, "sakdn_uncached": SAKDN_TERMS}
    # Cached: the teachers never run. Uncached: once per step, plus GSDM's black batch once (kept per batch size).
    assert result["teacher_forward_calls"] == {"baseline": 0, "sakdn_cached": 0, "sakdn_uncached": 6 + 1}
    # GSDM's ablated student pass: once per step; CE alone needs none.
    assert result["student_ablated_passes"] == {"baseline": 0, "sakdn_cached": 6, "sakdn_uncached": 6}

    # Identical weights, batch and dropout masks at the first step: the cached teacher outputs are
    # the teachers' outputs (same loss as running them), and the baseline's CE is the same CE.
    first = result["first_step_loss"]
    assert set(first["sakdn_cached"]) == set(SAKDN_TERMS)
    assert first["sakdn_cached"] == pytest.approx(first["sakdn_uncached"], rel=1e-5, abs=1e-7)
    assert first["baseline"] == pytest.approx({"ce": first["sakdn_cached"]["ce"]}, rel=1e-5)
    assert all(math.isfinite(value) for terms in first.values() for value in terms.values())
    assert all(first["sakdn_cached"][term] != 0 for term in SAKDN_TERMS)


def test_train_step_benchmark_with_channel_importance_caches_the_teachers_read_outs():
    from benchmarks import train_step

    result = train_step.main(["--segments", "2", "--size", "64", "--batch-size", "2", "--gaf-size", "32",
                              "--classes", "5", "--steps", "2", "--warmup", "1", "--device", "cpu"])
    assert result["config"]["gsdm_importance"] == "channel" and result["config"]["gsdm_pair"] == ["conv4", "stage5"]
    # No black-input passes; uncached runs the teachers once per step and once per branch for the read-outs.
    assert result["student_ablated_passes"] == {"baseline": 0, "sakdn_cached": 0, "sakdn_uncached": 0}
    assert result["teacher_forward_calls"]["sakdn_cached"] == 0
    assert result["teacher_forward_calls"]["sakdn_uncached"] == 3 * (2 + 1)
    first = result["first_step_loss"]
    assert first["sakdn_cached"] == pytest.approx(first["sakdn_uncached"], rel=1e-5, abs=1e-7)
    assert first["sakdn_cached"]["gsdm"] > 0


def test_train_step_paper_preset_gives_defaults_that_explicit_options_override():
    from benchmarks.train_step import parse_args

    args = parse_args(["--paper", "--batch-size", "2"])
    assert (args.backbone, args.segments, args.size, args.batch_size) == ("resnet50", 8, 224, 2)
    assert parse_args([]).backbone == "mobilenet_v2"

