"""A tiny smoke version of benchmarks/frames.py: what it reports is checked against an
independent decode and timing of the same files."""
import time

import numpy as np

from tests.benchmarks.helpers import positive_and_finite
from tests.conftest import SHARED


def test_frames_benchmark_agrees_with_an_independent_decord_loop(tmp_path):
    import decord
    import h5py

    from benchmarks import frames
    from pipeline.frames import resize_frames, uniform_indices

    folder = SHARED / "videos"  # the real ones when present
    real = sorted(p for p in folder.glob("*") if p.suffix in (".avi", ".mp4")) if folder.is_dir() else []
    workdir = tmp_path / "work"
    result = frames.main(["--repeat", "2", "--synthetic", "2", "--per-video", "4", "--size", "32",
                          "--videos", str(folder if real else tmp_path / "none"), "--workdir", str(workdir)])
    videos = [str(p) for p in real] * 2 + [str(workdir / f"clip{i:03d}.avi") for i in range(2)]
    assert result["real_videos"] == [p.name for p in real]
    assert result["videos"] == len(videos)

    # The same files, decoded and timed here with a plain decord loop of our own.
    start = time.perf_counter()
    decoded = []
    for video in videos:
        reader = decord.VideoReader(video, ctx=decord.cpu(0))
        batch = reader.get_batch(uniform_indices(len(reader), 4).tolist()).asnumpy()
        decoded.append(resize_frames(batch, 32, "center"))
    seconds = time.perf_counter() - start

    # The frames stage's output, kept in --workdir: every video, each equal to our decode.
    with h5py.File(workdir / "frames.h5", "r") as cache:
        ours = cache["frames"][()]
    assert ours.shape == (len(videos), 4, 32, 32, 3)
    assert result["frames_shape"] == list(ours.shape)
    for index, (cached, expected) in enumerate(zip(ours, decoded)):
        assert np.array_equal(cached, expected), videos[index]
    assert result["identical_frames"] is True and result["compared_videos"] == len(videos)

    for key in ("reference_seconds", "ours_seconds", "speedup", "reference_videos_per_s", "ours_videos_per_s"):
        assert positive_and_finite(result[key]), key
    # The reported reference time is that of a decord loop over these files (generous: shared CPUs).
    assert 0.2 * seconds <= result["reference_seconds"] <= 5 * seconds, (result["reference_seconds"], seconds)
