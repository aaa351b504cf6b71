"""pipeline/workflow/teacher_training.py: the cross-fitting folds, self-training rounds."""
from pathlib import Path

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


def test_a_self_training_round_that_adds_nothing_stops_and_says_why(monkeypatch, tmp_path, caplog):
    """Retraining on the same recordings with the same seed would give the same teachers: the
    round stops, warns with the highest probability, and the declared checkpoint still exists."""
    from types import SimpleNamespace

    from pipeline.workflow import teacher_training

    fits = []

    def fake_fit(params, data, runtime, checkpoint, progress, training, name, keys, pseudo_labels=None):
        fits.append(name)
        Path(checkpoint).write_text(name)
        return {"state": name}

    unlabeled = pd.DataFrame({"recording_id": ["u1", "u2"]})
    data = SimpleNamespace(split="s", recordings=lambda part: unlabeled if part == "unlabeled" else pd.DataFrame())
    monkeypatch.setattr(teacher_training, "fit_teachers", fake_fit)
    monkeypatch.setattr(teacher_training, "teacher_pseudo_labels", lambda *args: unlabeled.assign(
        label=[-1, -1], confidence=[0.31, 0.42]))
    params = {"teacher": {"self_training": {"rounds": 2, "threshold": 0.8, "coverage": None}}}
    checkpoint = tmp_path / "teachers.pt"
    with caplog.at_level("WARNING"):
        saved = teacher_training.train_teachers(params, data, SimpleNamespace(is_main=True), checkpoint,
                                                training=pd.DataFrame())
    assert fits == ["teachers[s] labelled"]
    assert saved == {"state": "teachers[s] labelled", "self_training": [{"round": 1, "recordings": 0, "of": 2}]}
    assert checkpoint.read_text() == "teachers[s] labelled"
    assert "adds none of the 2 unlabeled recordings: the fused teachers' highest probability on them is 0.420, " \
           "below teacher.self_training.threshold 0.8" in caplog.text
