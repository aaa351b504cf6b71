"""What a split reads (pipeline/workflow/inputs.py): its parts, classes and sensors, samples
without cached frames, missing or truncated inputs, the split a file was made for."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.errors import InputError
from pipeline.gaf_cache import build_gaf_cache
from pipeline.params import validate_params
from pipeline.workflow.inputs import Inputs, SplitData, check_gaf_settings
from tests.pipeline.workflow.helpers import CLASSES, two_splits, write_split_files


# ------------------------------------------------------------------ what a split reads
def test_split_data_reads_parts_classes_and_sensors(tmp_path):
    data = SplitData("cross_view", write_split_files(tmp_path))
    assert data.class_names == CLASSES and data.sensors == ["acc"]
    assert data.samples("train")["sample_id"].tolist() == ["r1_v1", "r1_v2"]
    assert data.recordings("test")["recording_id"].tolist() == ["r2"]
    assert data.skipped_samples == []


def test_samples_without_frames_are_dropped_and_reported(tmp_path, caplog):
    inputs = write_split_files(tmp_path, frames_for=["r1_v1", "r1_v2", "r2_v1"])  # r2_v2 skipped by frames
    data = SplitData("cross_view", inputs)
    assert data.skipped_samples == ["r2_v2"]
    assert data.samples("test")["sample_id"].tolist() == ["r2_v1"]
    assert "r2_v2" in caplog.text and "no cached frames" in caplog.text


def test_missing_or_truncated_input_names_the_file(tmp_path):
    inputs = write_split_files(tmp_path)
    (tmp_path / "embeddings.h5").unlink()
    with pytest.raises(InputError, match=r"embeddings\.h5: class embeddings not found"):
        SplitData("cross_view", inputs)
    write_split_files(tmp_path)
    whole = (tmp_path / "frames.h5").read_bytes()
    (tmp_path / "frames.h5").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"frames\.h5: not a readable HDF5 file .*delete it"):
        SplitData("cross_view", inputs)


def test_unknown_split_names_the_splits_file(tmp_path):
    with pytest.raises(InputError, match=r"splits\.csv: no split 'cross_subject' \(has cross_view\)"):
        SplitData("cross_subject", write_split_files(tmp_path))


# ------------------------------------------------------------------ split coverage and provenance
# ------------------------------------------------------------------ split coverage
@pytest.mark.parametrize("damage,message", [
    (lambda s: s.iloc[:-1], r"splits\.csv: manifest sample r2_v2 has no cross_view part \(1 of 4 samples missing\)"),
    (lambda s: s.assign(cross_view=s["cross_view"].replace("test", "Test")),
     r"splits\.csv: sample r2_v1: cross_view part 'Test' is not one of train, val, test"),
    (lambda s: s.assign(cross_view=s["cross_view"].where(s["sample_id"] != "r1_v2")),
     r"splits\.csv: sample r1_v2: cross_view part nan is not one of"),
    (lambda s: pd.concat([s, s.iloc[[0]]]), r"splits\.csv: sample r1_v1 is listed more than once"),
    (lambda s: pd.concat([s, pd.DataFrame({"sample_id": ["r9_v1"], "cross_view": ["test"]})]),
     r"splits\.csv: sample r9_v1 is not in the manifest"),
])
def test_a_split_file_that_does_not_cover_the_manifest_names_the_sample_and_file(tmp_path, damage, message):
    inputs = write_split_files(tmp_path)
    damage(pd.read_csv(inputs.splits)).to_csv(inputs.splits, index=False)
    with pytest.raises(InputError, match=message):
        SplitData("cross_view", inputs)


# ------------------------------------------------------------------ made for which split
def test_provenance_records_split_held_out_units_and_assignment(tmp_path):
    inputs = two_splits(tmp_path)
    view, other = SplitData("cross_view", inputs), SplitData("other", inputs)
    # r2 (test of cross_view) is seen in views 1 and 2, which training also has: no whole unit held out
    assert view.made_for["split"] == "cross_view" and view.made_for["held_out"] == {}
    assert len(view.made_for["assignment"]) == 16 and view.made_for["assignment"] != other.made_for["assignment"]
    assert SplitData("cross_view", inputs).made_for == view.made_for  # a function of the files


def test_a_gaf_cache_of_other_settings_is_an_error_naming_key_and_file(tmp_path):
    inputs = write_split_files(tmp_path)
    manifest = pd.read_csv(inputs.manifest)
    for recording in ("r1", "r2"):
        signal = np.column_stack([np.arange(40) * 0.02, np.random.default_rng(0).normal(size=(40, 3))])
        np.savetxt(tmp_path / f"{recording}.csv", signal, delimiter=",")
    manifest["sensor_acc"] = [str(tmp_path / f"{r}.csv") for r in manifest["recording_id"]]
    build_gaf_cache(manifest, "synthetic", tmp_path / "gaf.h5", 32, progress=False)
    data = SplitData("cross_view", Inputs(inputs.manifest, inputs.splits, inputs.class_embeddings,
                                          gaf=str(tmp_path / "gaf.h5")))
    check_gaf_settings(validate_params({"gaf": {"image_size": 32}}), data)
    with pytest.raises(InputError, match=r"gaf\.h5: GAF images of size 32 \(summation\), but params\.yaml has "
                                         r"gaf\.image_size 64"):
        check_gaf_settings(validate_params({"gaf": {"image_size": 64}}), data)
    with h5py.File(tmp_path / "gaf.h5", "r") as cache:
        assert cache["acc/gaf_images"].dtype == np.float16


def test_an_empty_frame_cache_stops_what_needs_frames_with_one_line(tmp_path):
    """The frames stage's cache of a manifest without video: no sample is "skipped", the split
    has no video at all."""
    from pipeline.frames import FrameSpec, write_empty_frame_cache

    inputs = write_split_files(tmp_path)
    write_empty_frame_cache(tmp_path / "frames.h5", FrameSpec(2, 8))
    with pytest.raises(InputError, match=r"frames\.h5: the frame cache holds no video \(the manifest has sensor "
                                         r"files only\); what needs frames cannot run"):
        SplitData("cross_view", inputs)
