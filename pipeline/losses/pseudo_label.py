"""The pseudo-label term (docs/method.md §6d): cross-entropy of the student on the unlabeled
clips a labeller gave a pseudo-label, each weighted (class balance), summed and divided by the
batch's unlabeled clips, labelled or not (FixMatch's normalisation: a labeller that keeps fewer
clips weighs less). The pseudo-labels come in ``targets``, not from the teachers' outputs, so
the same term serves the sensor teachers and a video-only labeller."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pipeline.losses.registry import Loss, register_loss
from pipeline.pseudo_labels import NO_LABEL


@register_loss("pseudo_label")
class PseudoLabel(Loss):
    """``sum_i w_i CE(s_i, y_i) / n_u`` over the batch's unlabeled clips with a pseudo-label
    ``y_i >= 0`` (``targets['pseudo_labels']``, weights ``targets['pseudo_weights']``), ``n_u``
    the batch's unlabeled clips (``targets['labeled']`` False); 0, with a gradient, without any."""

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        logits = student["logits"]
        labels = targets.get("pseudo_labels")
        if labels is None:
            raise ValueError("the pseudo_label term needs targets['pseudo_labels'] (the labeller's)")
        weights = targets.get("pseudo_weights")
        if weights is None:
            weights = (labels != NO_LABEL).float()
        labeled = targets.get("labeled")
        unlabeled = len(labels) if labeled is None else int((~labeled).sum())
        kept = labels != NO_LABEL
        if unlabeled == 0 or not kept.any():
            return logits.sum() * 0
        losses = F.cross_entropy(logits[kept].float(), labels[kept], reduction="none")
        return (weights[kept].float() * losses).sum() / unlabeled
