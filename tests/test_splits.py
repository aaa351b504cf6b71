import pandas as pd
import pytest

from pipeline.datasets.splits import TEST, TRAIN, VAL, carve_validation, hold_out


def toy_manifest():
    rows = []
    for subject in range(1, 5):
        for label in range(3):
            for trial in (1, 2):
                recording = f"a{label}_s{subject}_t{trial}"
                for view in (1, 2):
                    rows.append(dict(sample_id=f"{recording}_v{view}", recording_id=recording, label=label,
                                     subject=subject, view=view))
    return pd.DataFrame(rows)


def test_hold_out_by_column():
    manifest = toy_manifest()
    assignment = hold_out(manifest, "subject", [4])
    assert set(manifest.loc[assignment == TEST, "subject"]) == {4}
    assert set(manifest.loc[assignment == TRAIN, "subject"]) == {1, 2, 3}


def test_hold_out_refuses_an_empty_side():
    with pytest.raises(ValueError, match="leaves one side empty"):
        hold_out(toy_manifest(), "subject", [9])


def test_validation_takes_whole_training_recordings_per_class():
    manifest = toy_manifest()
    assignment = carve_validation(manifest, hold_out(manifest, "view", [2]), 0.25, seed=0)
    # never from test: every view-2 sample stays test
    assert (assignment[manifest["view"] == 2] == TEST).all()
    validation = manifest[assignment == VAL]
    # 8 training recordings per class, a quarter of them -> 2 per class
    assert validation.groupby("label")["recording_id"].nunique().tolist() == [2, 2, 2]
    # with views split, a validation recording's other view is test, not train
    training_recordings = set(manifest.loc[assignment == TRAIN, "recording_id"])
    assert training_recordings.isdisjoint(validation["recording_id"])


def test_validation_is_seeded():
    manifest = toy_manifest()
    base = hold_out(manifest, "subject", [4])
    first = carve_validation(manifest, base, 0.3, seed=1)
    assert first.equals(carve_validation(manifest, base, 0.3, seed=1))
    assert any(not first.equals(carve_validation(manifest, base, 0.3, seed=s)) for s in range(2, 6))
