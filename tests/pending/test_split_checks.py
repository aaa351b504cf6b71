"""A split file must cover the manifest, and every model file or cache is checked against
the split it is used for."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data import split_table
from pipeline.errors import InputError
from pipeline.gaf_cache import build_gaf_cache
from pipeline.metrics import classification_metrics
from pipeline.params import validate_params
from pipeline.workflow.inputs import Inputs, SplitData, check_gaf_settings, check_made_for, load_model_file
from tests.test_experiment import write_split_files


def two_splits(folder):
    """write_split_files' manifest with a second protocol holding out the other recording."""
    inputs = write_split_files(folder)
    splits = pd.read_csv(inputs.splits)
    splits["other"] = splits["cross_view"].map({"train": "test", "test": "train"})
    splits.to_csv(inputs.splits, index=False)
    return inputs


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


def test_split_table_gives_every_manifest_sample_its_part():
    manifest = pd.DataFrame({"sample_id": ["a", "b", "c"], "label": [0, 1, 0]})
    splits = pd.DataFrame({"sample_id": ["c", "a", "b"], "p": ["test", "train", "val"]})
    table = split_table(manifest, splits, "p")
    assert table["part"].tolist() == ["train", "val", "test"] and table["label"].tolist() == [0, 1, 0]


def test_metrics_count_the_samples_they_scored():
    assert classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])["samples"] == 3


# ------------------------------------------------------------------ made for which split
def test_provenance_records_split_held_out_units_and_assignment(tmp_path):
    inputs = two_splits(tmp_path)
    view, other = SplitData("cross_view", inputs), SplitData("other", inputs)
    # r2 (test of cross_view) is seen in views 1 and 2, which training also has: no whole unit held out
    assert view.made_for["split"] == "cross_view" and view.made_for["held_out"] == {}
    assert len(view.made_for["assignment"]) == 16 and view.made_for["assignment"] != other.made_for["assignment"]
    assert SplitData("cross_view", inputs).made_for == view.made_for  # a function of the files


def test_a_model_file_of_another_split_is_an_error_naming_both_files(tmp_path):
    inputs = two_splits(tmp_path)
    view, other = SplitData("cross_view", inputs), SplitData("other", inputs)
    path = tmp_path / "teachers.pt"
    torch.save({"kind": "teachers", "made_for": view.made_for}, path)
    assert load_model_file(path, "teachers", view)["kind"] == "teachers"
    with pytest.raises(InputError, match=r"teachers\.pt: made for split 'cross_view' .*, but .*splits\.csv gives "
                                         r"split 'other'"):
        load_model_file(path, "teachers", other)
    # the same split name with another assignment (e.g. another seed's validation) is also refused
    splits = pd.read_csv(inputs.splits)
    splits["cross_view"] = ["train", "val", "test", "test"]
    splits.to_csv(inputs.splits, index=False)
    with pytest.raises(InputError, match=r"made for split 'cross_view' \(.*assignment [0-9a-f]{16}\), but"):
        load_model_file(path, "teachers", SplitData("cross_view", inputs))
    torch.save({"kind": "teachers"}, path)
    with pytest.raises(InputError, match=r"teachers\.pt: records no split"):
        load_model_file(path, "teachers", view)
    check_made_for(view.made_for, view, path)  # no error


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
