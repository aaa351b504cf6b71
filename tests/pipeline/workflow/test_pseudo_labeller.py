"""pipeline/workflow/pseudo_labeller.py: each labeller's pseudo-labels of a batch's unlabeled
clips, by hand, from fake teacher outputs and baseline logits."""
import math

import pytest
import torch

from pipeline.params import validate_params
from pipeline.pseudo_labels import NO_LABEL
from pipeline.workflow.pseudo_labeller import PseudoLabeller, fused_probabilities

LOG = {"sure0": [math.log(8), 0.0, 0.0], "sure2": [0.0, 0.0, math.log(18)], "unsure1": [0.0, math.log(1.5), 0.0]}
# softmax: sure0 -> (0.8, 0.1, 0.1); sure2 -> (0.05, 0.05, 0.9); unsure1 -> (2/7, 3/7, 2/7)


class FakeCache:
    """Two branches whose logits average to LOG[recording]; records what it was asked."""

    def __init__(self):
        self.asked = []

    def logits(self, ids, epoch):
        self.asked.append((list(ids), epoch))
        rows = torch.tensor([LOG[rid] for rid in ids])
        return [rows + 1.0, rows - 1.0]


def settings(**update) -> dict:
    return validate_params({"splits": {"labeled_fraction": 0.5},
                            "distill": {"method": "pseudo_label", "pseudo_label": update}})["distill"]["pseudo_label"]


RECORDINGS = ["sure0", "sure2", "unsure1", "labelled"]
UNLABELED = torch.tensor([True, True, True, False])


def test_fused_probabilities_are_the_softmax_of_the_mean_logits():
    probabilities = fused_probabilities(FakeCache().logits(["sure0"], 0))
    assert probabilities[0].tolist() == pytest.approx([0.8, 0.1, 0.1])


def test_teachers_above_the_threshold_label_unlabeled_clips_only():
    cache = FakeCache()
    labeller = PseudoLabeller(settings(threshold=0.5), 3, RECORDINGS, cache)
    labels, weights = labeller.batch([0, 1, 2, 3], epoch=4, unlabeled=UNLABELED)
    assert labels.tolist() == [0, 2, NO_LABEL, NO_LABEL] and weights.tolist() == [1, 1, 0, 0]
    assert cache.asked == [(["sure0", "sure2", "unsure1"], 4)]  # never the labelled clip's recording
    everything = PseudoLabeller(settings(threshold=0.0), 3, RECORDINGS, FakeCache())
    assert everything.batch([0, 1, 2, 3], 0, UNLABELED)[0].tolist() == [0, 2, 1, NO_LABEL]
    assert not labeller.needs_student


def test_teachers_with_the_student_as_second_view():
    labeller = PseudoLabeller(settings(threshold=0.5, second_view=True, student_threshold=0.9), 3, RECORDINGS,
                              FakeCache())
    assert labeller.needs_student
    student = torch.tensor([[0.02, 0.96, 0.02],   # sure of 1 against the teachers' sure 0: none
                            [0.3, 0.3, 0.4],      # unsure: the teachers' 2
                            [0.95, 0.03, 0.02]])  # sure of 0 where the teachers are unsure: 0
    labels, _ = labeller.batch([0, 1, 2, 3], 0, UNLABELED, student)
    assert labels.tolist() == [NO_LABEL, 2, 0, NO_LABEL]
    with pytest.raises(ValueError, match="student's probabilities are needed"):
        labeller.batch([0, 1, 2, 3], 0, UNLABELED)


def test_video_only_labellers_never_need_the_teacher_outputs():
    baseline = {"sure0": torch.tensor([0.0, 3.0, 0.0]), "sure2": torch.tensor([0.0, 0.0, 0.1]),
                "unsure1": torch.tensor([2.0, 0.0, 0.0])}
    labeller = PseudoLabeller(settings(labeller="baseline", threshold=0.6), 3, RECORDINGS, baseline=baseline)
    # softmax(0, 3, 0) = 0.91 -> 1; softmax(0, 0, 0.1) = 0.35 -> none; softmax(2, 0, 0) = 0.79 -> 0
    assert labeller.batch([0, 1, 2, 3], 0, UNLABELED)[0].tolist() == [1, NO_LABEL, 0, NO_LABEL]
    student = PseudoLabeller(settings(labeller="student", student_threshold=0.9), 3, RECORDINGS)
    view = torch.tensor([[0.92, 0.04, 0.04], [0.5, 0.4, 0.1], [0.0, 0.0, 1.0]])
    assert student.batch([0, 1, 2, 3], 0, UNLABELED, view)[0].tolist() == [0, NO_LABEL, 2, NO_LABEL]
    with pytest.raises(ValueError, match="teacher-output cache"):
        PseudoLabeller(settings(), 3, RECORDINGS)


def test_class_balance_weights_follow_the_labels_so_far():
    labeller = PseudoLabeller(settings(class_balance="inverse_frequency"), 3, ["sure0", "sure0", "sure2"],
                              FakeCache())
    labels, weights = labeller.batch([0, 1, 2], 0, torch.tensor([True, True, True]))
    assert labels.tolist() == [0, 0, 2] and weights.tolist() == pytest.approx([0.75, 0.75, 1.5])
    # the same epoch accumulates (4 of 0, 1 of 2); a new epoch counts afresh (a resumed run agrees)
    assert labeller.batch([0, 1], 0, torch.tensor([True, True]))[1].tolist() == pytest.approx([5 / 8, 5 / 8])
    assert labeller.batch([0, 2], 1, torch.tensor([True, True]))[1].tolist() == pytest.approx([1.0, 1.0])


def test_decisions_per_recording():
    labeller = PseudoLabeller(settings(threshold=0.85), 3, RECORDINGS, FakeCache())
    assert labeller.decisions(["sure0", "sure2", "unsure1"]) == {"sure0": NO_LABEL, "sure2": 2, "unsure1": NO_LABEL}
    assert labeller.decisions([]) == {}


def test_coverage_sets_the_threshold_from_the_unlabeled_pool_without_labels():
    cache = FakeCache()
    # confidences over the pool: sure2 0.9, sure0 0.8, unsure1 3/7: a coverage of 0.6 keeps 2 of 3
    labeller = PseudoLabeller(settings(coverage=0.6), 3, RECORDINGS, cache, unlabeled_ids=["unsure1", "sure0", "sure2"])
    assert labeller.threshold == pytest.approx(0.8)
    assert cache.asked[0] == (["sure0", "sure2", "unsure1"], 0)  # the pool, in a fixed order
    assert labeller.batch([0, 1, 2, 3], 0, UNLABELED)[0].tolist() == [0, 2, NO_LABEL, NO_LABEL]
    # the student labels the most confident share of each batch's unlabeled clips
    student = PseudoLabeller(settings(labeller="student", coverage=0.5), 3, RECORDINGS)
    view = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    assert student.batch([0, 1, 2, 3], 0, UNLABELED, view)[0].tolist() == [NO_LABEL, 1, 2, NO_LABEL]
