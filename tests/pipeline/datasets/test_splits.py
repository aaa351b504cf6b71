"""Split protocols and the validation subset carved along each split's own axis
(docs/method.md §0b): on a toy manifest, on the synthetic dataset's layout (subjects, views,
scenes, sessions) and on the real UTD-MHAD manifest when ../shared is there."""
import numpy as np
import pandas as pd
import pytest

from pipeline.errors import InputError
from pipeline.datasets.splits import (
    TEST, TRAIN, UNLABELED, VAL, carve_recordings, carve_validation, describe_validation, hold_out, make_splits,
    make_splits_with_report, validation_unit, withhold_labels,
)
from tests.conftest import shared_path
from tests.fake_datasets import SYNTHETIC_TESTS, synthetic_manifest


def toy_manifest():
    """Subjects 1-5, classes 0-2, trials 1-4, views 1-3; subject 2 never performs class 0."""
    rows = []
    for subject in range(1, 6):
        for label in range(3):
            if subject == 2 and label == 0:
                continue
            for trial in range(1, 5):
                recording = f"a{label}_s{subject}_t{trial}"
                for view in (1, 2, 3):
                    rows.append(dict(sample_id=f"{recording}_v{view}", recording_id=recording, label=label,
                                     class_name=f"class{label}", subject=subject, trial=trial, view=view))
    return pd.DataFrame(rows)


def units_of(manifest, assignment, part, unit):
    rows = manifest[assignment == part]
    return set(zip(*(rows[column].astype(int).tolist() for column in unit)))


def check_axis_validation(manifest, assignment, column, test_values, report, units=None):
    """What every protocol's validation must satisfy; returns the validation units."""
    unit = validation_unit(manifest, column)
    assert report["axis"] == column and report["unit"] == unit and not report["fallback"]
    # test is exactly the held-out samples: validation never comes from test
    assert ((assignment == TEST).to_numpy() == manifest[column].isin(test_values).to_numpy(dtype=bool)).all()
    validation, training = units_of(manifest, assignment, VAL, unit), units_of(manifest, assignment, TRAIN, unit)
    assert validation and training and validation.isdisjoint(training)  # whole units, disjoint axis values
    assert validation.isdisjoint(units_of(manifest, assignment, TEST, unit))
    available = validation | training
    assert report["training_units"] == len(available)
    if units is not None:
        assert len(validation) == units
    else:
        assert len(validation) == min(max(round(0.2 * len(available)), 1), len(available) - 1)
    expected = sorted(value[0] for value in validation) if len(unit) == 1 else sorted(map(list, validation))
    assert report["values"] == expected
    rows = manifest[assignment == VAL]
    assert report["samples"] == len(rows) and report["recordings"] == rows["recording_id"].nunique()
    assert report["classes"] == rows["label"].nunique()
    shared = set(rows["recording_id"]) & set(manifest.loc[assignment == TRAIN, "recording_id"])
    assert report["recordings_also_in_train"] == len(shared)
    if column != "view":
        assert not shared  # whole recordings stay on one side
    return validation


# ------------------------------------------------------------------ hold-out
def test_hold_out_by_column():
    manifest = toy_manifest()
    assignment = hold_out(manifest, "subject", [4])
    assert set(manifest.loc[assignment == TEST, "subject"]) == {4}
    assert set(manifest.loc[assignment == TRAIN, "subject"]) == {1, 2, 3, 5}


def test_hold_out_refuses_an_empty_side():
    with pytest.raises(ValueError, match="leaves one side empty"):
        hold_out(toy_manifest(), "subject", [9])


# ------------------------------------------------------------------ along the split's axis, toy manifest
def test_cross_subject_validation_holds_out_whole_training_subjects_with_every_class():
    manifest = toy_manifest()
    chosen = set()
    for seed in range(10):
        table, reports = make_splits_with_report(manifest, "synthetic", ["cross_subject"], 0.25, seed)
        # synthetic's rule holds out the last quarter of subjects (rounded up): 4 and 5
        validation = check_axis_validation(manifest, table["cross_subject"], "subject", [4, 5],
                                           reports["cross_subject"], units=1)  # round(0.25 x 3) = 1
        # subject 2 lacks class 0, so it is never the validation subject
        assert reports["cross_subject"]["classes"] == 3 and not reports["cross_subject"]["classes_without_validation"]
        chosen |= validation
    assert chosen == {(1,), (3,)}  # the tie between subjects 1 and 3 is broken by the seed


