"""The teacher-output cache (pipeline/workflow/teacher_outputs.py): the outputs looked up by
recording, and which teacher outputs a training video is paired with: the method and its
controls (docs/method.md §6b), checked by recording id."""
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from pipeline.errors import InputError
from pipeline.workflow.teacher_outputs import TeacherOutputCache

# Six training recordings of two classes, two more outside training.
TRAINING = pd.DataFrame({"recording_id": ["a0", "a1", "a2", "b0", "b1", "b2"], "label": [0, 0, 0, 1, 1, 1]})
ALL_IDS = ["a0", "a1", "a2", "b0", "b1", "b2", "t0", "t1"]


def write_cache(path, batch_size=3):
    """A teacher-output cache whose logits, fc2 and map of recording r hold the number r."""
    with h5py.File(path, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(ALL_IDS, dtype=object), dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=batch_size, taps=["conv4"], sensors=["acc"])
        group = cache.create_group("acc")
        values = np.arange(len(ALL_IDS), dtype=np.float32)
        group["logits"] = np.repeat(values[:, None], 2, axis=1)
        group["fc2"] = np.repeat(values[:, None], 4, axis=1)
        group["features/conv4"] = np.repeat(values[:, None, None, None], 2, axis=1).repeat(3, 2).repeat(3, 3)
        group["ablated/logits"] = np.zeros((batch_size, 2), np.float32)
        group["ablated/fc2"] = np.zeros((batch_size, 4), np.float32)
    return path


def paired_ids(cache, ids, epoch=0):
    """The recording each id was paired with, read back from the fc2 values."""
    fc2 = torch.cat([cache.batch(ids[i:i + 3], epoch)[0]["fc2"] for i in range(0, len(ids), 3)])
    return [ALL_IDS[int(v)] for v in fc2[:, 0]]


def test_recording_pairing_returns_each_recordings_own_outputs(tmp_path):
    cache = TeacherOutputCache(write_cache(tmp_path / "t.h5"), TRAINING, "recording")
    ids = ["b2", "a0", "a1", "b0", "a2", "b1"]
    assert paired_ids(cache, ids) == ids
    output = cache.batch(["b2", "a0", "a1"])[0]
    assert output["fc2_bank"].shape == (6, 4)  # every training recording, not the batch
    assert [ALL_IDS[int(output["fc2_bank"][i, 0])] for i in output["bank_index"]] == ["b2", "a0", "a1"]
    # Outside training (no pairing given), outputs are the recording's own.
    assert paired_ids(TeacherOutputCache(tmp_path / "t.h5"), ["t0", "t1", "a0"]) == ["t0", "t1", "a0"]


def test_shuffled_pairing_never_pairs_a_recording_with_itself_and_changes_per_epoch(tmp_path):
    cache = TeacherOutputCache(write_cache(tmp_path / "t.h5"), TRAINING, "shuffled", seed=3)
    ids = TRAINING["recording_id"].tolist()
    epochs = [paired_ids(cache, ids, epoch) for epoch in range(4)]
    for pairs in epochs:
        assert all(own != pair for own, pair in zip(ids, pairs))
        assert sorted(pairs) == sorted(ids)  # a permutation: every recording's outputs used once
        assert set(pairs) <= set(ids)  # never a test recording
    assert len({tuple(p) for p in epochs}) > 1
    assert paired_ids(cache, ids, 2) == epochs[2]  # the same epoch gives the same pairs (resume)
    again = TeacherOutputCache(tmp_path / "t.h5", TRAINING, "shuffled", seed=3)
    assert paired_ids(again, ids, 1) == epochs[1]
    assert paired_ids(TeacherOutputCache(tmp_path / "t.h5", TRAINING, "shuffled", seed=4), ids, 1) != epochs[1] \
        or paired_ids(TeacherOutputCache(tmp_path / "t.h5", TRAINING, "shuffled", seed=5), ids, 1) != epochs[1]


def test_class_shuffled_pairing_stays_in_the_class(tmp_path):
    cache = TeacherOutputCache(write_cache(tmp_path / "t.h5"), TRAINING, "class_shuffled", seed=0)
    ids = TRAINING["recording_id"].tolist()
    label = dict(zip(TRAINING["recording_id"], TRAINING["label"]))
    for epoch in range(3):
        pairs = paired_ids(cache, ids, epoch)
        assert all(own != pair and label[own] == label[pair] for own, pair in zip(ids, pairs))
        output = cache.batch(ids[:3], epoch)[0]
        assert [ALL_IDS[int(output["fc2_bank"][i, 0])] for i in output["bank_index"]] == pairs[:3]


def test_class_mean_pairing_gives_the_class_mean_over_training_recordings(tmp_path):
    cache = TeacherOutputCache(write_cache(tmp_path / "t.h5"), TRAINING, "class_mean")
    output = cache.batch(["a0", "b1", "a2"])[0]
    # Class a holds recordings 0, 1, 2 (mean 1); class b holds 3, 4, 5 (mean 4).
    assert output["fc2"][:, 0].tolist() == [1.0, 4.0, 1.0]
    assert output["logits"][:, 1].tolist() == [1.0, 4.0, 1.0]
    assert output["features"]["conv4"][:, 0, 0, 0].tolist() == [1.0, 4.0, 1.0]
    assert output["fc2_bank"].shape == (8, 4)  # the six recordings and the two class means
    assert output["fc2_bank"][output["bank_index"], 0].tolist() == [1.0, 4.0, 1.0]


