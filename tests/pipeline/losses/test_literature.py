"""DKD, paired contrastive and label smoothing (pipeline/losses/literature.py) against values
computed by hand or independently."""
import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.losses import LOSSES
from pipeline.losses.literature import (DecoupledKD, LabelSmoothing, PairedContrastive, dkd_loss,
                                        mean_non_target_mass)
from pipeline.params import validate_params


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_registered_as_methods_except_label_smoothing():
    assert LOSSES["dkd"] is DecoupledKD and LOSSES["dkd"].method
    assert LOSSES["contrastive"] is PairedContrastive and LOSSES["contrastive"].method
    assert LOSSES["label_smoothing"] is LabelSmoothing and not LOSSES["label_smoothing"].method


# --- DKD -------------------------------------------------------------------------------------

# Two samples, 3 classes, T = 2. Row 0 (label 0): student / T = [1, 0, 2], teacher / T = [2, 1, 0].
# Row 1 (label 2, the last column removed): student / T = [0, 1, -1], teacher / T = [1, -1, 0.5].
STUDENT = torch.tensor([[2.0, 0.0, 4.0], [0.0, 2.0, -2.0]])
TEACHER = torch.tensor([[4.0, 2.0, 0.0], [2.0, -2.0, 1.0]])
LABELS = torch.tensor([0, 2])


def dkd_by_hand(student, teacher, label):
    """(TCKD, NCKD) of one row of logits already divided by T."""
    p_s, p_t = softmax(student), softmax(teacher)
    tckd = kl([p_t[label], 1 - p_t[label]], [p_s[label], 1 - p_s[label]])
    rest = [c for c in range(len(student)) if c != label]
    nckd = kl(softmax([teacher[c] for c in rest]), softmax([student[c] for c in rest]))
    return tckd, nckd


def test_dkd_three_classes_by_hand():
    rows = [dkd_by_hand([1, 0, 2], [2, 1, 0], 0), dkd_by_hand([0, 1, -1], [1, -1, 0.5], 2)]
    tckd = sum(r[0] for r in rows) / 2
    nckd = sum(r[1] for r in rows) / 2
    assert tckd > 0 and nckd > 0
    assert dkd_loss(STUDENT, TEACHER, LABELS, 2.0, 1.0, 0.0).item() == pytest.approx(4 * tckd, rel=1e-5)
    assert dkd_loss(STUDENT, TEACHER, LABELS, 2.0, 0.0, 1.0).item() == pytest.approx(4 * nckd, rel=1e-5)
    total = dkd_loss(STUDENT, TEACHER, LABELS, 2.0, 1.0, 8.0).item()
    assert total == pytest.approx(4 * (tckd + 8 * nckd), rel=1e-5)


def test_dkd_non_target_term_equals_the_official_minus_1000_mask():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 5, (6,))
    mask = F.one_hot(labels, 5).float() * 1000.0
    log_s = F.log_softmax(student / 3 - mask, dim=1)
    p_t = F.softmax(teacher / 3 - mask, dim=1)
    official = 9 * F.kl_div(log_s, p_t, reduction="batchmean")
    torch.testing.assert_close(dkd_loss(student, teacher, labels, 3.0, 0.0, 1.0), official)


def test_dkd_is_zero_when_the_student_matches_the_teacher():
    assert dkd_loss(TEACHER, TEACHER, LABELS, 2.0, 1.0, 8.0).abs().item() < 1e-6


def test_dkd_target_term_sees_only_the_target_probability():
    # Same logsumexp of the non-target logits, so the same p_target, another non-target shape.
    c = math.log((math.exp(0) + math.exp(2)) / 2)
    a, b = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[1.0, c, c]])
    teacher, label = torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0])
    assert softmax([1, 0, 2])[0] == pytest.approx(softmax([1, c, c])[0])
    torch.testing.assert_close(dkd_loss(a, teacher, label, 1.0, 1.0, 0.0), dkd_loss(b, teacher, label, 1.0, 1.0, 0.0))
    with_nckd = [dkd_loss(x, teacher, label, 1.0, 1.0, 8.0).item() for x in (a, b)]
    assert with_nckd[0] != pytest.approx(with_nckd[1])


