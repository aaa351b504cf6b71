"""pipeline/workflow/teacher_inference.py: the teachers' sensors and reference-set inference
(docs/method.md §3)."""
import pytest
import torch

from pipeline.params import ParamsError, validate_params
from pipeline.workflow.teacher_inference import teacher_sensors
from tests.pipeline.workflow.helpers import random_images, small_teacher


def test_teacher_sensors_error_names_the_params_key():
    params = validate_params({"teacher": {"sensors": ["gyro"]}})
    with pytest.raises(ParamsError, match="teacher.sensors: 'gyro' is not a sensor"):
        teacher_sensors(params, ["acc"])
    assert teacher_sensors(validate_params({}), ["acc", "gyro"]) == ["acc", "gyro"]


def test_teacher_sensors_param_selects_a_subset_or_names_the_bad_one():
    from pipeline.workflow.teacher_inference import teacher_sensors

    assert teacher_sensors({"teacher": {"sensors": None}}, ["acc", "gyro"]) == ["acc", "gyro"]
    assert teacher_sensors({"teacher": {"sensors": ["gyro"]}}, ["acc", "gyro"]) == ["gyro"]
    with pytest.raises(ValueError, match=r"teacher.sensors: 'watch' is not a sensor.*acc, gyro"):
        teacher_sensors({"teacher": {"sensors": ["watch"]}}, ["acc", "gyro"])


# ------------------------------------------------------------------ reference-set inference (docs/method.md §3)
def predictor_of(teacher, reference, rows_per_pass=256):
    from pipeline.workflow.teacher_inference import TeacherPredictor
    from pipeline.training import Runtime

    return TeacherPredictor(teacher, reference, Runtime(torch.device("cpu")), rows_per_pass=rows_per_pass)


def test_a_samples_output_depends_on_no_other_test_sample():
    teacher, reference = small_teacher(), random_images(3, seed=2)
    samples = random_images(7, seed=3)
    predicted = predictor_of(teacher, reference).predict_images(samples, taps=("conv3",))
    # Any order and any number of samples per pass give each sample the same output.
    order = torch.tensor([4, 0, 6, 2, 1, 5, 3])
    shuffled = predictor_of(teacher, reference, rows_per_pass=8).predict_images(
        {s: x[order] for s, x in samples.items()}, taps=("conv3",))
    torch.testing.assert_close(shuffled["logits"], predicted["logits"][order], rtol=0, atol=1e-5)
    torch.testing.assert_close(shuffled["branches"]["acc"]["features"]["conv3"],
                               predicted["branches"]["acc"]["features"]["conv3"][order], rtol=0, atol=1e-5)
    # Equal to the sample run alone with the reference set (its own batch of B = 4).
    with torch.no_grad():
        for index in (0, 5):
            alone = teacher({s: torch.cat([reference[s], samples[s][index : index + 1]]) for s in samples})
            torch.testing.assert_close(alone["logits"][-1], predicted["logits"][index], rtol=0, atol=1e-5)
            torch.testing.assert_close(alone["branches"]["gyro"]["fc2"][-1],
                                       predicted["branches"]["gyro"]["fc2"][index], rtol=0, atol=1e-5)
    # A subset of the test set (other company) changes nothing either.
    subset = predictor_of(teacher, reference).predict_images({s: x[2:4] for s, x in samples.items()})
    torch.testing.assert_close(subset["logits"], predicted["logits"][2:4], rtol=0, atol=1e-5)


def test_labels_of_other_samples_cannot_change_a_prediction():
    from pipeline.workflow.teacher_inference import class_sorted_order, teacher_predict_in_batches
    from pipeline.training import Runtime

    class Recordings:  # what SensorImages offers the predictors
        def __init__(self, images, labels):
            self.images, self.labels = images, torch.tensor(labels)
            self.recording_ids = [f"r{i}" for i in range(len(labels))]

        def __len__(self):
            return len(self.labels)

        def images_at(self, indices):
            return {s: v[list(indices)] for s, v in self.images.items()}

        def blocks(self, size):
            for start in range(0, len(self), size):
                yield start, {s: v[start : start + size] for s, v in self.images.items()}

    teacher, reference = small_teacher(), random_images(3, seed=2)
    images = random_images(8, seed=4)
    outputs, sorted_outputs = [], []
    for labels in ([0, 1, 2, 0, 1, 2, 0, 1], [2, 2, 2, 0, 0, 1, 1, 1]):
        dataset = Recordings(images, labels)
        outputs.append(predictor_of(teacher, reference).predict(dataset)["logits"])
        sorted_outputs.append(teacher_predict_in_batches(teacher, dataset, 4, Runtime(torch.device("cpu")),
                                                         class_sorted_order(dataset))["logits"])
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.allclose(sorted_outputs[0], sorted_outputs[1], atol=1e-3)  # the authors' protocol: labels leak


def test_teacher_without_spamfm_runs_in_plain_batches():
    teacher = small_teacher(fusion=())
    assert not teacher.batch_dependent
    samples = random_images(5, seed=5)
    predicted = predictor_of(teacher, random_images(3, seed=2), rows_per_pass=2).predict_images(samples)
    with torch.no_grad():
        torch.testing.assert_close(predicted["logits"], teacher(samples)["logits"], rtol=0, atol=1e-5)


