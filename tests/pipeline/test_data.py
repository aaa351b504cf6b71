"""pipeline/data.py: streamed caches (train.cache_in_memory: false) give exactly the tensors of
in-memory ones, in the main process and through DataLoader workers, each with its own file
handle; TSN frame sampling and the epoch shuffle; GAF time-crop and time-warp augmentation."""
from __future__ import annotations

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.data import (
    IN_MEMORY_LIMIT, EpochShuffle, LazyFile, SensorImages, VideoClips, keep_in_memory, normalize_clips,
    random_time_crop, random_time_warp, read_rows, segment_indices, split_table,
)
from pipeline.gaf import gaf_images
from pipeline.training import loader, start_runtime


@pytest.fixture
def frame_cache(tmp_path):
    """7 samples x 6 frames of 4x4 px, stored in a shuffled order the datasets must undo."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(7, 6, 4, 4, 3), dtype=np.uint8)
    ids = np.array([f"s{i}" for i in (3, 0, 6, 1, 5, 2, 4)], dtype=object)
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as cache:
        cache.create_dataset("frames", data=frames)
        cache.create_dataset("sample_id", data=ids, dtype=h5py.string_dtype())
    samples = pd.DataFrame({"sample_id": [f"s{i}" for i in range(7)], "recording_id": [f"r{i}" for i in range(7)],
                            "label": [0, 1, 2, 0, 1, 2, 0]})
    return path, frames, list(ids), samples


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 29), max_size=40), st.integers(1, 8))
def test_read_rows_equals_fancy_indexing_in_memory(tmp_path_factory, rows, block):
    path = tmp_path_factory.mktemp("rows") / "data.h5"
    values = np.arange(30 * 2 * 3).reshape(30, 2, 3).astype(np.int16)
    with h5py.File(path, "w") as cache:
        cache.create_dataset("values", data=values)
    with h5py.File(path, "r") as cache:
        picked = read_rows(cache["values"], np.array(rows, dtype=np.int64), block=block)
    assert picked.shape == (len(rows), 2, 3) and np.array_equal(picked, values[rows])


def test_keep_in_memory_rule():
    assert keep_in_memory("auto", IN_MEMORY_LIMIT) and not keep_in_memory("auto", IN_MEMORY_LIMIT + 1)
    assert keep_in_memory(True, 10**15) and not keep_in_memory(False, 1)
    with pytest.raises(ValueError, match="cache_in_memory"):
        keep_in_memory("sometimes", 1)


def test_streamed_clip_is_the_cached_frames_it_names(frame_cache):
    path, frames, ids, samples = frame_cache
    clips = VideoClips(path, samples, num_segments=3, mode="centre", in_memory=False)
    assert clips.streamed and clips.frames_per_video == 6
    # centre of segments of 6 frames in 3: frames 1, 3, 5 of sample s4 (stored at row 6)
    expected = frames[ids.index("s4")][[1, 3, 5]]
    assert torch.equal(clips.clip_frames(4), torch.from_numpy(expected))


@pytest.mark.parametrize("mode", ["random", "centre"])
def test_streamed_and_in_memory_clips_are_identical_over_epochs(frame_cache, mode):
    path, _, _, samples = frame_cache
    memory = VideoClips(path, samples, 4, mode, seed=5, in_memory=True)
    streamed = VideoClips(path, samples, 4, mode, seed=5, in_memory=False)
    assert not memory.streamed and streamed.streamed
    for epoch in (0, 1, 2):
        memory.set_epoch(epoch), streamed.set_epoch(epoch)
        for i in range(len(samples)):
            a, b = memory[i], streamed[i]
            assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
            # contiguous, so a worker's collate and the main process's give the same layout
            assert a[0].is_contiguous() and b[0].is_contiguous()


def test_workers_stream_with_their_own_handles_and_give_the_same_batches(frame_cache):
    path, _, _, samples = frame_cache
    runtime = start_runtime("cpu")
    memory = VideoClips(path, samples, 3, "random", seed=1, in_memory=True)
    streamed = VideoClips(path, samples, 3, "random", seed=1, in_memory=False)
    streamed.clip_frames(0)  # the parent holds an open handle when the workers start
    for epoch in (0, 1):
        batches = []
        for dataset, workers in ((memory, 0), (streamed, 2)):
            dataset.set_epoch(epoch)
            data = loader(dataset, 2, runtime, seed=1, shuffle=True, drop_last=True, workers=workers)
            data.sampler.set_epoch(epoch)
            batches.append(list(data))
        assert len(batches[0]) == 3
        for (clip_a, label_a, index_a), (clip_b, label_b, index_b) in zip(*batches):
            assert torch.equal(clip_a, clip_b) and torch.equal(label_a, label_b) and torch.equal(index_a, index_b)


def test_uint8_clips_normalised_in_a_batch_equal_normalised_items(frame_cache):
    path, frames, ids, samples = frame_cache
    normalised = VideoClips(path, samples, 3, "centre")
    raw = VideoClips(path, samples, 3, "centre", normalize=False, in_memory=False)
    assert raw[2][0].dtype == torch.uint8 and raw[2][0].shape == (3, 3, 4, 4)
    batch = normalize_clips(torch.stack([raw[i][0] for i in range(7)]))
    assert torch.equal(batch, torch.stack([normalised[i][0] for i in range(7)]))
    # by hand: channel 0 of a pixel of value v is (v / 255 - 0.485) / 0.229
    value = int(frames[ids.index("s0")][1, 0, 0, 0])
    assert normalised[0][0][0, 0, 0, 0].item() == pytest.approx((value / 255 - 0.485) / 0.229, abs=1e-6)


def test_lazy_file_drops_its_handle_when_pickled(frame_cache):
    path = frame_cache[0]
    lazy = LazyFile(path)
    assert lazy["frames"].shape == (7, 6, 4, 4, 3)
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy._file is None and copy["frames"].shape == (7, 6, 4, 4, 3)
    lazy.close(), copy.close()


def test_streamed_sensor_images_equal_in_memory(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "gaf.h5"
    stored = {"acc": ["r2", "r0", "r1"], "gyro": ["r1", "r2", "r0"]}
    values = {s: rng.standard_normal((3, 3, 5, 5)).astype(np.float16) for s in stored}
    with h5py.File(path, "w") as cache:
        for sensor, ids in stored.items():
            cache.create_dataset(f"{sensor}/gaf_images", data=values[sensor])
            cache.create_dataset(f"{sensor}/recording_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    recordings = pd.DataFrame({"recording_id": ["r0", "r1", "r2"], "label": [0, 1, 0]})
    memory = SensorImages(path, ["acc", "gyro"], recordings, in_memory=True)
    streamed = SensorImages(path, ["acc", "gyro"], recordings, in_memory=False)
    assert streamed.streamed and not memory.streamed
    for i in range(3):
        for sensor in ("acc", "gyro"):
            expected = torch.from_numpy(values[sensor][stored[sensor].index(f"r{i}")].astype(np.float32))
            assert torch.equal(streamed[i][0][sensor], expected) and torch.equal(memory[i][0][sensor], expected)
    picked = streamed.images_at([2, 0])
    assert all(torch.equal(picked[s], memory.images_at([2, 0])[s]) for s in ("acc", "gyro"))
    assert torch.equal(streamed.images["gyro"], memory.images["gyro"])  # loads on first use


# ------------------------------------------------------------------ frame sampling
def test_segment_indices_by_hand():
    assert segment_indices(16, 4, "centre").tolist() == [2, 6, 10, 14]
    assert segment_indices(3, 4, "centre").tolist() == [0, 1, 1, 2]  # shorter than T: repeats


@given(st.integers(1, 500), st.integers(1, 32), st.integers(0, 2**31 - 1))
def test_random_segments_fall_in_their_segment(num_frames, num_segments, seed):
    indices = segment_indices(num_frames, num_segments, "random", torch.Generator().manual_seed(seed))
    bounds = torch.arange(num_segments + 1, dtype=torch.float64) * num_frames / num_segments
    assert ((indices >= bounds[:-1].floor()) & (indices <= torch.clamp(bounds[1:].ceil() - 1, max=num_frames - 1))).all()
    assert torch.all(indices[1:] >= indices[:-1])


def test_epoch_shuffle_depends_on_seed_and_epoch_and_splits_ranks():
    sampler = EpochShuffle(10, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(list(sampler)) == list(range(10))
    sampler.set_epoch(0)
    assert list(sampler) == first  # a function of (seed, epoch), not of history
    ranks = [EpochShuffle(10, 3, rank=r, world_size=2) for r in (0, 1)]
    assert sorted(list(ranks[0]) + list(ranks[1])) == list(range(10)) and len(ranks[0]) == 5


# ------------------------------------------------------------------ GAF time crop
def gasf(signal: np.ndarray, size: int) -> torch.Tensor:
    return torch.from_numpy(gaf_images(signal[None], size)[0]).float()


def test_off_returns_the_images_untouched():
    images = {"acc": torch.randn(2, 3, 8, 8)}
    assert random_time_crop(images, 1.0) is images


def test_a_crop_is_a_time_window_symmetric_and_shared_by_the_sensors():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    signal = np.cumsum(rng.normal(size=(200, 3)), axis=0)
    image = gasf(signal, 32)
    out = random_time_crop({"acc": image[None].repeat(4, 1, 1, 1), "gyro": image[None].repeat(4, 1, 1, 1)}, 0.5)
    assert out["acc"].shape == (4, 3, 32, 32)
    assert torch.equal(out["acc"], out["gyro"])  # synchronised sensors: the same window
    # Same scale and shift on both axes: a symmetric field stays symmetric.
    assert torch.allclose(out["acc"], out["acc"].transpose(-1, -2), atol=1e-5)
    assert not torch.allclose(out["acc"][0], image, atol=1e-3)


def test_a_full_window_with_no_shift_is_the_identity():
    torch.manual_seed(0)
    image = torch.randn(1, 3, 16, 16)
    out = random_time_crop({"acc": image}, 0.999999)
    assert torch.allclose(out["acc"], image, atol=1e-3)


# ------------------------------------------------------------------ time warp
def test_warp_off_returns_the_images_untouched():
    images = {"acc": torch.randn(2, 3, 8, 8)}
    assert random_time_warp(images, 0.0) is images


def test_a_warped_image_is_the_field_of_the_warped_series():
    from pipeline.data import random_time_warp

    fine = np.linspace(0, 1, 4000)
    series = lambda u: np.stack([np.sin(2 * np.pi * u) + u, np.cos(3 * u), u ** 2], axis=1)  # noqa: E731
    size, strength = 32, 0.8
    image = gasf(series(fine), size)
    torch.manual_seed(3)
    out = random_time_warp({"acc": image[None], "gyro": image[None]}, strength)
    torch.manual_seed(3)
    amount = float((torch.rand(1) * 2 - 1) * strength)
    assert abs(amount) > 0.3  # a real warp, not a near-identity
    # The warped series: time t maps to w(t) on [-1, 1], i.e. u = (w(2t - 1) + 1) / 2 on [0, 1].
    t = 2 * fine - 1
    warped_time = (t + amount * np.sin(np.pi * (t + 1)) / np.pi + 1) / 2
    expected = gasf(series(warped_time), size)
    assert torch.equal(out["acc"], out["gyro"])  # synchronised sensors: the same warp
    assert torch.allclose(out["acc"], out["acc"].transpose(-1, -2), atol=1e-5)  # same warp on both axes
    error = (out["acc"][0] - expected).abs()
    # Resampling a 32 px field differs from averaging the warped series over PAA windows where
    # the field changes fast; typical pixels agree closely.
    assert error.mean() < 0.04 and error.flatten().quantile(0.9) < 0.1, (error.mean(), error.max())
    assert (image - expected).abs().mean() > 5 * error.mean()  # the warp changed the image


# ------------------------------------------------------------------ segment positions
def test_segment_positions_are_the_sampled_frames_centres(tmp_path):
    import h5py
    import numpy as np

    from pipeline.data import VideoClips

    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as cache:
        cache.create_dataset("sample_id", data=np.array(["s0", "s1"], dtype=object), dtype=h5py.string_dtype())
        cache["frames"] = np.zeros((2, 8, 4, 4, 3), np.uint8)
    samples = pd.DataFrame({"sample_id": ["s0", "s1"], "recording_id": ["r0", "r1"], "label": [0, 1]})
    centre = VideoClips(path, samples, 4, "centre")
    torch.testing.assert_close(centre.segment_positions([0, 1]), torch.tensor([[1.5, 3.5, 5.5, 7.5]] * 2) / 8)
    random = VideoClips(path, samples, 4, "random", seed=3)
    random.set_epoch(2)
    expected = (random.chosen_frames(1).float() + 0.5) / 8
    torch.testing.assert_close(random.segment_positions([1])[0], expected)


def test_split_table_gives_every_manifest_sample_its_part():
    manifest = pd.DataFrame({"sample_id": ["a", "b", "c"], "label": [0, 1, 0]})
    splits = pd.DataFrame({"sample_id": ["c", "a", "b"], "p": ["test", "train", "val"]})
    table = split_table(manifest, splits, "p")
    assert table["part"].tolist() == ["train", "val", "test"] and table["label"].tolist() == [0, 1, 0]
