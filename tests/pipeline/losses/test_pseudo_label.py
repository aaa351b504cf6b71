"""pipeline/losses/pseudo_label.py: the weighted cross-entropy on pseudo-labelled clips, divided
by the batch's unlabeled clips, by hand."""
import math

import pytest
import torch

from pipeline.losses import build_objective, objective_terms
from pipeline.losses.pseudo_label import PseudoLabel
from pipeline.params import ParamsError, validate_params
from pipeline.pseudo_labels import NO_LABEL


def test_pseudo_label_term_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 3.0], [5.0, 5.0]], requires_grad=True)
    labeled = torch.tensor([True, False, False, False])
    pseudo = torch.tensor([NO_LABEL, 0, 1, NO_LABEL])  # the labelled row and one unlabeled get none
    weights = torch.tensor([0.0, 2.0, 0.5, 0.0])
    value = PseudoLabel()({"logits": logits}, [], {"labels": torch.tensor([1, -1, -1, -1]), "labeled": labeled,
                                                   "pseudo_labels": pseudo, "pseudo_weights": weights})
    ce_row1 = math.log(2)  # uniform over two classes
    ce_row2 = math.log(1 + math.exp(-2))  # class 1 at logit 3 against 1
    assert value.item() == pytest.approx((2.0 * ce_row1 + 0.5 * ce_row2) / 3)  # 3 unlabeled clips
    value.backward()
    assert logits.grad[0].abs().sum() == 0 and logits.grad[3].abs().sum() == 0


def test_pseudo_label_term_is_zero_with_a_gradient_without_labels():
    logits = torch.randn(3, 4, requires_grad=True)
    value = PseudoLabel()({"logits": logits}, [], {"labels": torch.tensor([0, 1, 2]),
                                                   "pseudo_labels": torch.full((3,), NO_LABEL)})
    assert value.item() == 0.0 and value.requires_grad
    with pytest.raises(ValueError, match="pseudo_labels"):
        PseudoLabel()({"logits": logits}, [], {"labels": torch.tensor([0, 1, 2])})


def test_pseudo_label_objective_is_ce_plus_the_weighted_term():
    params = validate_params({"splits": {"labeled_fraction": 0.5},
                              "distill": {"method": "pseudo_label", "pseudo_label": {"weight": 2.5}}})
    assert objective_terms(params, "pseudo_label") == {"ce": 1.0, "pseudo_label": 2.5}
    # the extra terms join teacher objectives only: the pseudo-label method has none, even if asked
    params["distill"]["dkd"]["weight"] = 1.0
    assert objective_terms(params, "pseudo_label") == {"ce": 1.0, "pseudo_label": 2.5}
    assert build_objective(params, "pseudo_label").formula() == "1 * ce + 2.5 * pseudo_label"


@pytest.mark.parametrize("update, message", [
    ({}, "splits.labeled_fraction 1.0 leaves none"),
    ({"splits": {"labeled_fraction": 0.5}, "distill": {"pairing": "shuffled",
                                                       "pseudo_label": {"labeller": "student"}}},
     "distill.pairing: shuffled pairs teacher outputs"),
    ({"splits": {"labeled_fraction": 0.5}, "distill": {"pseudo_label": {"labeller": "student", "second_view": True}}},
     "distill.pseudo_label.second_view: the student is already the labeller"),
    ({"splits": {"labeled_fraction": 0.5}, "distill": {"targets": "teacher_labels"}},
     "distill.targets: teacher_labels is for the soft-target methods"),
    ({"splits": {"labeled_fraction": 0.5}, "distill": {"pseudo_label": {"coverage": 0.5, "threshold": 0.2}}},
     "distill.pseudo_label.coverage: 0.5 sets the threshold itself"),
    ({"splits": {"labeled_fraction": 0.5}, "distill": {"contrastive": {"weight": 0.5}}},
     "distill.contrastive.weight: 0.5 adds a teacher term"),
])
def test_pseudo_label_settings_that_cannot_work_are_refused(update, message):
    update = {**update, "distill": {"method": "pseudo_label", **update.get("distill", {})}}
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        validate_params(update)
