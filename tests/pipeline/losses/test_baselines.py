"""The baseline distillation losses (pipeline/losses/baselines.py: logits, FitNet, AT, RKD, SP,
CC) against hand-computed or independently computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.losses import build_loss
from tests.pipeline.losses.helpers import default_params


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


# ------------------------------------------------------------------ each loss builds itself from params
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