def test_cross_view_validation_holds_out_a_training_view_and_shares_recordings_with_train():
    manifest = toy_manifest()
    table, reports = make_splits_with_report(manifest, "synthetic", ["cross_view"], 0.2, seed=0)
    report = reports["cross_view"]
    validation = check_axis_validation(manifest, table["cross_view"], "view", [3], report, units=1)
    assert validation <= {(1,), (2,)}
    # a recording's views are different units: each validation recording has its other view in train
    assert report["recordings"] == report["recordings_also_in_train"] == manifest["recording_id"].nunique()


def test_trial_split_holds_out_subject_trial_pairs_of_seen_subjects():
    manifest = toy_manifest()  # UTD-MHAD's subject_specific: trials 1-2 train, 3-4 test
    assert validation_unit(manifest, "trial") == ["subject", "trial"]
    assert validation_unit(manifest.assign(subject=pd.NA), "trial") == ["trial"]
    for seed in range(5):
        table, reports = make_splits_with_report(manifest, "utd_mhad", ["subject_specific"], 0.2, seed)
        assignment = table["subject_specific"]
        validation = check_axis_validation(manifest, assignment, "trial", [3, 4], reports["subject_specific"],
                                           units=2)  # round(0.2 x 10 pairs)
        # an unseen repetition of a seen subject: every validation subject keeps a training trial
        assert {subject for subject, _ in validation} <= set(manifest.loc[assignment == TRAIN, "subject"])
        assert set(manifest.loc[assignment == VAL, "trial"]) <= {1, 2}


def test_validation_along_the_axis_is_seeded():
    manifest = toy_manifest()
    first = make_splits(manifest, "utd_mhad", ["subject_specific", "cross_subject"], 0.2, seed=1)
    assert first.equals(make_splits(manifest, "utd_mhad", ["subject_specific", "cross_subject"], 0.2, seed=1))
    assert any(not first.equals(make_splits(manifest, "utd_mhad", ["subject_specific", "cross_subject"], 0.2, seed=s))
               for s in range(2, 6))


def test_val_fraction_zero_keeps_no_validation():
    manifest = toy_manifest()
    table, reports = make_splits_with_report(manifest, "synthetic", ["cross_subject", "cross_view"], 0.0, seed=0)
    for protocol, report in reports.items():
        assert not (table[protocol] == VAL).any()
        assert report["values"] == [] and report["recordings"] == report["samples"] == 0 and not report["fallback"]
        assert "val_fraction is 0" in report["reason"] and describe_validation(report).startswith("none")


def test_an_axis_with_one_training_value_falls_back_to_class_stratified_recordings():
    manifest = toy_manifest().assign(session=lambda m: (m["trial"] > 2).astype(int) + 1)
    base = hold_out(manifest, "session", [2])
    assignment, report = carve_validation(manifest, base, "session", 0.25, seed=0)
    assert report["fallback"] and report["unit"] == ["recording_id"] and report["values"] == []
    assert "one training session value (1)" in report["reason"]
    assert assignment.equals(carve_recordings(manifest, base, 0.25, seed=0))
    # trials 1-2 train: 8 / 10 / 10 recordings per class, round(0.25 x n) = 2 of each
    assert report["recordings"] == 6 and report["classes"] == 3


# ------------------------------------------------------------------ the fallback itself
def test_fallback_takes_whole_training_recordings_per_class():
    manifest = toy_manifest()
    assignment = carve_recordings(manifest, hold_out(manifest, "view", [3]), 0.25, seed=0)
    # never from test: every view-3 sample stays test
    assert (assignment[manifest["view"] == 3] == TEST).all()
    validation = manifest[assignment == VAL]
    # 16 / 20 / 20 training recordings per class, a quarter of them
    assert validation.groupby("label")["recording_id"].nunique().tolist() == [4, 5, 5]
    # with views split, a validation recording's other view is test, not train
    training_recordings = set(manifest.loc[assignment == TRAIN, "recording_id"])
    assert training_recordings.isdisjoint(validation["recording_id"])


