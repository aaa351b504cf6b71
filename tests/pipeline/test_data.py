"""Streamed caches (train.cache_in_memory: false) give exactly the tensors of in-memory ones,
in the main process and through DataLoader workers, each with its own file handle."""
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
    IN_MEMORY_LIMIT, LazyFile, SensorImages, VideoClips, keep_in_memory, normalize_clips, read_rows,
)
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
