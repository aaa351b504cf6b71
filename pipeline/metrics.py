"""Classification metrics (scikit-learn), in percent, and the confusion table DVC plots."""
from __future__ import annotations

import numpy as np
import pandas as pd


def classification_metrics(labels, predictions, class_names: list[str]) -> dict:
    """Accuracy and macro F-measure (over the classes present in ``labels``), in percent,
    plus per-class accuracy and the confusion matrix (rows: actual, columns: predicted)."""
    # Imported here: scikit-learn costs a second at start-up in every stage that imports the
    # experiment module, and only evaluation needs it.
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels, predictions = np.asarray(labels), np.asarray(predictions)
    present = np.unique(labels)
    matrix = confusion_matrix(labels, predictions, labels=np.arange(len(class_names)))
    per_class = {class_names[c]: round(100.0 * matrix[c, c] / matrix[c].sum(), 2) for c in present}
    return {
        "accuracy": round(100.0 * accuracy_score(labels, predictions), 2),
        "f_measure": round(100.0 * f1_score(labels, predictions, labels=present, average="macro", zero_division=0), 2),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def confusion_table(labels, predictions, class_names: list[str]) -> pd.DataFrame:
    """One row per test sample with the actual and predicted class names: DVC's confusion
    template counts them."""
    return pd.DataFrame({"actual": [class_names[i] for i in labels], "predicted": [class_names[i] for i in predictions]})
