"""Loss terms against hand-computed or independently computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.losses import LOSSES, WeightedSum, build_loss
from pipeline.losses.common import pool_to_common
from pipeline.losses.sakdn import activation_map, gaussian_graph, sample_importance, semantic_readout


def test_registry_lists_valid_names():
    assert {"ce", "soft_target", "semantic", "gsdm", "logits", "fitnet", "at", "rkd", "sp", "cc"} <= set(LOSSES)
    with pytest.raises(KeyError, match="unknown loss 'kd'; valid: at, cc, ce"):
        build_loss("kd")


def test_soft_target_matches_kl_div():
    torch.manual_seed(0)
    student, teacher_a, teacher_b = torch.randn(5, 7), torch.randn(5, 7), torch.randn(5, 7)
    loss = build_loss("soft_target", temperature=4.0)
    value = loss({"logits": student}, [{"logits": teacher_a}, {"logits": teacher_b}], {})

    def reference(t):
        p_teacher = F.softmax(t / 4, dim=1)
        return 16 * (p_teacher * (p_teacher.log() - F.log_softmax(student / 4, dim=1))).sum(1).mean()

    torch.testing.assert_close(value, (reference(teacher_a) + reference(teacher_b)) / 2)
    assert loss({"logits": student}, [{"logits": student}], {}).abs().item() < 1e-6


def test_semantic_is_mean_mse_over_teachers():
    student = {"semantic": torch.zeros(2, 3)}
    teachers = [{"fc2": torch.ones(2, 3)}, {"fc2": 2 * torch.ones(2, 3)}]
    assert build_loss("semantic")(student, teachers, {}).item() == pytest.approx((1 + 4) / 2)


def test_graph_q_of_three_nodes_by_hand():
    features = torch.tensor([[0.0], [1.0], [3.0]])
    w = torch.tensor([[1, math.exp(-0.5), math.exp(-4.5)],
                      [math.exp(-0.5), 1, math.exp(-2.0)],
                      [math.exp(-4.5), math.exp(-2.0), 1]])
    degree = w.sum(1)
    expected = w / torch.sqrt(degree[:, None] * degree[None, :])
    q = gaussian_graph(features)
    torch.testing.assert_close(q, expected)
    assert torch.linalg.eigvalsh(q).max().item() == pytest.approx(1.0, abs=1e-5)  # normalised adjacency


def test_semantic_readout_soft_and_argmax():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = torch.tensor([[0.0, 0.0], [5.0, 1.0]])
    torch.testing.assert_close(semantic_readout(logits, embeddings)[0], torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(semantic_readout(logits, embeddings, "argmax"), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))


def test_importance_is_the_fraction_lost():
    q = torch.eye(2)
    readout = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    ablated = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    # sample 0 loses nothing, sample 1 loses all of its read-out
    torch.testing.assert_close(sample_importance(q, readout, q, ablated), torch.tensor([0.0, 1.0]))


def test_gsdm_maps_and_pooling_sizes():
    teacher = torch.ones(2, 3, 4, 4)
    teacher[1] = -1
    importance = torch.tensor([1.0, 0.5])
    torch.testing.assert_close(activation_map(teacher, importance), torch.stack([torch.full((4, 4), 3.0), torch.zeros(4, 4)]))
    student = torch.arange(2 * 2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 2, 1, 8, 8)
    student_map = activation_map(student, importance)
    assert student_map.shape == (2, 8, 8)
    torch.testing.assert_close(student_map[0], student[0, :, 0].mean(0))  # averaged over segments
    pooled_student, pooled_teacher = pool_to_common(student_map, activation_map(teacher, importance))
    assert pooled_student.shape == pooled_teacher.shape == (2, 4, 4)
    torch.testing.assert_close(pooled_student[0, 0, 0], student_map[0, :2, :2].mean())  # 2x2 block average


def test_at_against_its_formula():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 5, 5), torch.randn(2, 6, 5, 5)
    loss = build_loss("at", pairs=[("conv5", "layer4")])
    value = loss({"features": {"layer4": s}}, [{"features": {"conv5": t}}], {})
    a_s = F.normalize(s.mean(1).pow(2).mean(1).flatten(1), dim=1)
    a_t = F.normalize(t.pow(2).mean(1).flatten(1), dim=1)
    torch.testing.assert_close(value, (a_s - a_t).pow(2).mean())


def test_rkd_is_invariant_to_scaling_and_zero_for_equal_relations():
    torch.manual_seed(0)
    s, t = torch.randn(6, 4), torch.randn(6, 4)
    loss = build_loss("rkd")
    base = loss({"semantic": s}, [{"fc2": t}], {})
    torch.testing.assert_close(loss({"semantic": 3 * s}, [{"fc2": t}], {}), base)
    assert base.item() > 0
    assert loss({"semantic": 2 * t}, [{"fc2": t}], {}).item() == pytest.approx(0, abs=1e-5)


def test_sp_and_cc_are_zero_for_identical_batches():
    torch.manual_seed(0)
    maps = torch.randn(4, 5, 3, 3)
    student = {"features": {"layer4": maps.unsqueeze(1).expand(4, 2, 5, 3, 3)}, "semantic": torch.randn(4, 6)}
    teacher = {"features": {"conv5": maps}, "fc2": student["semantic"].clone()}
    assert build_loss("sp", pairs=[("conv5", "layer4")])(student, [teacher], {}).item() == pytest.approx(0, abs=1e-6)
    assert build_loss("cc")(student, [teacher], {}).item() == pytest.approx(0, abs=1e-6)
    other = {"features": {"conv5": torch.randn(4, 5, 3, 3)}, "fc2": torch.randn(4, 6)}
    assert build_loss("sp", pairs=[("conv5", "layer4")])(student, [other], {}).item() > 1e-3
    assert build_loss("cc")(student, [other], {}).item() > 1e-4


def test_sp_by_hand():
    student = {"features": {"s": torch.tensor([[[[1.0]]], [[[0.0]]]]).unsqueeze(1).expand(2, 1, 1, 1, 1) + 0}}
    student["features"]["s"] = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(2, 1, 2, 1, 1)  # orthogonal
    teacher = {"features": {"t": torch.tensor([[1.0, 0.0], [1.0, 0.0]]).reshape(2, 2, 1, 1)}}  # identical
    # G_S = I, G_T = all ones (rows normalised: 1/sqrt2); ||G_S - G_T||^2 / 4
    expected = (2 * (1 - 1 / math.sqrt(2)) ** 2 + 2 * (1 / math.sqrt(2)) ** 2) / 4
    assert build_loss("sp", pairs=[("t", "s")])(student, [teacher], {}).item() == pytest.approx(expected)


def test_logits_and_fitnet():
    student = {"logits": torch.zeros(2, 3), "features": {"layer3": torch.randn(2, 2, 4, 8, 8)}}
    teacher = {"logits": torch.ones(2, 3), "features": {"conv4": torch.randn(2, 6, 4, 4)}}
    assert build_loss("logits")(student, [teacher], {}).item() == pytest.approx(1.0)
    fitnet = build_loss("fitnet", pairs=[("conv4", "layer3")], student_channels=[4], teacher_channels=[6])
    value = fitnet(student, [teacher], {})
    value.backward()
    assert fitnet.adapters[0].weight.grad.abs().sum() > 0  # the adapter learns with the student
    with pytest.raises(ValueError, match="one student and one teacher channel count per layer pair"):
        build_loss("fitnet", pairs=[("conv4", "layer3")], student_channels=[4, 5], teacher_channels=[6])


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


def test_gsdm_sample_importance_only_scales_maps_that_the_normalisation_then_unscales():
    """A finding about docs/method.md's recipe, kept visible: the importance w_i is a positive
    scalar per sample, so after the per-sample L2 normalisation the maps (and the loss) do
    not depend on it; only w_i = 0 (a zero map) changes anything."""
    torch.manual_seed(0)
    features = torch.randn(3, 4, 5, 5)
    maps = [F.normalize(activation_map(features, importance).flatten(1), dim=1)
            for importance in (torch.tensor([0.1, 1.0, 7.0]), torch.tensor([3.0, 0.02, 1.0]))]
    torch.testing.assert_close(maps[0], maps[1])


# ------------------------------------------------------------------ each loss builds itself from params
def default_params(**changes) -> dict:
    from pipeline.params import validate_params

    return validate_params(changes)


def rkd_by_hand(s: list, t: list) -> tuple[float, float]:
    """RKD's distance and angle terms with loops: distances normalised by their off-diagonal
    mean, cosines of every (anchor i, j, k) triplet (0 where j or k is i), Huber (beta 1)
    averaged over every entry."""
    n = len(s)

    def distances(x):
        d = [[math.dist(x[i], x[j]) for j in range(n)] for i in range(n)]
        mean = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * n - n)
        return [[d[i][j] / mean for j in range(n)] for i in range(n)]

    def cosines(x):
        def direction(i, j):
            v = [b - a for a, b in zip(x[i], x[j])]
            norm = math.hypot(*v)
            return [c / norm for c in v] if norm > 0 else [0.0] * len(v)
        return [sum(a * b for a, b in zip(direction(i, j), direction(i, k)))
                for i in range(n) for j in range(n) for k in range(n)]

    def huber(a, b):
        pairs = list(zip(a, b))
        return sum(0.5 * (x - y) ** 2 if abs(x - y) < 1 else abs(x - y) - 0.5 for x, y in pairs) / len(pairs)

    ds, dt = distances(s), distances(t)
    distance = huber([v for row in ds for v in row], [v for row in dt for v in row])
    return distance, huber(cosines(s), cosines(t))


def test_rkd_weights_are_params_keys_and_change_the_value_as_by_hand():
    from pipeline.losses import LOSSES

    s, t = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], ]
    distance, angle = rkd_by_hand(s, t)
    assert distance > 0.01 and angle > 0.01
    student, teachers = {"semantic": torch.tensor(s)}, [{"fc2": torch.tensor(t)}]

    default = LOSSES["rkd"].from_params(default_params())
    assert (default.distance_weight, default.angle_weight) == (25.0, 50.0)
    assert default(student, teachers, {}).item() == pytest.approx(25 * distance + 50 * angle, rel=1e-5)
    changed = LOSSES["rkd"].from_params(default_params(distill={"rkd": {"distance_weight": 2.0}}))
    assert changed(student, teachers, {}).item() == pytest.approx(2 * distance + 50 * angle, rel=1e-5)
    only_distance = LOSSES["rkd"].from_params(default_params(distill={"rkd": {"distance_weight": 3.0,
                                                                              "angle_weight": 0.0}}))
    assert only_distance(student, teachers, {}).item() == pytest.approx(3 * distance, rel=1e-5)


def test_at_p_and_cc_gamma_are_params_keys():
    from pipeline.losses import LOSSES

    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 5, 5), torch.randn(2, 6, 5, 5)
    at = LOSSES["at"].from_params(default_params(distill={"at": {"p": 1.0}, "layer_pairs": [["conv5", "stage5"]]}))
    assert at.p == 1.0 and at.pairs == [("conv5", "stage5")]
    value = at({"features": {"stage5": s}}, [{"features": {"conv5": t}}], {})
    a_s = F.normalize(s.mean(1).abs().mean(1).flatten(1), dim=1)
    a_t = F.normalize(t.abs().mean(1).flatten(1), dim=1)
    torch.testing.assert_close(value, (a_s - a_t).pow(2).mean())

    e_s, e_t = torch.randn(4, 6), torch.randn(4, 6)
    cc = LOSSES["cc"].from_params(default_params(distill={"cc": {"gamma": 1.5}}))

    def correlation(e):
        e = F.normalize(e, dim=1)
        return torch.exp(-1.5 * torch.cdist(e, e).pow(2))

    expected = (correlation(e_s) - correlation(e_t)).pow(2).sum() / 16
    torch.testing.assert_close(cc({"semantic": e_s}, [{"fc2": e_t}], {}), expected, rtol=1e-4, atol=1e-6)


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


def test_sakdn_loss_has_no_layer_pair_default():
    import inspect

    from pipeline.distill import sakdn_loss

    assert inspect.signature(sakdn_loss).parameters["gsdm_pairs"].default is inspect.Parameter.empty
    loss = sakdn_loss(0.1, 1.0, 1.0, 4.0, [("conv3", "stage3")], "argmax")
    assert loss.weights == {"ce": 1.0, "soft_target": 0.1, "gsdm": 1.0, "semantic": 1.0}
    assert loss.terms["gsdm"].pairs == [("conv3", "stage3")] and loss.terms["gsdm"].readout == "argmax"