def test_dkd_from_params_and_mean_over_teachers():
    params = validate_params({})
    params["temperature"] = 2.0
    params["distill"]["dkd"].update(target_weight=0.5, non_target_weight=3.0)
    loss = LOSSES["dkd"].from_params(params, embedding_dim=7)  # unrelated context is ignored
    assert (loss.temperature, loss.target_weight, loss.non_target_weight) == (2.0, 0.5, 3.0)
    other = TEACHER.flip(1)
    value = loss({"logits": STUDENT}, [{"logits": TEACHER}, {"logits": other}], {"labels": LABELS})
    expected = (dkd_loss(STUDENT, TEACHER, LABELS, 2.0, 0.5, 3.0) + dkd_loss(STUDENT, other, LABELS, 2.0, 0.5, 3.0)) / 2
    torch.testing.assert_close(value, expected)


# --- paired contrastive ----------------------------------------------------------------------

def identity_heads(loss: PairedContrastive) -> PairedContrastive:
    with torch.no_grad():
        for head in [loss.student_projection, *loss.teacher_projections]:
            head.weight.copy_(torch.eye(head.weight.shape[0]))
            head.bias.zero_()
    return loss


def test_contrastive_paired_beats_shuffled_by_hand():
    loss = identity_heads(PairedContrastive(4, 4, 1, dimension=4, temperature=0.5))
    rows = torch.eye(4)
    paired = loss({"semantic": rows}, [{"fc2": rows}], {}).item()
    shuffled = loss({"semantic": rows}, [{"fc2": rows[[1, 2, 3, 0]]}], {}).item()
    # cosine 1 with its own row, 0 with the others; logits 1 / 0.5 = 2 and 0.
    assert paired == pytest.approx(math.log(1 + 3 * math.exp(-2)), rel=1e-5)
    assert shuffled == pytest.approx(math.log(math.exp(2) + 3), rel=1e-5)
    assert paired < shuffled


def test_contrastive_over_the_bank_matches_cross_entropy_and_trains_the_heads_only():
    torch.manual_seed(0)
    loss = PairedContrastive(5, 5, 2, dimension=3, temperature=0.1)
    semantic = torch.randn(3, 5, requires_grad=True)
    bank = torch.randn(6, 5, requires_grad=True)
    index = torch.tensor([4, 0, 2])
    fc2 = torch.randn(3, 5)
    teachers = [{"fc2": bank[index], "fc2_bank": bank, "bank_index": index}, {"fc2": fc2}]
    value = loss({"semantic": semantic}, teachers, {})

    def info_nce(head, candidates, positive):
        z_s = loss.student_projection(semantic)
        z_s = z_s / z_s.norm(dim=1, keepdim=True)
        z_c = head(candidates)
        z_c = z_c / z_c.norm(dim=1, keepdim=True)
        logits = z_s @ z_c.t() / 0.1
        return -(logits[torch.arange(3), positive] - logits.logsumexp(dim=1)).mean()

    expected = (info_nce(loss.teacher_projections[0], bank, index)
                + info_nce(loss.teacher_projections[1], fc2, torch.arange(3))) / 2
    torch.testing.assert_close(value, expected)
    value.backward()
    assert bank.grad is None  # the cache is a constant
    assert semantic.grad.abs().sum() > 0
    for head in [loss.student_projection, *loss.teacher_projections]:
        assert head.weight.grad.abs().sum() > 0


def test_contrastive_from_params_needs_the_models_dimensions():
    params = validate_params({})
    with pytest.raises(ValueError, match="embedding_dim"):
        LOSSES["contrastive"].from_params(params, num_teachers=2)
    with pytest.raises(ValueError, match="num_teachers"):
        LOSSES["contrastive"].from_params(params, embedding_dim=50)
    params["distill"]["contrastive"].update(dimension=16, temperature=0.2)
    loss = LOSSES["contrastive"].from_params(params, embedding_dim=50, num_teachers=2)
    assert (loss.student_projection.in_features, loss.student_projection.out_features) == (50, 16)
    assert [(h.in_features, h.out_features) for h in loss.teacher_projections] == [(50, 16), (50, 16)]
    assert loss.temperature == 0.2
    with pytest.raises(ValueError, match="built for 2 teachers, got 1"):
        loss({"semantic": torch.randn(2, 50)}, [{"fc2": torch.randn(2, 50)}], {})


