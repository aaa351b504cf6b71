"""Split protocols as pure functions of the manifest.

A protocol holds out the samples whose value in one manifest column is in a test set
(``cross_subject`` holds out subjects, ``cross_view`` camera views, ...). Each adapter
declares its protocols in ``SPLITS``; the generic four work on any manifest that has the
column.

A validation subset is then carved from the training samples (never from test) along the
same axis (docs/method.md §0b), so that validation is unseen in the way test is: whole
training subjects, views, scenes or sessions, or (subject, trial) pairs for a split by
trials. Which units: ``round(fraction x units)`` of them, chosen among candidate subsets for
class coverage and balance, ties broken by the seed. An axis with a single training value
cannot be split; validation then falls back to class-stratified training recordings. Every
protocol's choice is described in a report (``make_splits_with_report``).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from pipeline.errors import InputError

TRAIN, VAL, TEST = "train", "val", "test"
# Training recordings whose label is withheld (``splits.labeled_fraction`` < 1): their clips and
# sensors are seen, their labels never.
UNLABELED = "unlabeled"

# Candidate validation subsets: every combination of units when there are at most
# MAX_ENUMERATED, else RANDOM_CANDIDATES seeded random subsets.
MAX_ENUMERATED = 2000
RANDOM_CANDIDATES = 500

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


# Manifest columns that vary within a recording (one recording, several camera views): a protocol
# on them puts a recording's samples in more than one part.
WITHIN_RECORDING_COLUMNS = ("view",)


def check_protocols(dataset: str, protocols: list[str], labeled_fraction: float = 1.0) -> str | None:
    """Return an error message if a protocol is unknown for this dataset, or splits recordings
    while labels are withheld (``labeled_fraction`` < 1: the label would be read in validation
    or test), else None."""
    try:
        known = dataset_protocols(dataset)
    except (ValueError, ImportError):
        return None  # the dataset key itself is reported elsewhere
    unknown = [name for name in protocols if name not in known]
    if unknown:
        return f"{unknown[0]!r} is not a protocol of dataset {dataset!r} (has: {', '.join(known)})"
    if len(set(protocols)) != len(protocols):
        return "lists a protocol twice"
    if labeled_fraction < 1:
        split = [name for name in protocols if known[name][0] in WITHIN_RECORDING_COLUMNS]
        if split:
            return (f"{split[0]!r} splits recordings by {known[split[0]][0]}, so splits.labeled_fraction "
                    f"{labeled_fraction:g} would read a withheld label in validation or test; use labeled_fraction "
                    "1 or a protocol that splits by recording, subject or trial")
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


def carve_recordings(
    manifest: pd.DataFrame, assignment: pd.Series, fraction: float, seed: int
) -> pd.Series:
    """Move ``fraction`` of each class's training recordings to 'val' (whole recordings;
    at least 1 per class, leaving at least 1; none from a single-recording class). The
    fallback of ``carve_validation`` when the split's axis has a single training value."""
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


def validation_unit(manifest: pd.DataFrame, column: str) -> list[str]:
    """The manifest columns whose values name one validation unit of a split on ``column``.
    Trials are numbered within a subject, so a split by trials carves (subject, trial)
    pairs, an unseen repetition of a seen subject, whenever every sample has a subject."""
    if column == "trial" and "subject" in manifest.columns and manifest["subject"].notna().all():
        return ["subject", "trial"]
    return [column]


