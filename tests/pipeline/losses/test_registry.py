"""The loss registry (pipeline/losses/registry.py): the registered names, the weighted sum,
every loss built from params, and the student's objectives."""
import pytest
import torch

from pipeline.losses import LOSSES, WeightedSum, build_loss
from tests.pipeline.losses.helpers import default_params


def test_registry_lists_valid_names():
    assert {"ce", "soft_target", "semantic", "gsdm", "logits", "fitnet", "at", "rkd", "sp", "cc"} <= set(LOSSES)
    with pytest.raises(KeyError, match="unknown loss 'kd'; valid: at, cc, ce"):
        build_loss("kd")


def test_weighted_sum_returns_total_and_terms_and_skips_zero_weights():
    student = {"logits": torch.tensor([[2.0, 0.0]]), "semantic": torch.zeros(1, 2)}
    teachers = [{"logits": torch.tensor([[0.0, 2.0]]), "fc2": torch.ones(1, 2)}]
    targets = {"labels": torch.tensor([0])}
    total_loss = WeightedSum({"ce": (1.0, build_loss("ce")), "semantic": (0.5, build_loss("semantic")),
                              "gsdm": (0.0, build_loss("gsdm", pairs=[("conv5", "layer4")]))})
    total, terms = total_loss(student, teachers, targets)
    assert set(terms) == {"ce", "semantic"}  # gsdm weight 0: not computed, no ablation needed
    assert not total_loss.needs_ablation
    torch.testing.assert_close(total, terms["ce"] + 0.5 * terms["semantic"])
    assert "L = 1 * ce + 0.5 * semantic" in repr(total_loss)


# ------------------------------------------------------------------ each loss builds itself from params
def test_every_registered_loss_builds_from_params():
    from pipeline.losses import LOSSES

    params = default_params(distill={"layer_pairs": [["conv4", "stage4"], ["conv5", "stage5"]], "importance": "norm"})
    context = {"student_channels": [96, 1280], "teacher_channels": [128, 128], "embedding_dim": 50, "num_teachers": 2,
               "non_target_mass": 0.2}
    for name, cls in LOSSES.items():
        loss = cls.from_params(params, **context)
        assert type(loss) is cls and loss.loss_name == name
        if hasattr(loss, "pairs"):
            assert loss.pairs == [("conv4", "stage4"), ("conv5", "stage5")]
    assert LOSSES["soft_target"].from_params(default_params(temperature=2.5)).temperature == 2.5
    gsdm = LOSSES["gsdm"].from_params(default_params(distill={"readout": "argmax", "importance": "elementwise"}))
    assert (gsdm.readout, gsdm.importance) == ("argmax", "elementwise")
    with pytest.raises(ValueError, match="fitnet needs student_channels and teacher_channels"):
        LOSSES["fitnet"].from_params(params)


def test_missing_params_key_is_named():
    from pipeline.losses import LOSSES
    from pipeline.params import ParamsError

    with pytest.raises(ParamsError, match="distill.rkd.distance_weight: missing"):
        LOSSES["rkd"].from_params({"distill": {"rkd": {"angle_weight": 1.0}}})


def test_student_objectives_come_from_the_registry():
    from pipeline.losses import build_objective, distill_methods

    params = default_params(alpha=0.3, beta=0.0, gamma=2.0)
    baseline = build_objective(params, "baseline")
    assert baseline.weights == {"ce": 1.0}
    sakdn = build_objective(params, "sakdn")
    assert sakdn.weights == {"ce": 1.0, "soft_target": 0.3, "gsdm": 0.0, "semantic": 2.0}
    assert sakdn.terms["gsdm"].pairs == [("conv4", "stage5")]
    context = {"embedding_dim": 50, "num_teachers": 2}
    for method in distill_methods():
        if method in ("sakdn", "label_smoothing"):
            continue
        loss = build_objective(params, method, student_channels=[96], teacher_channels=[128], **context)
        assert loss.weights == {"ce": 1.0, method: 1.0}
    smoothing = build_objective(default_params(distill={"label_smoothing": {"epsilon": 0.2}}), "label_smoothing")
    assert smoothing.weights == {"label_smoothing": 1.0} and smoothing.terms["label_smoothing"].epsilon == 0.2
    rkd = build_objective(default_params(distill={"rkd": {"distance_weight": 7.0}}), "rkd")
    assert rkd.terms["rkd"].distance_weight == 7.0
    with pytest.raises(ValueError, match="unknown student objective 'gsdm'"):
        build_objective(params, "gsdm")


def test_extra_terms_join_distillation_objectives_but_not_the_baseline_or_a_control():
    from pipeline.losses import build_objective

    params = default_params(alpha=0.3, distill={"dkd": {"weight": 0.5}, "contrastive": {"weight": 2.0}})
    context = {"embedding_dim": 50, "num_teachers": 2}
    sakdn = build_objective(params, "sakdn", **context)
    assert sakdn.weights == {"ce": 1.0, "soft_target": 0.3, "gsdm": 1.0, "semantic": 1.0, "dkd": 0.5,
                             "contrastive": 2.0}
    assert build_objective(params, "dkd", **context).weights == {"ce": 1.0, "dkd": 1.0, "contrastive": 2.0}
    assert build_objective(params, "baseline").weights == {"ce": 1.0}
    assert build_objective(params, "label_smoothing").weights == {"label_smoothing": 1.0}
    assert "dkd" not in build_objective(default_params(), "sakdn").weights  # weight 0: off


def test_only_feature_map_objectives_read_the_teachers_tap_features():
    """The teacher-output cache leaves tap features on disk unless the objective reads them."""
    from pipeline.losses import build_objective

    context = {"embedding_dim": 50, "num_teachers": 2}
    needs = {method: build_objective(default_params(), method, student_channels=[96], teacher_channels=[128], **context).needs_teacher_features
             for method in ("baseline", "sakdn", "soft_target", "dkd", "contrastive", "rkd", "cc", "fitnet", "at", "sp")}
    assert needs == {"baseline": False, "sakdn": False, "soft_target": False, "dkd": False, "contrastive": False,
                     "rkd": False, "cc": False, "fitnet": True, "at": True, "sp": True}
    for importance, expected in (("channel", False), ("norm", True), ("elementwise", True)):
        params = default_params(distill={"importance": importance})
        assert build_objective(params, "sakdn", **context).needs_teacher_features is expected
    # GSDM without channel importance but weighted 0 is not computed, so reads nothing
    assert not build_objective(default_params(beta=0.0, distill={"importance": "norm"}), "sakdn",
                            **context).needs_teacher_features
