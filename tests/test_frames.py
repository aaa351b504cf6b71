import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.frames import FrameError, FrameSpec, build_frame_cache, resize_frames, uniform_indices
from tests.conftest import decode_with_pyav, shared_path, write_video


def test_uniform_indices_by_hand():
    assert uniform_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert uniform_indices(3, 5).tolist() == [0, 0, 1, 2, 2]  # floor((i + 0.5) * 3 / 5): repeats
    assert uniform_indices(1, 3).tolist() == [0, 0, 0]


@given(st.integers(1, 2000), st.integers(1, 64))
def test_uniform_indices_are_sorted_and_in_range(num_frames, count):
    indices = uniform_indices(num_frames, count)
    assert len(indices) == count
    assert indices.min() >= 0 and indices.max() < num_frames
    assert np.all(np.diff(indices) >= 0)
    if num_frames >= count:
        assert len(set(indices.tolist())) == count  # distinct when there are enough frames


def test_resize_crops_the_centre_square():
    frames = np.zeros((1, 40, 60, 3), dtype=np.uint8)
    frames[:, :, 10:50] = 200  # the centre 40x40 square is bright, the side bands dark
    cropped = resize_frames(frames, 20, "center")
    assert cropped.shape == (1, 20, 20, 3) and cropped.min() == 200
    stretched = resize_frames(frames, 20, "none")
    assert stretched.shape == (1, 20, 20, 3) and stretched.min() < 50


def test_cache_holds_the_uniform_frames(ramp_video, tmp_path):
    output = tmp_path / "frames.h5"
    report = build_frame_cache(["ramp"], [ramp_video], output, FrameSpec(5, 16), workers=1, progress=False)
    assert report == {"videos": 1, "cached": 1, "skipped": []}
    with h5py.File(output) as cache:
        assert cache["frames"].shape == (1, 5, 16, 16, 3) and cache["frames"].dtype == np.uint8
        assert cache["frames"].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
        assert cache["frame_indices"][0].tolist() == [2, 6, 10, 14, 18]
        assert cache["num_frames"][0] == 20
        assert cache["sample_id"][0].decode() == "ramp"
        levels = cache["frames"][0].reshape(5, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [40, 80, 120, 160, 200], atol=3)  # frame k is 10k + 20


def test_decord_small_width_bug_falls_back_to_pyav(tmp_path):
    # decord 0.6 fails to copy 48-px-wide frames (dmlc/decord#336); PyAV decodes them.
    frames = np.random.default_rng(0).integers(0, 255, (7, 48, 48, 3), dtype=np.uint8)
    video = write_video(tmp_path / "small.avi", frames)
    output = tmp_path / "frames.h5"
    build_frame_cache(["small"], [video], output, FrameSpec(3, 48), progress=False)
    with h5py.File(output) as cache:
        assert cache["frame_indices"][0].tolist() == [1, 3, 5]
        np.testing.assert_array_equal(cache["frames"][0], decode_with_pyav(video)[[1, 3, 5]])


def unreadable(tmp_path):
    path = tmp_path / "broken.avi"
    path.write_bytes(b"this is not a video" * 100)
    return path


def test_unreadable_video_is_an_error_and_leaves_nothing(ramp_video, tmp_path):
    output = tmp_path / "out" / "frames.h5"
    with pytest.raises(FrameError, match=r"broken.avi: decord cannot read this video"):
        build_frame_cache(["ok", "bad"], [ramp_video, unreadable(tmp_path)], output, FrameSpec(4, 8),
                          progress=False)
    assert list(output.parent.iterdir()) == []  # neither the cache nor a temporary file


def test_unreadable_video_can_be_skipped_and_reported(ramp_video, tmp_path):
    output = tmp_path / "frames.h5"
    report = build_frame_cache(["bad", "ok"], [unreadable(tmp_path), ramp_video], output, FrameSpec(4, 8),
                               on_error="skip", progress=False)
    assert report["cached"] == 1 and report["skipped"][0]["sample_id"] == "bad"
    assert "broken.avi" in report["skipped"][0]["error"]
    with h5py.File(output) as cache:
        assert cache["frames"].shape[0] == 1 and cache["sample_id"][0].decode() == "ok"
        assert cache["frames"].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.avi", "frames.h5", "ramp.avi"]


def test_missing_video_file(tmp_path):
    with pytest.raises(FrameError, match="nothere.avi: video file not found"):
        build_frame_cache(["x"], [tmp_path / "nothere.avi"], tmp_path / "f.h5", FrameSpec(2, 8), progress=False)


@pytest.mark.shared
def test_real_videos_equal_a_pyav_decode(tmp_path):
    videos = [shared_path("videos", "vtest.avi"), shared_path("videos", "waving_2hands.mp4")]
    spec = FrameSpec(per_video=8, size=96, crop="center")
    output = tmp_path / "frames.h5"
    build_frame_cache(["vtest", "waving"], videos, output, spec, workers=2, progress=False)
    with h5py.File(output) as cache:
        for row, video in enumerate(videos):
            reference = decode_with_pyav(video)
            indices = cache["frame_indices"][row]
            assert cache["num_frames"][row] == len(reference)
            expected = resize_frames(reference[indices], spec.size, spec.crop)
            difference = np.abs(cache["frames"][row].astype(int) - expected)
            assert difference.max() <= 3 and difference.mean() < 0.05


def test_contact_sheet_tiles_the_cached_frames(ramp_video, tmp_path):
    from PIL import Image

    from pipeline.frames import contact_sheet

    cache = tmp_path / "frames.h5"
    build_frame_cache(["a", "b"], [ramp_video, ramp_video], cache, FrameSpec(5, 16), progress=False)
    shown = contact_sheet(cache, tmp_path / "sheet.png", samples=2, frames=5)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert shown == ["a", "b"] and sheet.shape == (2 * 16, 5 * 16, 3)
    np.testing.assert_allclose(sheet[:16, ::16, 0].mean(axis=0), [40, 80, 120, 160, 200], atol=3)
