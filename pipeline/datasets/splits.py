"""Split protocols as pure functions of the manifest.

A protocol holds out the samples whose value in one manifest column is in a test set
(``cross_subject`` holds out subjects, ``cross_view`` camera views, ...). Each adapter
declares its protocols in ``SPLITS``; the generic four work on any manifest that has the
column. A validation subset is then carved from the *training recordings* (never from test),
stratified by class, so every view of a recording lands on the same side.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import InputError

TRAIN, VAL, TEST = "train", "val", "test"

# Protocol -> manifest column it splits on; which values are test comes from the adapter.
GENERIC_PROTOCOLS = {
    "cross_subject": "subject",
    "cross_view": "view",
    "cross_scene": "scene",
    "cross_session": "session",
}


def dataset_protocols(dataset: str) -> dict[str, tuple[str, list]]:
    from pipeline.datasets import get_adapter

    return dict(get_adapter(dataset).SPLITS)


def check_protocols(dataset: str, protocols: list[str]) -> str | None:
    """Return an error message if a protocol is unknown for this dataset, else None."""
    try:
        known = dataset_protocols(dataset)
    except (ValueError, ImportError):
        return None  # the dataset key itself is reported elsewhere
    unknown = [name for name in protocols if name not in known]
    if unknown:
        return f"{unknown[0]!r} is not a protocol of dataset {dataset!r} (has: {', '.join(known)})"
    if len(set(protocols)) != len(protocols):
        return "lists a protocol twice"
    return None


def hold_out(manifest: pd.DataFrame, column: str, test_values) -> pd.Series:
    """'test' where ``manifest[column]`` is in ``test_values``, else 'train'."""
    if column not in manifest.columns:
        raise InputError(f"cannot split on {column!r}: not a manifest column")
    values = manifest[column]
    if values.isna().any():
        raise InputError(f"cannot split on {column!r}: {int(values.isna().sum())} samples lack it")
    is_test = values.isin(list(test_values))
    if is_test.all() or not is_test.any():
        raise InputError(f"split on {column!r} with test values {list(test_values)} leaves one side empty")
    return pd.Series(np.where(is_test, TEST, TRAIN), index=manifest.index, name=column)


def carve_validation(
    manifest: pd.DataFrame, assignment: pd.Series, fraction: float, seed: int
) -> pd.Series:
    """Move ``fraction`` of each class's training recordings to 'val' (whole recordings)."""
    assignment = assignment.copy()
    if fraction <= 0:
        return assignment
    rng = np.random.default_rng(seed)
    training = manifest[assignment == TRAIN]
    recordings = training.drop_duplicates("recording_id")[["recording_id", "label"]]
    chosen = []
    for _, group in recordings.groupby("label", sort=True):
        ids = np.sort(group["recording_id"].to_numpy())
        count = int(round(fraction * len(ids)))
        if len(ids) > 1:
            count = min(max(count, 1), len(ids) - 1)  # keep >= 1 training recording per class
        else:
            count = 0
        chosen.extend(rng.choice(ids, size=count, replace=False).tolist())
    assignment[manifest["recording_id"].isin(chosen) & (assignment == TRAIN)] = VAL
    return assignment


def make_splits(
    manifest: pd.DataFrame, dataset: str, protocols: list[str], val_fraction: float, seed: int
) -> pd.DataFrame:
    """One column per protocol with 'train' / 'val' / 'test' for every sample."""
    known = dataset_protocols(dataset)
    table = pd.DataFrame({"sample_id": manifest["sample_id"]})
    for name in protocols:
        if name not in known:
            raise InputError(f"{name!r} is not a protocol of {dataset!r} (has: {', '.join(known)})")
        column, test_values = known[name]
        if callable(test_values):  # a rule over the values present, e.g. "the last view"
            test_values = test_values(sorted(manifest[column].dropna().unique().tolist()))
        table[name] = carve_validation(manifest, hold_out(manifest, column, test_values), val_fraction, seed)
    return table
