"""SAKDN's loss terms (pipeline/losses/sakdn.py) against hand-computed or independently computed
values, and GSDM's temporal alignment (docs/method.md §5): the teacher's GAF map as a time
profile read at the clip positions of the student's sampled frames."""
import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.losses import build_loss
from pipeline.losses.common import pool_to_common
from pipeline.losses.sakdn import (GraphSemanticMapping, activation_map, gaussian_graph, sample_importance,
                                   semantic_readout, time_profile_at)


# ------------------------------------------------------------------ temporal alignment
def banded_gaf_map(cells=8, band=2):
    """A GAF map bright where either instant is in time cell ``band`` (a GAF image's row and column)."""
    gaf_map = torch.zeros(1, cells, cells)
    gaf_map[0, band, :] = 1.0
    gaf_map[0, :, band] = 1.0
    return gaf_map


def test_a_bright_time_band_peaks_at_the_segment_that_samples_it():
    positions = torch.tensor([[0.0625, 0.3125, 0.5625, 0.8125]])  # frame centres of 4 segments
    profile = time_profile_at(banded_gaf_map(band=2), positions)  # band 2 of 8 = [0.25, 0.375)
    assert int(profile.argmax()) == 1
    later = time_profile_at(banded_gaf_map(band=6), positions)
    assert int(later.argmax()) == 3


def test_time_profile_interpolates_between_cell_centres_by_hand():
    gaf_map = torch.diag_embed(torch.tensor([[0.0, 2.0]]))  # 2 cells; profile (row + column means) / 2 = [0, 1]
    positions = torch.tensor([[0.25, 0.5, 0.75, 0.0, 1.0]])  # centres at 0.25 and 0.75
    torch.testing.assert_close(time_profile_at(gaf_map, positions), torch.tensor([[0.0, 0.5, 1.0, 0.0, 1.0]]))


def temporal_loss(student_bright_frame: int, importance="channel") -> float:
    """GSDM (temporal) between a teacher whose GAF map lights time cell 2 of 8 and a student
    whose map lights one of its 4 sampled frames."""
    term = GraphSemanticMapping([("conv4", "stage5")], importance=importance, align="temporal")
    teacher_features = banded_gaf_map().unsqueeze(1)  # (1, C=1, 8, 8)
    student_features = torch.full((1, 4, 1, 2, 2), 0.1)
    student_features[0, student_bright_frame] = 1.0
    teacher = {"logits": torch.zeros(1, 2), "fc2": torch.zeros(1, 3), "features": {"conv4": teacher_features},
               "gsdm_maps": {"conv4": teacher_features[:, 0]}}
    student = {"logits": torch.zeros(1, 2), "semantic": torch.zeros(1, 3), "features": {"stage5": student_features},
               "gsdm_weights": {"stage5": torch.ones(1, 1)}}
    targets = {"labels": torch.tensor([0]), "class_embeddings": torch.ones(2, 3),
               "segment_positions": torch.tensor([[0.0625, 0.3125, 0.5625, 0.8125]])}
    return term(student, [teacher], targets).item()


def test_temporal_gsdm_is_lowest_when_the_students_bright_frame_is_the_teachers_bright_time():
    losses = [temporal_loss(frame) for frame in range(4)]
    assert int(torch.tensor(losses).argmin()) == 1


def test_temporal_gsdm_needs_the_segment_positions():
    term = GraphSemanticMapping([("conv4", "stage5")], align="temporal")
    assert term.needs_segment_positions
    with pytest.raises(KeyError, match="segment_positions"):
        term._float32_forward({}, [{}], torch.ones(2, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="align must be one of"):
        GraphSemanticMapping([("conv4", "stage5")], align="diagonal")


# ------------------------------------------------------------------ the loss terms
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


def test_gsdm_sample_importance_only_scales_maps_that_the_normalisation_then_unscales():
    """A finding about docs/method.md's recipe, kept visible: the importance w_i is a positive
    scalar per sample, so after the per-sample L2 normalisation the maps (and the loss) do
    not depend on it; only w_i = 0 (a zero map) changes anything."""
    torch.manual_seed(0)
    features = torch.randn(3, 4, 5, 5)
    maps = [F.normalize(activation_map(features, importance).flatten(1), dim=1)
            for importance in (torch.tensor([0.1, 1.0, 7.0]), torch.tensor([3.0, 0.02, 1.0]))]
    torch.testing.assert_close(maps[0], maps[1])


@pytest.mark.parametrize("seed", range(5))
def test_soft_targets_are_never_negative_and_exact_at_the_fitted_temperatures_ends(seed):
    from pipeline.losses.sakdn import soft_target_kl
    from pipeline.metrics import TEMPERATURE_LIMITS

    generator = torch.Generator().manual_seed(seed)
    student, teacher = torch.randn(16, 27, generator=generator) * 3, torch.randn(16, 27, generator=generator) * 3
    low, high = TEMPERATURE_LIMITS
    # T -> infinity: softmax(z / T) ~ (1 + (z_i - mean z) / T) / C, so T^2 KL -> sum_i (d_i - mean d)^2 / (2 C)
    # with d = t - s (the next term is O(1 / T))
    d = teacher - student
    limit = ((d - d.mean(1, keepdim=True)) ** 2).sum(1).mean() / (2 * d.shape[1])
    value = soft_target_kl(student, teacher, high)
    assert value.item() >= 0 and value.item() == pytest.approx(limit.item(), rel=1e-2)
    # T -> 0: the teacher is one-hot at its argmax a, and T^2 KL -> T (max_j s_j - s_a)
    a = teacher.argmax(1)
    limit = low * (student.max(1).values - student.gather(1, a[:, None]).squeeze(1)).mean()
    assert soft_target_kl(student, teacher, low).item() == pytest.approx(limit.item(), rel=1e-6, abs=1e-12)
    # the same logits: exactly 0, never a rounding error below it
    for temperature in (low, 1.0, high):
        assert soft_target_kl(student, student, temperature).item() == 0.0