def _plain(value):
    """A JSON-ready scalar (numpy and pandas integers become int)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return value


def _unit_keys(rows: pd.DataFrame, unit: list[str]) -> list[tuple]:
    return list(zip(*(map(_plain, rows[column].tolist()) for column in unit)))


def _choose_units(keys: list[tuple], labels: np.ndarray, fraction: float, seed: int) -> list[tuple]:
    """The validation units: ``round(fraction x n)`` of the n units (at least 1, leaving at
    least 1). Among candidate subsets, the first by: most classes left in training; for
    (subject, trial) units, most subjects left in training (validation is then an unseen
    repetition of a seen subject); most classes in validation; smallest total-variation
    distance between the class proportions (in samples) of validation and of what stays in
    training; then a seeded order."""
    units = sorted(set(keys))
    n = len(units)
    count = min(max(int(round(fraction * n)), 1), n - 1)
    classes = np.unique(labels)
    position = {unit: i for i, unit in enumerate(units)}
    counts = np.zeros((n, len(classes)))
    np.add.at(counts, ([position[key] for key in keys], np.searchsorted(classes, labels)), 1)
    rng = np.random.default_rng(seed)
    if math.comb(n, count) <= MAX_ENUMERATED:
        candidates = list(itertools.combinations(range(n), count))
        candidates = [candidates[i] for i in rng.permutation(len(candidates))]
    else:
        drawn = {tuple(sorted(rng.choice(n, size=count, replace=False).tolist())): None
                 for _ in range(RANDOM_CANDIDATES)}
        candidates = list(drawn)
    chosen = np.zeros((len(candidates), n))
    for row, subset in enumerate(candidates):
        chosen[row, list(subset)] = 1
    validation = chosen @ counts
    training = counts.sum(axis=0) - validation
    distance = 0.5 * np.abs(validation / validation.sum(axis=1, keepdims=True)
                            - training / training.sum(axis=1, keepdims=True)).sum(axis=1)
    # Units of a group (the subject of a (subject, trial) pair; each unit its own group
    # otherwise, which makes this key constant) and how many groups keep a training unit.
    groups = np.unique([unit[0] if len(unit) > 1 else i for i, unit in enumerate(units)], return_inverse=True)[1]
    in_group = np.zeros((n, groups.max() + 1))
    in_group[np.arange(n), groups] = 1
    groups_kept = ((1 - chosen) @ in_group > 0).sum(axis=1)
    best = np.lexsort((np.arange(len(candidates)), np.round(distance, 12), -(validation > 0).sum(axis=1),
                       -groups_kept, -(training > 0).sum(axis=1)))[0]
    return [units[i] for i in candidates[best]]


def carve_validation(
    manifest: pd.DataFrame, assignment: pd.Series, column: str, fraction: float, seed: int
) -> tuple[pd.Series, dict]:
    """Move whole training units of the split's axis ``column`` to 'val'; return the new
    assignment and a report of what was done (see ``make_splits_with_report``).

    A unit is a value of ``column``, or a (subject, trial) pair for ``column='trial'``
    (``validation_unit``). Under a split by views a recording's views are different units,
    so a recording may have one view in train and another in val, as train and test share
    recordings under that split; on the other axes a recording is one unit. An axis with a
    single training value falls back to ``carve_recordings``. ``fraction <= 0``: no 'val'.
    """
    training = manifest[assignment == TRAIN]
    unit = validation_unit(training, column)
    keys = _unit_keys(training, unit)
    units = sorted(set(keys))
    report = {"axis": column, "unit": unit, "values": [], "training_units": len(units),
              "fallback": False, "reason": None}
    if fraction <= 0:
        report["reason"] = "val_fraction is 0: no validation"
        carved = assignment.copy()
    elif len(units) < 2:
        name, value = (column, units[0][0]) if len(unit) == 1 else ("(" + ", ".join(unit) + ")", units[0])
        report.update(unit=["recording_id"], fallback=True, reason=(
            f"one training {name} value ({value}): the axis cannot be split, so validation is "
            "class-stratified training recordings"))
        carved = carve_recordings(manifest, assignment, fraction, seed)
    else:
        chosen = set(_choose_units(keys, training["label"].to_numpy(), fraction, seed))
        report["values"] = [value[0] if len(unit) == 1 else list(value) for value in sorted(chosen)]
        carved = assignment.copy()
        carved.loc[training.index[[key in chosen for key in keys]]] = VAL
    return carved, _summarise(manifest, assignment, carved, report)


def _summarise(manifest: pd.DataFrame, before: pd.Series, after: pd.Series, report: dict) -> dict:
    """Counts of the validation part; classes are those with a training sample before carving."""
    validation = manifest[after == VAL]
    names = manifest["class_name"] if "class_name" in manifest.columns else manifest["label"].astype(str)
    classes = pd.DataFrame({"label": manifest["label"], "name": names})[before == TRAIN]
    classes = classes.drop_duplicates("label").sort_values("label")
    shared = set(manifest.loc[after == TRAIN, "recording_id"]) & set(validation["recording_id"])
    missing = classes.loc[~classes["label"].isin(validation["label"]), "name"]
    report.update(
        recordings=int(validation["recording_id"].nunique()), samples=int(len(validation)),
        classes=int(validation["label"].nunique()), training_classes=int(len(classes)),
        classes_without_validation=[_plain(name) for name in missing],
        recordings_also_in_train=len(shared),
    )
    return report


def describe_validation(report: dict) -> str:
    """One line for a protocol's validation report, e.g. ``subject 5 -> 108 recordings, ...``."""
    counts = (f"{report['recordings']} recordings, {report['samples']} samples, "
              f"{report['classes']}/{report['training_classes']} classes")
    if report["classes_without_validation"]:
        counts += " (none of " + ", ".join(map(str, report["classes_without_validation"][:5])) + (
            ", ..." if len(report["classes_without_validation"]) > 5 else "") + ")"
    if report["recordings_also_in_train"]:
        counts += f"; {report['recordings_also_in_train']} of them also have a sample in train"
    if report["fallback"]:
        return f"fallback, {report['reason']} -> {counts}"
    if not report["values"]:
        return f"none ({report['reason']})"
    name = report["unit"][0] if len(report["unit"]) == 1 else "(" + ", ".join(report["unit"]) + ")"
    values = ", ".join(str(tuple(v)) if isinstance(v, list) else str(v) for v in report["values"])
    return f"{name} {values} (of {report['training_units']} training units) -> {counts}"



