"""pipeline/pseudo_labels.py: thresholds, the two-view agreement rule, class balance and the
pseudo-labels' coverage and precision, on hand-computed values."""
import pytest
import torch

from pipeline.pseudo_labels import NO_LABEL, ClassBalance, confidence, quality, thresholded, two_views

P = torch.tensor([[0.7, 0.2, 0.1],    # sure of 0: probability 0.7, margin 0.5
                  [0.4, 0.35, 0.25],  # unsure of 0: 0.4, margin 0.05
                  [0.1, 0.1, 0.8]])   # sure of 2: 0.8, margin 0.7


def test_confidence_is_the_top_probability_or_its_margin():
    labels, score = confidence(P, "probability")
    assert labels.tolist() == [0, 0, 2] and score.tolist() == pytest.approx([0.7, 0.4, 0.8])
    labels, score = confidence(P, "margin")
    assert labels.tolist() == [0, 0, 2] and score.tolist() == pytest.approx([0.5, 0.05, 0.7])
    with pytest.raises(ValueError, match="entropy"):
        confidence(P, "entropy")


def test_threshold_keeps_the_argmax_at_or_above_it():
    assert thresholded(P, 0.0).tolist() == [0, 0, 2]  # tau 0: every clip, as without a threshold
    assert thresholded(P, 0.7).tolist() == [0, NO_LABEL, 2]  # 0.7 itself is kept
    assert thresholded(P, 0.75).tolist() == [NO_LABEL, NO_LABEL, 2]
    assert thresholded(P, 0.6, "margin").tolist() == [NO_LABEL, NO_LABEL, 2]
    assert thresholded(P, 1.0).tolist() == [NO_LABEL] * 3


def test_two_views_follow_the_agreement_rule():
    teachers = torch.tensor([[0.9, 0.05, 0.05],   # sure 0, student sure 0: agree -> 0
                             [0.9, 0.05, 0.05],   # sure 0, student sure 1: conflict -> none
                             [0.9, 0.05, 0.05],   # sure 0, student unsure (of 1) -> 0
                             [0.4, 0.3, 0.3],     # unsure, student sure 2 -> 2
                             [0.4, 0.3, 0.3]])    # unsure, student unsure -> none
    student = torch.tensor([[0.96, 0.02, 0.02], [0.02, 0.96, 0.02], [0.3, 0.5, 0.2],
                            [0.01, 0.01, 0.98], [0.5, 0.3, 0.2]])
    assert two_views(teachers, student, 0.8, 0.95).tolist() == [0, NO_LABEL, 0, 2, NO_LABEL]
    # a teacher threshold of 0 makes the teachers always sure: only conflicts drop a clip
    assert two_views(teachers, student, 0.0, 0.95).tolist() == [0, NO_LABEL, 0, NO_LABEL, 0]


def test_class_balance_gives_every_class_the_same_total_weight():
    balance = ClassBalance(4, "inverse_frequency")
    labels = torch.tensor([0, 0, 0, 1, NO_LABEL, 2])
    balance.update(labels)
    # 5 labels over 3 classes: w_0 = 5 / (3 * 3), w_1 = w_2 = 5 / (3 * 1); no label -> 0
    weights = balance.weights(labels)
    assert weights.tolist() == pytest.approx([5 / 9, 5 / 9, 5 / 9, 5 / 3, 0.0, 5 / 3])
    assert weights[labels != NO_LABEL].mean().item() == pytest.approx(1.0)
    for c in (0, 1, 2):
        assert weights[labels == c].sum().item() == pytest.approx(5 / 3)
    balance.update(torch.tensor([1, 1]))  # the counts accumulate: now 3, 3, 1 of 7
    assert balance.weights(torch.tensor([1, 2])).tolist() == pytest.approx([7 / 9, 7 / 3])
    plain = ClassBalance(4)
    plain.update(labels)
    assert plain.weights(labels).tolist() == [1, 1, 1, 1, 0, 1]
    with pytest.raises(ValueError, match="square"):
        ClassBalance(4, "square")


def test_quality_counts_coverage_and_precision_over_the_unlabeled_recordings():
    truth = {"a": 0, "b": 1, "c": 2, "d": 2}
    assigned = {"a": 0, "b": 2, "c": 2, "d": NO_LABEL, "other": 1}  # "other" is not unlabeled
    assert quality(assigned, truth) == {"count": 4, "coverage": 0.75, "precision": pytest.approx(2 / 3)}
    assert quality({k: NO_LABEL for k in truth}, truth) == {"count": 4, "coverage": 0.0, "precision": None}
    with pytest.raises(ValueError, match="no pseudo-label decision for 1"):
        quality({"a": 0, "b": 1, "c": 2}, truth)


def test_coverage_threshold_keeps_the_most_confident_share():
    from pipeline.pseudo_labels import coverage_threshold

    # top probabilities 0.7, 0.4, 0.8 (margins 0.5, 0.05, 0.7)
    assert coverage_threshold(P, 1.0) == pytest.approx(0.4)          # every row
    assert coverage_threshold(P, 0.5) == pytest.approx(0.7)          # ceil(1.5) = 2 rows: 0.8 and 0.7
    assert coverage_threshold(P, 0.3) == pytest.approx(0.8)          # ceil(0.9) = 1 row
    assert coverage_threshold(P, 2 / 3) == pytest.approx(0.7)        # exactly 2 of 3, no rounding up to 3
    assert coverage_threshold(P, 0.5, "margin") == pytest.approx(0.5)
    assert thresholded(P, coverage_threshold(P, 0.5)).tolist() == [0, NO_LABEL, 2]
    tied = torch.tensor([[0.6, 0.4], [0.6, 0.4], [0.9, 0.1]])
    assert (thresholded(tied, coverage_threshold(tied, 0.5)) != NO_LABEL).sum() == 3  # ties at the threshold stay
    with pytest.raises(ValueError, match="coverage must be in"):
        coverage_threshold(P, 0.0)
