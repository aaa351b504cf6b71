"""pipeline/metrics.py: classification metrics, the fitted temperature and the teachers'
diagnostics (docs/method.md §6b), by hand."""
import math

import pytest
import torch

from pipeline.metrics import classification_metrics, fit_temperature, teacher_diagnostics, temperature_fit


def test_classification_metrics_by_hand():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"])
    assert metrics["accuracy"] == 75.0
    # F1: class a 2*1*0.5/1.5 = 0.667, class b 2*(2/3)*1/(5/3) = 0.8; c is absent from the labels
    assert metrics["f_measure"] == pytest.approx(73.33, abs=0.01)
    assert metrics["per_class_accuracy"] == {"a": 50.0, "b": 100.0}
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]


def test_fitted_temperature_recovers_the_temperature_that_generated_the_labels():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4000, 5, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / 2.0, dim=1), 1, generator=generator).flatten()
    assert fit_temperature([logits], labels) == pytest.approx(2.0, rel=0.1)
    # Over several teachers: the mean NLL; a copy of the same logits changes nothing.
    assert fit_temperature([logits, logits], labels) == pytest.approx(fit_temperature([logits], labels))


def test_teacher_diagnostics_by_hand():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])  # probabilities (0.75, 0.25) and (0.5, 0.5)
    labels = torch.tensor([0, 1])
    d = teacher_diagnostics(logits, labels, temperature=1.0, bins=2)
    assert d["accuracy"] == 50.0  # the tie predicts class 0
    assert d["nll"] == pytest.approx(round(-(math.log(0.75) + math.log(0.5)) / 2, 4))
    assert d["true_class_probability"] == pytest.approx((0.75 + 0.5) / 2)
    entropy = lambda p: -sum(x * math.log(x) for x in p)  # noqa: E731
    assert d["entropy"] == pytest.approx(round((entropy([0.75, 0.25]) + entropy([0.5, 0.5])) / 2, 4))
    # Bins (0, 0.5] and (0.5, 1]: the tie (confidence 0.5, wrong) and the 0.75 (right).
    assert d["ece"] == pytest.approx(0.5 * abs(0 - 0.5) + 0.5 * abs(1 - 0.75))
    # A higher temperature flattens: lower true-class probability, higher entropy.
    hot = teacher_diagnostics(logits, labels, temperature=4.0, bins=2)
    assert hot["entropy"] > d["entropy"]


def test_metrics_count_the_samples_they_scored():
    assert classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])["samples"] == 3


def test_a_temperature_beyond_the_grid_widens_it_and_one_beyond_every_grid_is_flagged():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 5, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / 0.02, dim=1), 1, generator=generator).flatten()
    fit = temperature_fit([logits], labels)  # below 0.05: one decade lower, found inside it
    assert fit["grid"] == [0.005, 50.0] and not fit["at_grid_edge"]
    assert fit["temperature"] == pytest.approx(0.02, rel=0.1)
    inside = temperature_fit([3 * logits], torch.multinomial(torch.softmax(3 * logits / 2.0, 1), 1,
                                                            generator=generator).flatten())
    assert inside["grid"] == [0.05, 50.0] and not inside["at_grid_edge"]
    separable = temperature_fit([10 * torch.eye(5).repeat(4, 1)], torch.arange(5).repeat(4))
    assert separable == {"temperature": pytest.approx(0.001), "grid": [0.001, 50.0], "at_grid_edge": True}
