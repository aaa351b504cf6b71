"""pipeline/frames.py: uniform frame sampling, the frame cache, unreadable and truncated
videos, and killing a frames build: SIGTERM unwinds it (no temporary file, no decode worker
left); after SIGKILL the workers still die with their parent and the next build removes the
temporary the killed one left."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.frames import (
    FrameError,
    FrameSpec,
    build_frame_cache,
    cached_sample_ids,
    resize_frames,
    uniform_indices,
)
from pipeline.io import temporary_path
from tests.conftest import REPO, decode_with_pyav, shared_path, write_video
from tests.pipeline.helpers import gone, kill_leftovers, wait_for


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
    assert report == {"videos": 1, "cached": 1, "skipped": [], "skipped_sample_ids": [], "short": [], "blank": []}
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


def test_short_and_black_videos_are_cached_and_listed_in_the_report(ramp_video, tmp_path, caplog):
    black = write_video(tmp_path / "black.avi", np.zeros((30, 48, 64, 3), dtype=np.uint8))
    report = build_frame_cache(["ramp", "black"], [ramp_video, black], tmp_path / "frames.h5", FrameSpec(25, 16),
                               progress=False)
    assert report["cached"] == 2
    assert report["short"] == [{"sample_id": "ramp", "video": str(ramp_video), "frames": 20}]
    assert report["blank"] == [{"sample_id": "black", "video": str(black)}]
    assert "1 videos have fewer frames than frames.per_video=25" in caplog.text
    assert "1 videos are cached all black" in caplog.text


def test_unreadable_video_can_be_skipped_and_reported(ramp_video, tmp_path):
    output = tmp_path / "frames.h5"
    report = build_frame_cache(["bad", "ok"], [unreadable(tmp_path), ramp_video], output, FrameSpec(4, 8),
                               on_error="skip", progress=False)
    assert report["cached"] == 1 and report["skipped"][0]["sample_id"] == "bad"
    assert "broken.avi" in report["skipped"][0]["error"]
    assert report["skipped_sample_ids"] == ["bad"] and cached_sample_ids(output) == ["ok"]
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


# ------------------------------------------------------------------ truncated videos
NOISE = np.random.default_rng(1).integers(0, 255, (80, 96, 128, 3), dtype=np.uint8)  # 80 frames, 8 s


def remux(source, destination, **options):
    """Copy a video's packets into another container (e.g. an MP4 with its index first,
    ``movflags='faststart'``, as cameras and web downloads write them, or Matroska)."""
    import av

    with av.open(str(source)) as reader, av.open(str(destination), "w", options=options) as writer:
        stream = writer.add_stream_from_template(reader.streams.video[0])
        for packet in reader.demux(reader.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                writer.mux(packet)
    return destination


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    """Intact 80-frame videos: MP4 with the index first, MP4 with it last (PyAV's default),
    AVI and Matroska (which declares a duration but no frame count)."""
    folder = tmp_path_factory.mktemp("intact")
    mp4 = write_video(folder / "index_last.mp4", NOISE)
    return {
        "mp4": remux(mp4, folder / "clip.mp4", movflags="faststart"),
        "index_last.mp4": mp4,
        "avi": write_video(folder / "clip.avi", NOISE),
        "mkv": remux(mp4, folder / "clip.mkv"),
    }


def cut(source, destination, fraction):
    data = source.read_bytes()
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


TRUNCATED = "video is truncated or damaged: decoded {} of {} declared frames"


@pytest.mark.parametrize("kind, fraction", [("mp4", 0.5), ("mp4", 0.9), ("avi", 0.5), ("avi", 0.9)])
def test_truncated_video_is_an_error_naming_both_counts(intact, tmp_path, kind, fraction):
    video = cut(intact[kind], tmp_path / f"cut.{kind}", fraction)
    output = tmp_path / "out" / "frames.h5"
    with pytest.raises(FrameError, match=rf"cut\.{kind}: video is truncated") as caught:
        build_frame_cache(["ok", "cut"], [intact[kind], video], output, FrameSpec(4, 8), progress=False)
    decoded, declared = map(int, re.search(r"decoded (\d+) of (\d+) declared frames", str(caught.value)).groups())
    assert declared == 80 and abs(decoded - 80 * fraction) <= 6  # what survives the cut
    assert not output.parent.exists() or list(output.parent.iterdir()) == []


def test_mp4_cut_where_decord_still_opens_it(intact, tmp_path):
    # Cut exactly between two packets near the middle: decord opens the file and indexes the
    # surviving packets (len 40), as it does for real faststart MP4s cut anywhere.
    import av
    import decord

    with av.open(str(intact["mp4"])) as container:
        starts = [packet.pos for packet in container.demux(video=0) if packet.size]
    video = tmp_path / "cut.mp4"
    video.write_bytes(intact["mp4"].read_bytes()[: starts[40]])
    assert len(decord.VideoReader(str(video))) == 40  # the old code cached these 40 as the clip
    with pytest.raises(FrameError, match=r"cut\.mp4: " + TRUNCATED.format(40, 80)):
        build_frame_cache(["cut"], [video], tmp_path / "frames.h5", FrameSpec(4, 8), progress=False)


def test_mp4_with_index_last_cut_is_unreadable(intact, tmp_path):
    video = cut(intact["index_last.mp4"], tmp_path / "cut.mp4", 0.9)  # its moov atom is gone
    with pytest.raises(FrameError, match=r"cut\.mp4: decord cannot read this video"):
        build_frame_cache(["cut"], [video], tmp_path / "frames.h5", FrameSpec(4, 8), progress=False)


def test_matroska_declares_a_duration_only(intact, tmp_path):
    build_frame_cache(["mkv"], [intact["mkv"]], tmp_path / "frames.h5", FrameSpec(4, 8), progress=False)
    video = cut(intact["mkv"], tmp_path / "cut.mkv", 0.5)
    with pytest.raises(FrameError, match=r"cut\.mkv: video is truncated .*decoded 3\d of about 80 declared "
                                         r"frames \(3\.\d\d of 8\.00 s\)"):
        build_frame_cache(["cut"], [video], tmp_path / "frames.h5", FrameSpec(4, 8), progress=False)


def test_truncated_videos_are_skipped_and_reported(intact, tmp_path):
    videos = [cut(intact["mp4"], tmp_path / "mp4_50.mp4", 0.5), intact["avi"],
              cut(intact["mp4"], tmp_path / "mp4_90.mp4", 0.9), cut(intact["avi"], tmp_path / "avi_50.avi", 0.5),
              intact["mp4"]]
    output = tmp_path / "frames.h5"
    report = build_frame_cache(["a", "b", "c", "d", "e"], videos, output, FrameSpec(4, 8), on_error="skip",
                               workers=2, progress=False)
    assert report["cached"] == 2 and report["skipped_sample_ids"] == ["a", "c", "d"]
    for entry, name in zip(report["skipped"], ["mp4_50.mp4", "mp4_90.mp4", "avi_50.avi"]):
        assert entry["video"].endswith(name) and re.search(rf"{name}: video is truncated or damaged: "
                                                           r"decoded \d+ of 80 declared frames", entry["error"])
    assert cached_sample_ids(output) == ["b", "e"]
    with h5py.File(output) as cache:
        assert cache["num_frames"][:].tolist() == [80, 80]


def test_a_few_missing_frames_are_tolerated(tmp_path):
    # an AVI declares 80 frames and holds 78 (e.g. an encoder that drops its last two):
    # within max(2 frames, 5 %), so it is cached.
    from pipeline.frames import DeclaredLength, _check_complete

    _check_complete(tmp_path / "x.avi", 78, 0.0, DeclaredLength(80, 8.0, 10.0))
    _check_complete(tmp_path / "x.avi", 96, 0.0, DeclaredLength(100, 10.0, 10.0))
    with pytest.raises(FrameError, match="x.avi: .*decoded 94 of 100 declared frames"):
        _check_complete(tmp_path / "x.avi", 94, 0.0, DeclaredLength(100, 10.0, 10.0))


@pytest.mark.shared
@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_real_videos_cut_short_are_errors(tmp_path, fraction):
    for name, declared in [("waving_2hands.mp4", 169), ("vtest.avi", 795)]:
        video = cut(shared_path("videos", name), tmp_path / name, fraction)
        with pytest.raises(FrameError, match=rf"{name}: video is truncated or damaged: decoded \d+ of "
                                             rf"{declared} declared frames"):
            build_frame_cache(["cut"], [video], tmp_path / "frames.h5", FrameSpec(4, 8), progress=False)


def test_cached_sample_ids_of_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(FrameError, match="nothere.h5: frame cache not found"):
        cached_sample_ids(tmp_path / "nothere.h5")
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["x"] = 1
    with pytest.raises(FrameError, match="other.h5: not a frame cache"):
        cached_sample_ids(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FrameError, match="text.h5: cannot read the frame cache"):
        cached_sample_ids(tmp_path / "text.h5")


# ------------------------------------------------------------------ killing a build
BUILD = textwrap.dedent("""
    import sys
    from pipeline.frames import FrameSpec, build_frame_cache
    video, output = sys.argv[1], sys.argv[2]
    build_frame_cache([str(i) for i in range(2000)], [video] * 2000, output, FrameSpec(16, 32),
                      workers=2, progress=False)
    print("finished")
""")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (60, 120, 160, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("video") / "noise.avi", frames)


def start_build(video: Path, output: Path) -> tuple[subprocess.Popen, list[int]]:
    """A 2-worker build of 2000 decodes (tens of seconds), once both workers are decoding."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    build = subprocess.Popen([sys.executable, "-c", BUILD, str(video), str(output)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def workers():
        try:
            children = psutil.Process(build.pid).children()
            spawned = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
            busy = [child for child in spawned if child.cpu_times().user > 1.0]  # past start-up
        except psutil.NoSuchProcess:
            return None
        return [child.pid for child in spawned] if len(spawned) == 2 and len(busy) == 2 else None

    try:
        pids = wait_for(workers, 60, "two busy decode workers")
        assert build.poll() is None and temporary_path(output, build.pid).exists()
    except BaseException:
        build.kill()
        raise
    return build, pids


def test_sigterm_stops_the_build_and_leaves_nothing(video, tmp_path):
    output = tmp_path / "out" / "frames.h5"
    build, workers = start_build(video, output)
    build.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = build.communicate(timeout=60)  # generous: a loaded machine is slow to unwind
    finally:
        build.kill()
        survivors = [pid for pid in workers if not gone(pid)]
        kill_leftovers(survivors)
    assert survivors == []
    assert build.returncode == 128 + signal.SIGTERM and "finished" not in stdout
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    assert list(output.parent.iterdir()) == []  # neither the cache nor its temporary


def test_sigkilled_build_leaves_no_worker_and_the_next_run_cleans_up(video, tmp_path):
    output = tmp_path / "frames.h5"
    build, workers = start_build(video, output)
    build.kill()
    build.wait(timeout=10)
    try:
        wait_for(lambda: all(gone(pid) for pid in workers), 5, "the workers to die with their parent")
    finally:
        kill_leftovers(workers)
    stale = temporary_path(output, build.pid)
    assert stale.exists()  # SIGKILL leaves no chance to clean up...
    build_frame_cache(["a"], [video], output, FrameSpec(2, 8), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.h5"]  # ...the next build does