# --- label smoothing -------------------------------------------------------------------------

LOGITS, LABEL = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([0])


def test_label_smoothing_by_hand():
    log_p = [math.log(p) for p in softmax([1, 0, -1])]
    expected = -(0.7 * log_p[0] + 0.15 * log_p[1] + 0.15 * log_p[2])
    value = LabelSmoothing(0.3)({"logits": LOGITS}, [], {"labels": LABEL})
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(4, 5), torch.tensor([0, 3, 4, 1])
    torch.testing.assert_close(LabelSmoothing(0.0)({"logits": logits}, [], {"labels": labels}),
                               F.cross_entropy(logits, labels))


def test_label_smoothing_differs_from_torchs():
    ours = LabelSmoothing(0.3)({"logits": LOGITS}, [], {"labels": LABEL})
    # torch spreads eps over all C classes: q = [1 - 0.3 + 0.1, 0.1, 0.1], not [0.7, 0.15, 0.15].
    theirs = F.cross_entropy(LOGITS, LABEL, label_smoothing=0.3)
    torch.testing.assert_close(theirs, F.cross_entropy(LOGITS, torch.tensor([[0.8, 0.1, 0.1]])))
    torch.testing.assert_close(ours, F.cross_entropy(LOGITS, torch.tensor([[0.7, 0.15, 0.15]])))
    assert abs(ours.item() - theirs.item()) > 1e-2
    # Equal once torch's eps is rescaled by C / (C - 1).
    torch.testing.assert_close(ours, F.cross_entropy(LOGITS, LABEL, label_smoothing=0.3 * 3 / 2))


def test_label_smoothing_from_params_and_auto():
    params = validate_params({})
    assert LOSSES["label_smoothing"].from_params(params).epsilon == 0.1
    params["distill"]["label_smoothing"]["epsilon"] = "auto"
    assert LOSSES["label_smoothing"].from_params(params, non_target_mass=0.25).epsilon == 0.25
    with pytest.raises(ValueError, match="epsilon auto needs the teachers' outputs"):
        LOSSES["label_smoothing"].from_params(params)


def test_mean_non_target_mass_by_hand():
    logits, labels = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 1])
    expected = ((1 - math.e / (math.e + 2)) + (1 - 1 / 3)) / 2  # T = 2: row 0 / T = [1, 0, 0]
    assert mean_non_target_mass(logits, labels, 2.0) == pytest.approx(expected, rel=1e-6)


def test_float32_under_bfloat16_autocast():
    contrastive = PairedContrastive(4, 4, 1, dimension=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = [dkd_loss(STUDENT.bfloat16(), TEACHER.bfloat16(), LABELS, 2.0),
                  contrastive({"semantic": torch.randn(3, 4).bfloat16()}, [{"fc2": torch.randn(3, 4)}], {}),
                  LabelSmoothing(0.1)({"logits": LOGITS.bfloat16()}, [], {"labels": LABEL})]
    assert all(v.dtype == torch.float32 for v in values)


def test_dkd_is_never_negative_at_the_fitted_temperatures_ends():
    from pipeline.losses.literature import dkd_loss
    from pipeline.metrics import TEMPERATURE_LIMITS

    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        student, teacher = torch.randn(16, 27, generator=generator), torch.randn(16, 27, generator=generator)
        labels = torch.randint(0, 27, (16,), generator=generator)
        for temperature in TEMPERATURE_LIMITS:
            assert dkd_loss(student, teacher, labels, temperature).item() >= 0
            assert dkd_loss(student, student, labels, temperature).item() == 0.0