def test_reference_set_spreads_over_classes_and_is_seeded():
    import pandas as pd

    from pipeline.errors import InputError
    from pipeline.workflow.teacher_inference import draw_reference_set

    recordings = pd.DataFrame({"recording_id": [f"c{c}_r{r}" for c in range(5) for r in range(4)],
                               "label": [c for c in range(5) for _ in range(4)]})
    chosen = draw_reference_set(recordings, 7, seed=0)
    assert len(set(chosen)) == 7
    per_class = pd.Series([rid.split("_")[0] for rid in chosen]).value_counts()
    assert sorted(per_class.tolist()) == [1, 1, 1, 2, 2]  # as even as 7 over 5 classes can be
    assert chosen == draw_reference_set(recordings, 7, seed=0)
    assert any(draw_reference_set(recordings, 7, seed=s) != chosen for s in range(1, 5))
    with pytest.raises(InputError, match="needs 21 training recordings"):
        draw_reference_set(recordings, 21, seed=0)


def test_gsdm_maps_depend_on_no_other_sample_and_match_the_reference_group():
    from pipeline.losses.gsdm_channel import teacher_channel_maps

    teacher, reference = small_teacher(), random_images(3, seed=2)
    samples = random_images(5, seed=3)
    labels = torch.tensor([0, 2, 1, 1, 0])
    embeddings = torch.randn(3, 4, generator=torch.Generator().manual_seed(4))  # 3 classes, D = 4
    maps = predictor_of(teacher, reference).gsdm_maps(samples, labels, ("conv3",), embeddings, "soft", rows_per_pass=8)
    assert maps["acc"]["conv3"].shape == (5, 4, 4)
    order = torch.tensor([3, 0, 4, 1, 2])
    shuffled = predictor_of(teacher, reference).gsdm_maps({s: x[order] for s, x in samples.items()}, labels[order],
                                                          ("conv3",), embeddings, "soft", rows_per_pass=4)
    torch.testing.assert_close(shuffled["gyro"]["conv3"], maps["gyro"]["conv3"][order], rtol=0, atol=1e-5)
    # Sample 2 with the reference set, scored with that group's graph: its group's last row.
    group = {s: torch.cat([reference[s], samples[s][2:3]]) for s in samples}
    _, alone = teacher_channel_maps(teacher.eval(), group, "conv3", "acc", embeddings, torch.tensor([0, 0, 0, 1]),
                                    group_size=4)
    torch.testing.assert_close(maps["acc"]["conv3"][2], alone[3], rtol=1e-4, atol=1e-5)
    # A teacher without SPAMFM still scores each sample with its reference group's graph.
    plain = small_teacher(fusion=[])
    plain_maps = predictor_of(plain, reference).gsdm_maps(samples, labels, ("conv3",), embeddings, "soft")
    _, plain_alone = teacher_channel_maps(plain.eval(), group, "conv3", "acc", embeddings, torch.tensor([0, 0, 0, 1]))
    torch.testing.assert_close(plain_maps["acc"]["conv3"][2], plain_alone[3], rtol=1e-4, atol=1e-5)


def test_whole_sets_scored_block_by_block_from_disk_equal_scoring_them_in_memory(tmp_path, monkeypatch):
    """Teacher outputs, GSDM maps and evaluation read a set by blocks of recordings; a streamed
    set (train.cache_in_memory: false) is never loaded whole and gives the same outputs, bit
    for bit, since blocks hold whole passes."""
    import h5py
    import numpy as np
    import pandas as pd

    import pipeline.workflow.teacher_inference as teacher_inference
    from pipeline.data import SensorImages

    images = random_images(11, seed=6)
    path = tmp_path / "gaf.h5"
    ids = [f"r{i:02d}" for i in range(11)]
    with h5py.File(path, "w") as cache:
        for sensor, values in images.items():
            cache.create_dataset(f"{sensor}/gaf_images", data=values.numpy())
            cache.create_dataset(f"{sensor}/recording_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    recordings = pd.DataFrame({"recording_id": ids, "label": [i % 3 for i in range(11)]})
    memory = SensorImages(path, ["acc", "gyro"], recordings, in_memory=True)
    streamed = SensorImages(path, ["acc", "gyro"], recordings, in_memory=False)
    assert streamed.image_shape("acc") == memory.image_shape("acc") == (3, 32, 32)
    teacher, reference = small_teacher(), random_images(3, seed=2)
    embeddings = torch.randn(3, 4, generator=torch.Generator().manual_seed(4))
    whole = predictor_of(teacher, reference, rows_per_pass=8).predict_images(memory.images, taps=("conv3",))
    whole_maps = predictor_of(teacher, reference).gsdm_maps(memory.images, memory.labels, ("conv3",), embeddings,
                                                            "soft", rows_per_pass=8)
    monkeypatch.setattr(teacher_inference, "BLOCK_RECORDINGS", 4)  # 2 samples a pass (groups of 4): blocks of 4, 4, 3
    predictor = predictor_of(teacher, reference, rows_per_pass=8)
    assert predictor.block_size(8) == 4
    read = []
    original = SensorImages.blocks

    def counted(self, size):
        for start, block in original(self, size):
            read.append(len(block["acc"]))
            yield start, block

    monkeypatch.setattr(SensorImages, "blocks", counted)
    blockwise = predictor.predict(streamed, taps=("conv3",))
    assert read == [4, 4, 3] and streamed.streamed  # three reads, the set never loaded whole
    assert torch.equal(blockwise["logits"], whole["logits"])
    for sensor in ("acc", "gyro"):
        for key in ("logits", "fc2"):
            assert torch.equal(blockwise["branches"][sensor][key], whole["branches"][sensor][key])
        assert torch.equal(blockwise["branches"][sensor]["features"]["conv3"], whole["branches"][sensor]["features"]["conv3"])
    maps = predictor.gsdm_maps_of(streamed, ("conv3",), embeddings, "soft", rows_per_pass=8)
    for sensor in ("acc", "gyro"):
        assert torch.equal(maps[sensor]["conv3"], whole_maps[sensor]["conv3"])
