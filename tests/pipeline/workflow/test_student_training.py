"""pipeline/workflow/student_training.py: each term's gradient norm and the student's seed."""
import pytest
import torch

from pipeline.params import validate_params


def test_student_seed_defaults_to_the_top_level_seed_and_is_fingerprinted():
    from pipeline.training import params_subset
    from pipeline.workflow.student_training import BASELINE_PARAMS, student_seed

    params = validate_params({"seed": 3})
    assert params["student"]["seed"] is None and student_seed(params) == 3
    own = validate_params({"seed": 3, "student": {"seed": 7}})
    assert student_seed(own) == 7
    # the checkpoint's fingerprint sees it; the teachers' params (seed, teacher) do not change
    assert params_subset(own, BASELINE_PARAMS) != params_subset(params, BASELINE_PARAMS)
    assert own["seed"] == params["seed"] and own["teacher"] == params["teacher"]


def test_term_gradient_norms_by_hand():
    from pipeline.workflow.student_training import term_gradient_norms

    weight = torch.ones(2, 2, requires_grad=True)
    other = torch.ones(3, requires_grad=True)
    terms = {"ce": (weight * 2).sum(), "semantic": other.sum(), "fixed": torch.tensor(5.0)}
    norms = term_gradient_norms(terms, {"ce": 3.0, "semantic": 1.0, "fixed": 1.0}, weight)
    assert norms["grad_ce"].item() == pytest.approx(3 * 2 * 2)  # d(3 * 2 sum w)/dw = 6 per entry, 4 entries
    assert norms["grad_semantic"].item() == 0.0  # does not reach the parameter
    assert norms["grad_fixed"].item() == 0.0
    terms["ce"].backward()  # the graph survives for the step's own backward
    assert weight.grad is not None