def test_fallback_is_seeded():
    manifest = toy_manifest()
    base = hold_out(manifest, "subject", [4])
    first = carve_recordings(manifest, base, 0.3, seed=1)
    assert first.equals(carve_recordings(manifest, base, 0.3, seed=1))
    assert any(not first.equals(carve_recordings(manifest, base, 0.3, seed=s)) for s in range(2, 6))


# ------------------------------------------------------------------ the synthetic dataset's layout
def test_synthetic_layout_validation_per_protocol():
    manifest = synthetic_manifest()  # 12 classes x 8 subjects x 2 trials, 3 views, 3 scenes, 2 sessions
    table, reports = make_splits_with_report(manifest, "synthetic", list(SYNTHETIC_TESTS), 0.2, seed=0)
    for protocol in ("cross_subject", "cross_view", "cross_scene"):
        column, test_values = SYNTHETIC_TESTS[protocol]
        check_axis_validation(manifest, table[protocol], column, test_values, reports[protocol], units=1)
        assert reports[protocol]["classes"] == 12 and not reports[protocol]["classes_without_validation"]
    assert reports["cross_subject"]["recordings"] == 24 and reports["cross_subject"]["samples"] == 72
    assert reports["cross_scene"]["values"] in ([1], [2]) and reports["cross_scene"]["samples"] == 3 * 64
    assert reports["cross_view"]["values"] in ([1], [2]) and reports["cross_view"]["samples"] == 192
    # 2 sessions, 1 held out: a single training session cannot be split
    session = reports["cross_session"]
    assert session["fallback"] and session["values"] == [] and "one training session value (1)" in session["reason"]
    assert (table["cross_session"][manifest["session"] == 2] == TEST).all()
    assert session["recordings"] == 12 * 2 and session["samples"] == 72  # round(0.2 x 8) per class, 3 views
    assert describe_validation(session).startswith("fallback")
    # with 3 sessions there are two training sessions, and one becomes validation
    three = synthetic_manifest(num_sessions=3)
    table, reports = make_splits_with_report(three, "synthetic", ["cross_session"], 0.2, seed=0)
    check_axis_validation(three, table["cross_session"], "session", [3], reports["cross_session"], units=1)


def test_synthetic_layout_validation_is_seeded():
    manifest = synthetic_manifest()
    first = make_splits(manifest, "synthetic", list(SYNTHETIC_TESTS), 0.2, seed=3)
    assert first.equals(make_splits(manifest, "synthetic", list(SYNTHETIC_TESTS), 0.2, seed=3))
    subjects = {tuple(make_splits_with_report(manifest, "synthetic", ["cross_subject"], 0.2, seed)[1]
                      ["cross_subject"]["values"]) for seed in range(6)}
    assert len(subjects) > 1


# ------------------------------------------------------------------ the real UTD-MHAD manifest
@pytest.mark.shared
def test_real_utd_mhad_validation_along_each_axis():
    from pipeline.datasets import build_manifest

    manifest = build_manifest("utd_mhad", shared_path("utd_mhad"), vision="depth")
    protocols = ["cross_subject", "subject_specific"]
    table, reports = make_splits_with_report(manifest, "utd_mhad", protocols, 0.2, seed=0)
    # training subjects 1, 3, 5, 7: round(0.2 x 4) = 1 subject, with all 27 classes
    subjects = check_axis_validation(manifest, table["cross_subject"], "subject", [2, 4, 6, 8],
                                     reports["cross_subject"], units=1)
    assert subjects <= {(1,), (3,), (5,), (7,)}
    assert reports["cross_subject"]["classes"] == 27 and reports["cross_subject"]["recordings"] >= 107
    # trials 1-2 of 8 subjects: round(0.2 x 16) = 3 (subject, trial) pairs of seen subjects
    pairs = check_axis_validation(manifest, table["subject_specific"], "trial", [3, 4],
                                  reports["subject_specific"], units=3)
    assert {trial for _, trial in pairs} <= {1, 2}
    assert {subject for subject, _ in pairs} <= set(manifest.loc[table["subject_specific"] == TRAIN, "subject"])
    assert reports["subject_specific"]["classes"] == 27 and reports["subject_specific"]["recordings"] == 81
    again = make_splits(manifest, "utd_mhad", protocols, 0.2, seed=0)
    assert again.equals(table)