@pytest.mark.parametrize("pairing", ["recording", "shuffled", "class_mean"])
def test_tap_features_stay_on_disk_until_loaded_and_then_equal_an_eager_load(tmp_path, pairing):
    path = write_cache(tmp_path / "t.h5")
    eager = TeacherOutputCache(path, TRAINING, pairing, seed=1)
    lazy = TeacherOutputCache(path, TRAINING, pairing, seed=1, features=False)
    ids = ["a0", "b1", "a2"]
    before, expected = lazy.batch(ids, epoch=2)[0], eager.batch(ids, epoch=2)[0]
    assert before["features"] == {} and expected["features"]["conv4"].shape == (3, 2, 3, 3)
    for key in ("logits", "fc2", "fc2_bank"):
        assert torch.equal(before[key], expected[key])
    lazy.load_features()
    lazy.load_features()  # once
    after = lazy.batch(ids, epoch=2)[0]
    assert torch.equal(after["features"]["conv4"], expected["features"]["conv4"])
    assert lazy.values["acc"]["features"]["conv4"].shape == eager.values["acc"]["features"]["conv4"].shape


def test_unknown_pairing_and_a_control_without_training_recordings_are_refused(tmp_path):
    path = write_cache(tmp_path / "t.h5")
    with pytest.raises(ValueError, match="pairing must be one of"):
        TeacherOutputCache(path, TRAINING, "random")
    with pytest.raises(ValueError, match="needs the training recordings"):
        TeacherOutputCache(path, None, "shuffled")


def test_non_target_mass_of_the_fused_teacher(tmp_path):
    cache = TeacherOutputCache(write_cache(tmp_path / "t.h5"), TRAINING)
    # Every cached logit row is constant: the softmax is uniform over 2 classes.
    assert cache.non_target_mass(4.0) == pytest.approx(0.5)


def test_teacher_output_cache_names_its_file(tmp_path):
    with pytest.raises(InputError, match="outputs.h5: teacher outputs not found"):
        TeacherOutputCache(tmp_path / "outputs.h5")


def test_teacher_outputs_are_looked_up_by_each_clips_own_recording(tmp_path):
    """Pairing (docs/method.md §0): a batch gets the rows of its clips' recordings, in the
    batch's order, whatever order the cache holds them in."""
    path = tmp_path / "outputs.h5"
    ids = ["r1", "r2", "r3"]
    with h5py.File(path, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=2, taps=["conv3"], sensors=["acc"])
        cache["acc/logits"] = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], dtype=np.float32)
        cache["acc/fc2"] = np.array([[10.0], [20.0], [30.0]], dtype=np.float32)
        cache["acc/features/conv3"] = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
        cache["acc/ablated/logits"] = np.zeros((2, 2), dtype=np.float32)
        cache["acc/ablated/fc2"] = np.zeros((2, 1), dtype=np.float32)
    (acc,) = TeacherOutputCache(path).batch(["r3", "r1"])
    assert acc["logits"][:, 0].tolist() == [3.0, 1.0]
    assert acc["fc2"][:, 0].tolist() == [30.0, 10.0]
    assert acc["features"]["conv3"].flatten().tolist() == [2.0, 0.0]
    with pytest.raises(InputError, match="no cached teacher output for recording 'r9'"):
        TeacherOutputCache(path).batch(["r9", "r1"])


def test_the_temperature_is_fitted_where_the_teacher_did_not_train():
    from pipeline.metrics import temperature_fit
    from pipeline.workflow.teacher_outputs import held_out_logits

    # Teachers that fit their 6 training recordings (100 %, margin 10) and are right on half of
    # the 4 validation recordings with the same confidence.
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1, 0, 1])
    claimed = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1, 1, 0])
    logits = 10 * torch.nn.functional.one_hot(claimed, 2).float()
    training, validation = torch.arange(6), torch.tensor([6, 7, 8, 9])
    predicted = {"branches": {"acc": {"logits": logits}}}
    cross_fitted = {"acc": logits[training], "fused": logits[training]}
    fit_logits, fit_labels, where = held_out_logits(predicted, ["acc"], cross_fitted, labels[training], 0,
                                                    validation, labels)
    assert where == "validation" and torch.equal(fit_labels, labels[validation])
    assert torch.equal(fit_logits[0], logits[validation])
    # On validation the fit undoes the overconfidence (half right: near-flat probabilities);
    # on the training logits it runs to the grid's lower edge.
    assert temperature_fit(fit_logits, fit_labels)["temperature"] > 10
    in_fold = temperature_fit([cross_fitted["acc"]], labels[training])
    assert in_fold["at_grid_edge"] and in_fold["temperature"] < 0.05
    # Fold teachers' cross-fitted logits come first; with neither, the in-fold ones.
    assert held_out_logits(predicted, ["acc"], cross_fitted, labels[training], 3, validation, labels)[2] == "cross_fitted"
    assert held_out_logits(predicted, ["acc"], cross_fitted, labels[training], 0, torch.tensor([], dtype=torch.long),
                           labels)[2] == "in_fold"
