"""pipeline/workflow/teacher_training.py: the cross-fitting folds."""
import pandas as pd
import pytest

from pipeline.workflow.teacher_training import assign_folds


def test_folds_are_stratified_by_class_seeded_and_cover_every_recording():
    recordings = pd.DataFrame({"recording_id": [f"r{i:02d}" for i in range(20)], "label": [i % 3 for i in range(20)]})
    folds = assign_folds(recordings, 4, seed=1)
    assert sorted(folds) == sorted(recordings["recording_id"]) and set(folds.values()) == {0, 1, 2, 3}
    sizes = pd.Series(folds).value_counts()
    assert sizes.max() - sizes.min() <= 1
    for _, group in recordings.groupby("label"):  # each class spread over the folds
        per_fold = pd.Series([folds[r] for r in group["recording_id"]]).value_counts()
        assert per_fold.max() - per_fold.min() <= 1
    assert assign_folds(recordings, 4, seed=1) == folds
    assert assign_folds(recordings, 4, seed=2) != folds
    with pytest.raises(ValueError, match="folds must be >= 2"):
        assign_folds(recordings, 1, seed=0)