# ------------------------------------------------------------------ the labelled fraction
def labelled_recordings(manifest, column):
    return set(manifest.loc[column == TRAIN, "recording_id"])


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_labelled_subsets_are_nested_stratified_and_leave_validation_and_test_alone(seed):
    manifest = toy_manifest()
    full = make_splits(manifest, "utd_mhad", ["cross_subject"], 0.34, seed)["cross_subject"]
    training = manifest[full == TRAIN].drop_duplicates("recording_id")
    per_class = training.groupby("label")["recording_id"].nunique()
    subsets = {}
    for fraction in (0.1, 0.25, 0.5, 1.0):
        column = make_splits(manifest, "utd_mhad", ["cross_subject"], 0.34, seed, fraction)["cross_subject"]
        # Validation and test are those of every label kept; only training samples lose theirs.
        assert (column[full != TRAIN] == full[full != TRAIN]).all()
        assert set(column[full == TRAIN]) <= {TRAIN, UNLABELED}
        subsets[fraction] = labelled_recordings(manifest, column)
        kept = manifest[column == TRAIN].drop_duplicates("recording_id").groupby("label")["recording_id"].nunique()
        expected = per_class.map(lambda n: max(1, int(round(fraction * n))))
        assert kept.to_dict() == expected.to_dict()  # round(f n) of each class, at least one
        # A recording is labelled or not as a whole (all of its views).
        for _, views in manifest[full == TRAIN].groupby("recording_id"):
            assert column[views.index].nunique() == 1
    assert subsets[0.1] <= subsets[0.25] <= subsets[0.5] <= subsets[1.0]
    assert subsets[1.0] == set(training["recording_id"])


def test_labelled_subsets_are_seeded():
    manifest = toy_manifest()
    assignment = make_splits(manifest, "utd_mhad", ["cross_subject"], 0.34, 0)["cross_subject"]
    draw = [labelled_recordings(manifest, withhold_labels(manifest, assignment, 0.25, seed)) for seed in (0, 0, 1)]
    assert draw[0] == draw[1] and draw[0] != draw[2]
    # By hand: class 0 of the training subjects ranked by the seeded draw, round(0.25 x n) kept.
    ids = sorted(manifest.loc[(assignment == TRAIN) & (manifest["label"] == 0), "recording_id"].unique())
    ranked = [ids[i] for i in np.random.default_rng([0, 0]).permutation(len(ids))]
    assert {rid for rid in draw[0] if rid.startswith("a0_")} == set(ranked[: round(0.25 * len(ids))])


def test_the_report_counts_labelled_and_unlabeled_recordings():
    manifest = toy_manifest()
    _, reports = make_splits_with_report(manifest, "utd_mhad", ["cross_subject"], 0.34, 0, 0.25)
    report = reports["cross_subject"]
    table = make_splits(manifest, "utd_mhad", ["cross_subject"], 0.34, 0, 0.25)["cross_subject"]
    assert report["labeled_fraction"] == 0.25
    assert report["labeled_recordings"] == manifest.loc[table == TRAIN, "recording_id"].nunique()
    assert report["unlabeled_recordings"] == manifest.loc[table == UNLABELED, "recording_id"].nunique() > 0
    assert report["labeled_samples"] + report["unlabeled_samples"] == int((table != TEST).sum() - (table == VAL).sum())


def test_withholding_labels_refuses_a_split_that_shares_recordings_with_validation():
    # By view: a training recording's other views are in validation and test, labels and all.
    manifest = synthetic_manifest()
    with pytest.raises(InputError, match=r"splits.labeled_fraction < 1 needs whole recordings.*'cross_view'"):
        make_splits(manifest, "synthetic", ["cross_view"], 0.2, 0, 0.5)
    assert make_splits(manifest, "synthetic", ["cross_view"], 0.2, 0, 1.0)["cross_view"].notna().all()
    assert (make_splits(manifest, "synthetic", ["cross_subject"], 0.2, 0, 0.5)["cross_subject"] == UNLABELED).any()
