"""Who labels the student's unlabeled training clips under ``distill.method: pseudo_label``
(docs/method.md §6d), batch by batch: the fused sensor teachers (from their cached outputs),
the frozen baseline student, or the student itself (FixMatch, video only), each above a
confidence threshold, optionally with the student as a second view, with class-balancing
weights. A labeller never sees a label: it reads the teachers' or students' outputs only, and
the clips it labels are those whose label the loader hides."""
from __future__ import annotations

import torch
from torch import Tensor

from pipeline.pseudo_labels import NO_LABEL, ClassBalance, coverage_threshold, thresholded, two_views
from pipeline.workflow.teacher_outputs import TeacherOutputCache


def fused_probabilities(logits: list[Tensor]) -> Tensor:
    """The fused teachers' class probabilities from each branch's logits: the softmax of their
    mean (whose argmax is the fused prediction the teachers are scored by)."""
    return torch.stack([branch.float() for branch in logits]).mean(0).softmax(1)


class PseudoLabeller:
    """``batch(indices, epoch, unlabeled, student)``: (pseudo-labels, weights) of the training
    clips at ``indices``, ``NO_LABEL`` and weight 0 on the labelled ones and where the rules
    give none. ``student``: the student's probabilities on the batch's unlabeled clips, needed
    when ``needs_student`` (labeller student, or second_view)."""

    def __init__(self, settings: dict, num_classes: int, recording_ids: list[str],
                 cache: TeacherOutputCache | None = None, baseline: dict[str, Tensor] | None = None,
                 unlabeled_ids: list[str] | None = None):
        self.labeller, self.settings, self.recording_ids = settings["labeller"], settings, recording_ids
        if self.labeller == "teachers" and cache is None:
            raise ValueError("distill.pseudo_label.labeller: teachers needs the teacher-output cache")
        if self.labeller == "baseline" and baseline is None:
            raise ValueError("distill.pseudo_label.labeller: baseline needs the baseline's logits")
        self.cache, self.baseline, self.num_classes = cache, baseline, num_classes
        self.balance, self.epoch = ClassBalance(num_classes, settings["class_balance"]), 0
        self.threshold = settings["threshold"]
        coverage = settings.get("coverage")
        if coverage is not None and self.labeller != "student":
            # the quantile of the labeller's confidence over every unlabeled recording (no label read)
            pool = sorted(set(unlabeled_ids or []))
            if not pool:
                raise ValueError("distill.pseudo_label.coverage needs the unlabeled recordings")
            self.threshold = coverage_threshold(self.labeller_probabilities(pool, 0), coverage, settings["confidence"])

    @property
    def needs_student(self) -> bool:
        return self.labeller == "student" or self.settings["second_view"]

    def labeller_probabilities(self, ids: list[str], epoch: int) -> Tensor | None:
        """The teachers' or the baseline's probabilities for these recordings (None: the student)."""
        if self.labeller == "teachers":
            return fused_probabilities(self.cache.logits(ids, epoch))
        if self.labeller == "baseline":
            return torch.stack([self.baseline[rid] for rid in ids]).float().softmax(1)
        return None

    def labels(self, ids: list[str], epoch: int, student: Tensor | None) -> Tensor:
        """The rules' pseudo-labels for these recordings' clips (``student``: the student's
        probabilities on them, when it is a view)."""
        settings = self.settings
        if self.needs_student and student is None:
            raise ValueError("the student's probabilities are needed (labeller student or second_view)")
        if self.labeller == "student":
            coverage = settings.get("coverage")  # the student's own labels: the quantile of this batch's confidences
            threshold = (settings["student_threshold"] if coverage is None
                         else coverage_threshold(student, coverage, settings["confidence"]))
            return thresholded(student, threshold, settings["confidence"])
        probabilities = self.labeller_probabilities(ids, epoch)
        if settings["second_view"]:
            return two_views(probabilities, student, self.threshold, settings["student_threshold"],
                             settings["confidence"])
        return thresholded(probabilities, self.threshold, settings["confidence"])

    def batch(self, indices: list[int], epoch: int, unlabeled: Tensor,
              student: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if epoch != self.epoch:  # balance over the epoch's labels so far: a run resumed at an epoch's end agrees
            self.balance, self.epoch = ClassBalance(self.num_classes, self.settings["class_balance"]), epoch
        labels = torch.full((len(indices),), NO_LABEL, dtype=torch.long)
        if unlabeled.any():
            rows = unlabeled.nonzero().flatten().tolist()
            labels[unlabeled] = self.labels([self.recording_ids[indices[i]] for i in rows], epoch, student)
        self.balance.update(labels)
        return labels, self.balance.weights(labels)

    def decisions(self, recording_ids: list[str], student: Tensor | None = None) -> dict[str, int]:
        """{recording: its pseudo-label or NO_LABEL} for these recordings (the first epoch's
        pairing; ``student``: the student's probabilities on them, one row each): what the
        model file records for the reports' coverage and precision."""
        labels = self.labels(list(recording_ids), 0, student) if recording_ids else torch.empty(0, dtype=torch.long)
        return {rid: int(label) for rid, label in zip(recording_ids, labels.tolist())}
