"""The rules that turn a labeller's class probabilities into pseudo-labels for unlabeled clips
(``distill.method: pseudo_label``, docs/method.md §6d): a confidence threshold, the agreement
rule of two views (the sensor teachers and the video student), class-balancing weights, and the
pseudo-labels' coverage and precision against the true labels (for reports only: no model or
choice reads them). Pure tensor functions, no I/O."""
from __future__ import annotations

import math

import torch
from torch import Tensor

NO_LABEL = -1  # a clip the labeller leaves without a pseudo-label: no pseudo-label term
CONFIDENCES = ("probability", "margin")
CLASS_BALANCES = ("none", "inverse_frequency")


def confidence(probabilities: Tensor, measure: str = "probability") -> tuple[Tensor, Tensor]:
    """(the argmax class, its confidence) per row of (N, C) probabilities: the top probability,
    or the margin between the top two (0 when they tie, the top one with a single class)."""
    if measure not in CONFIDENCES:
        raise ValueError(f"confidence measure {measure!r} is not one of {', '.join(CONFIDENCES)}")
    top = probabilities.topk(min(2, probabilities.shape[1]), dim=1)
    score = top.values[:, 0] if measure == "probability" or top.values.shape[1] == 1 else \
        top.values[:, 0] - top.values[:, 1]
    return top.indices[:, 0], score


def thresholded(probabilities: Tensor, threshold: float, measure: str = "probability") -> Tensor:
    """The argmax class where the confidence is at least ``threshold``, else ``NO_LABEL``
    (threshold 0: every row keeps its argmax)."""
    labels, score = confidence(probabilities, measure)
    return torch.where(score >= threshold, labels, torch.full_like(labels, NO_LABEL))


def coverage_threshold(probabilities: Tensor, coverage: float, measure: str = "probability") -> float:
    """The confidence threshold that keeps the ``coverage`` most confident share of the rows
    (at least ``ceil(coverage n)`` of them; ties at the threshold are all kept): a threshold
    set by the labeller's own confidences, which need no label, so that one setting means the
    same on labellers whose confidences are on different scales."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    _, score = confidence(probabilities, measure)
    if len(score) == 0:
        return 0.0
    kept = min(len(score), math.ceil(coverage * len(score) - 1e-9))
    return float(score.sort(descending=True).values[kept - 1])


def two_views(teachers: Tensor, student: Tensor, teacher_threshold: float, student_threshold: float,
              measure: str = "probability") -> Tensor:
    """Pseudo-labels from two views of a clip (co-training): where the teachers are confident
    and the student is not, or agrees, the teachers' label; where both are confident and
    disagree, none; where only the student is confident, the student's label; else none."""
    teacher_label = thresholded(teachers, teacher_threshold, measure)
    student_label = thresholded(student, student_threshold, measure)
    teacher_sure, student_sure = teacher_label != NO_LABEL, student_label != NO_LABEL
    conflict = teacher_sure & student_sure & (teacher_label != student_label)
    labels = torch.where(teacher_sure, teacher_label, student_label)
    return torch.where(conflict, torch.full_like(labels, NO_LABEL), labels)


class ClassBalance:
    """Weights of pseudo-labelled clips so that every class weighs the same in total:
    ``w_c = n / (K n_c)`` over the pseudo-labels counted so far (``n`` of them, ``K`` classes
    among them), so the weights of the counted labels average 1. ``none`` weighs every one 1.
    (The labeller counts one epoch at a time.)"""

    def __init__(self, num_classes: int, mode: str = "none"):
        if mode not in CLASS_BALANCES:
            raise ValueError(f"class balance {mode!r} is not one of {', '.join(CLASS_BALANCES)}")
        self.mode = mode
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def update(self, labels: Tensor) -> None:
        kept = labels[labels != NO_LABEL].cpu()
        self.counts += torch.bincount(kept, minlength=len(self.counts)).double()

    def weights(self, labels: Tensor) -> Tensor:
        """(N,) float weights: 0 where there is no pseudo-label."""
        kept = labels != NO_LABEL
        if self.mode == "none":
            return kept.float()
        present = self.counts > 0
        total, classes = self.counts.sum(), present.sum()
        per_class = torch.where(present, total / (classes.clamp_min(1) * self.counts.clamp_min(1)),
                                torch.zeros_like(self.counts)).float().to(labels.device)
        return torch.where(kept, per_class[labels.clamp_min(0)], torch.zeros(len(labels), device=labels.device))


def quality(assigned: dict[str, int], truth: dict[str, int]) -> dict:
    """The pseudo-labels' ``coverage`` (the share of the unlabeled recordings ``truth`` lists
    that got one) and ``precision`` (the share of those that are right; None with none), and
    ``count``, from {recording: pseudo-label or NO_LABEL} and their true labels."""
    missing = sorted(set(truth) - set(assigned))
    if missing:
        raise ValueError(f"no pseudo-label decision for {len(missing)} unlabeled recordings (e.g. {missing[0]})")
    labelled = [rid for rid in truth if assigned[rid] != NO_LABEL]
    right = sum(assigned[rid] == truth[rid] for rid in labelled)
    return {"count": len(truth), "coverage": len(labelled) / len(truth) if truth else None,
            "precision": right / len(labelled) if labelled else None}