def describe_splits(splits: pd.DataFrame, validation: dict, labeled_fraction: float) -> list[str]:
    """Per protocol, its parts' sample counts and its validation in a line, and how many
    training recordings keep their label where some do not."""
    lines = []
    for protocol, report in validation.items():
        counts = splits[protocol].value_counts()
        parts = ("train", "unlabeled", "val", "test") if "unlabeled" in counts else ("train", "val", "test")
        lines.append(f"  {protocol}: " + ", ".join(f"{part} {counts.get(part, 0)}" for part in parts)
                     + f"; validation: {describe_validation(report)}")
        if report["unlabeled_recordings"]:
            lines.append(f"    labels kept for {report['labeled_recordings']} of "
                         f"{report['labeled_recordings'] + report['unlabeled_recordings']} training recordings "
                         f"(splits.labeled_fraction {labeled_fraction:g})")
    return lines

def withhold_labels(manifest: pd.DataFrame, assignment: pd.Series, fraction: float, seed: int) -> pd.Series:
    """Keep the labels of ``fraction`` of each class's training recordings (at least one per
    class) and mark the rest's training samples ``unlabeled``. The subsets are nested: each
    class's recordings are ranked by one seeded draw that does not depend on ``fraction``, and
    the first ``round(fraction x n)`` keep their label, so a smaller fraction's labelled set lies
    inside a larger one's. Validation and test are untouched (validation is carved before)."""
    assignment = assignment.copy()
    if fraction >= 1:
        return assignment
    training = manifest[assignment == TRAIN].drop_duplicates("recording_id")[["recording_id", "label"]]
    unlabeled = []
    for label, group in training.groupby("label", sort=True):
        ids = np.sort(group["recording_id"].astype(str).to_numpy())
        # One stream per (seed, class): the ranking of a class does not depend on the others.
        ranked = ids[np.random.default_rng([seed, int(label)]).permutation(len(ids))]
        keep = max(1, int(round(fraction * len(ids))))
        unlabeled.extend(ranked[keep:].tolist())
    withheld = manifest["recording_id"].astype(str).isin(unlabeled) & (assignment == TRAIN)
    assignment[withheld] = UNLABELED
    return assignment


