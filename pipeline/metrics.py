"""Classification metrics (scikit-learn), in percent, the confusion table DVC plots, and the
teachers' calibration (the fitted soft-target temperature and its diagnostics)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F


def classification_metrics(labels, predictions, class_names: list[str]) -> dict:
    """The number of samples scored, accuracy and macro F-measure (over the classes present in
    ``labels``) in percent, per-class accuracy and the confusion matrix (rows: actual,
    columns: predicted)."""
    # Imported here: scikit-learn costs a second at start-up in every stage that imports the
    # experiment module, and only evaluation needs it.
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels, predictions = np.asarray(labels), np.asarray(predictions)
    present = np.unique(labels)
    matrix = confusion_matrix(labels, predictions, labels=np.arange(len(class_names)))
    per_class = {class_names[c]: round(100.0 * matrix[c, c] / matrix[c].sum(), 2) for c in present}
    return {
        "samples": int(len(labels)),  # how many test samples were scored
        "accuracy": round(100.0 * accuracy_score(labels, predictions), 2),
        "f_measure": round(100.0 * f1_score(labels, predictions, labels=present, average="macro", zero_division=0), 2),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def confusion_table(labels, predictions, class_names: list[str]) -> pd.DataFrame:
    """One row per test sample with the actual and predicted class names: DVC's confusion
    template counts them."""
    return pd.DataFrame({"actual": [class_names[i] for i in labels], "predicted": [class_names[i] for i in predictions]})


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


# The soft-target temperature is searched on a log grid of 200 points per decade from 0.05 to
# 50, widened a decade at a time (down to 0.001, up to 1000) while the best is on its edge.
TEMPERATURE_GRID = (0.05, 50.0)
TEMPERATURE_LIMITS = (0.001, 1000.0)
POINTS_PER_DECADE = 200


def temperature_fit(logits: list[torch.Tensor], labels: torch.Tensor) -> dict:
    """The T minimising the mean negative log-likelihood of ``softmax(logits / T)`` over the
    teachers: ``{"temperature", "grid": [low, high], "at_grid_edge"}``. At the edge of the
    widest grid the NLL still falls beyond it (e.g. teachers that separate their training
    recordings perfectly want T -> 0): the value is then a bound, not a fit."""
    low, high = TEMPERATURE_GRID
    while True:
        decades = math.log10(high) - math.log10(low)
        grid = torch.logspace(math.log10(low), math.log10(high), round(decades * POINTS_PER_DECADE) + 1,
                              dtype=torch.float64)
        nll = torch.stack([
            torch.stack([F.cross_entropy(value.double() / t, labels) for t in grid]) for value in logits
        ]).mean(0)
        best = int(nll.argmin())
        if best == 0 and low > TEMPERATURE_LIMITS[0]:
            low = max(low / 10, TEMPERATURE_LIMITS[0])
        elif best == len(grid) - 1 and high < TEMPERATURE_LIMITS[1]:
            high = min(high * 10, TEMPERATURE_LIMITS[1])
        else:
            return {"temperature": float(grid[best]), "grid": [low, high], "at_grid_edge": best in (0, len(grid) - 1)}


def fit_temperature(logits: list[torch.Tensor], labels: torch.Tensor) -> float:
    """``temperature_fit``'s temperature."""
    return temperature_fit(logits, labels)["temperature"]


def teacher_diagnostics(logits: torch.Tensor, labels: torch.Tensor, temperature: float, bins: int = 15) -> dict:
    """Accuracy (%), negative log-likelihood, expected calibration error (``bins`` equal-width
    confidence bins), mean true-class probability and mean entropy (nats) of softmax(logits / T)."""
    probabilities = F.softmax(logits.double() / temperature, dim=1)
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.double().mean().item() * abs(correct[inside].mean().item() - confidence[inside].mean().item())
    entropy = -(probabilities * probabilities.clamp_min(1e-300).log()).sum(1)
    return {"accuracy": round(100 * correct.mean().item(), 2),
            "nll": round(F.nll_loss(probabilities.clamp_min(1e-300).log(), labels).item(), 4),
            "ece": round(ece, 4), "true_class_probability": round(probabilities[torch.arange(len(labels)), labels].mean().item(), 4),
            "entropy": round(entropy.mean().item(), 4)}