def check_whole_recordings(manifest: pd.DataFrame, assignment: pd.Series, protocol: str) -> None:
    """Withholding labels needs each training recording wholly in training: a recording with
    a sample in validation or test (a split by view) would show its label there."""
    ids = manifest["recording_id"].astype(str)
    training = set(ids[assignment == TRAIN])
    elsewhere = sorted(training & set(ids[assignment != TRAIN]))
    if elsewhere:
        raise InputError(f"splits.labeled_fraction < 1 needs whole recordings in training, but protocol "
                         f"{protocol!r} puts samples of {len(elsewhere)} training recordings (e.g. {elsewhere[0]}) "
                         f"in validation or test, where their labels are read; use labeled_fraction 1 or "
                         f"a protocol that splits by recording, subject or trial")


def labeled_counts(manifest: pd.DataFrame, assignment: pd.Series) -> dict:
    """How many training recordings (and samples) keep their label, and how many do not."""
    counts = {}
    for name, part in (("labeled", TRAIN), ("unlabeled", UNLABELED)):
        rows = manifest[assignment == part]
        counts[f"{name}_recordings"] = int(rows["recording_id"].nunique())
        counts[f"{name}_samples"] = int(len(rows))
    return counts


def make_splits_with_report(
    manifest: pd.DataFrame, dataset: str, protocols: list[str], val_fraction: float, seed: int,
    labeled_fraction: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """``make_splits``' table and, per protocol, what validation was carved::

        {"axis": "subject", "unit": ["subject"], "values": [5], "training_units": 4,
         "fallback": false, "reason": null, "recordings": 108, "samples": 108,
         "classes": 27, "training_classes": 27, "classes_without_validation": [],
         "recordings_also_in_train": 0}

    plus the counts of ``labeled_counts`` (``labeled_fraction`` < 1 withholds the labels of
    the other training recordings: ``withhold_labels``, after validation is carved, so
    validation is labelled and the same at every fraction).
    ``unit`` lists the columns naming a unit (``["subject", "trial"]`` for a split by trials,
    whose ``values`` are then [subject, trial] pairs; ``["recording_id"]`` on fallback, with
    no ``values``); ``reason`` says why there is no or fallback validation.
    """
    known = dataset_protocols(dataset)
    table = pd.DataFrame({"sample_id": manifest["sample_id"]})
    reports = {}
    for name in protocols:
        if name not in known:
            raise InputError(f"{name!r} is not a protocol of {dataset!r} (has: {', '.join(known)})")
        column, test_values = known[name]
        if callable(test_values):  # a rule over the values present, e.g. "the last view"
            test_values = test_values(sorted(manifest[column].dropna().unique().tolist()))
        assignment = hold_out(manifest, column, test_values)
        carved, reports[name] = carve_validation(manifest, assignment, column, val_fraction, seed)
        if labeled_fraction < 1:
            check_whole_recordings(manifest, carved, name)
        table[name] = withhold_labels(manifest, carved, labeled_fraction, seed)
        reports[name].update(labeled_fraction=labeled_fraction, **labeled_counts(manifest, table[name]))
    return table, reports


def make_splits(
    manifest: pd.DataFrame, dataset: str, protocols: list[str], val_fraction: float, seed: int,
    labeled_fraction: float = 1.0,
) -> pd.DataFrame:
    """One column per protocol with 'train' / 'val' / 'test' (and 'unlabeled') for every sample."""
    return make_splits_with_report(manifest, dataset, protocols, val_fraction, seed, labeled_fraction)[0]
