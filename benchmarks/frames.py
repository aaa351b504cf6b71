"""Frames stage throughput vs a plain decord loop, on the same videos and frame indices.

Videos: the real encoded files in ``../shared/data/videos`` (vtest.avi, msmpeg4 768x576;
waving_2hands.mp4, h264 720x1280), each listed --repeat times, plus --synthetic clips in
UTD-MHAD's RGB format (640x480 MPEG-4, 30 fps, 2-3 s) written here with PyAV.

- ours: ``pipeline.frames.build_frame_cache`` as the frames stage calls it (process pool of
  --workers, one decoding thread each, HDF5 output), pool start-up included;
- reference: the loop everyone writes first: ``decord.VideoReader`` (decord's default
  threading), ``get_batch`` of the same uniform indices, the same resize, into a list.

Both produce the same frames; the benchmark checks that they are identical, video by video
(``identical_frames``, over ``compared_videos`` pairs). decord is imported before the clock
starts, so the reference does not pay its import. Prints a JSON line last with videos/s of
each and ``speedup`` (reference time / ours). ``--workdir`` keeps the synthetic clips and the
frames stage's HDF5 output there (by default they go to a temporary folder, removed).

    python -m benchmarks.frames
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from benchmarks import common
from benchmarks.common import REPO
from pipeline.frames import FrameSpec, build_frame_cache, resize_frames, uniform_indices

REAL_VIDEOS = REPO.parent / "shared" / "data" / "videos"


def write_synthetic_video(path: Path, seed: int, frames: int = 75, width: int = 640, height: int = 480) -> Path:
    """A moving-shapes clip encoded like UTD-MHAD's RGB files (MPEG-4 part 2, 30 fps)."""
    import av

    rng = np.random.default_rng(seed)
    background = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 2_000_000
        for index in range(frames):
            image = background.copy()
            x = int((width - 120) * (0.5 + 0.5 * np.sin(index / 8 + seed)))
            y = int((height - 200) * (0.5 + 0.5 * np.cos(index / 11 + seed)))
            image[y:y + 200, x:x + 120] = (200, 160, 120)
            image += rng.integers(0, 8, size=image.shape, dtype=np.uint8)  # sensor noise: realistic bit rates
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def plain_decord_loop(videos: list[str], spec: FrameSpec) -> list[np.ndarray]:
    import decord

    out = []
    for video in videos:
        reader = decord.VideoReader(video, ctx=decord.cpu(0))
        indices = uniform_indices(len(reader), spec.per_video)
        out.append(resize_frames(reader.get_batch(indices.tolist()).asnumpy(), spec.size, spec.crop))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = common.parser("benchmarks.frames", __doc__)
    parser.add_argument("--repeat", type=int, default=4, help="times each real video is listed")
    parser.add_argument("--synthetic", type=int, default=24, help="UTD-MHAD-like 640x480 clips to write")
    parser.add_argument("--per-video", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--workers", type=int, default=2, help="frames stage processes")
    parser.add_argument("--videos", default=str(REAL_VIDEOS), help="folder of real videos (skipped if absent)")
    parser.add_argument("--workdir", default=None,
                        help="folder for the synthetic clips and frames.h5, kept (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    import decord  # noqa: F401  outside the timed region: the reference loop must not pay the import

    if args.workdir is not None:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    scratch_folder = (contextlib.nullcontext(args.workdir) if args.workdir is not None
                      else tempfile.TemporaryDirectory(prefix="sakdn-frames-"))
    with scratch_folder as scratch:
        scratch = Path(scratch)
        real = sorted(str(p) for p in Path(args.videos).glob("*") if p.suffix in (".avi", ".mp4")) \
            if Path(args.videos).is_dir() else []
        synthetic = [str(write_synthetic_video(scratch / f"clip{i:03d}.avi", i)) for i in range(args.synthetic)]
        videos = real * args.repeat + synthetic
        if not videos:
            raise SystemExit("error: no videos: give --videos with .avi/.mp4 files or --synthetic N")
        spec = FrameSpec(args.per_video, args.size, "center")
        # Warm the OS file cache so neither side pays the first read.
        for video in set(videos):
            Path(video).read_bytes()

        start = time.perf_counter()
        reference = plain_decord_loop(videos, spec)
        reference_seconds = time.perf_counter() - start

        output = scratch / "frames.h5"
        start = time.perf_counter()
        build_frame_cache([f"s{i}" for i in range(len(videos))], videos, output, spec,
                          workers=args.workers, progress=False)
        ours_seconds = time.perf_counter() - start
        with h5py.File(output, "r") as cache:
            ours = cache["frames"][()]
        # Every video on both sides, or the comparison proves nothing about the missing ones.
        compared = min(len(ours), len(reference))
        identical = bool(len(ours) == len(reference) == len(videos)
                         and all(np.array_equal(a, b) for a, b in zip(ours, reference)))

    result = {
        "benchmark": "frames", "videos": len(videos), "real_videos": [Path(v).name for v in real],
        "repeat": args.repeat, "synthetic_videos": args.synthetic, "per_video": args.per_video, "size": args.size,
        "workers": args.workers, "reference_seconds": round(reference_seconds, 3), "ours_seconds": round(ours_seconds, 3),
        "reference_videos_per_s": round(len(videos) / reference_seconds, 2),
        "ours_videos_per_s": round(len(videos) / ours_seconds, 2),
        "speedup": round(reference_seconds / ours_seconds, 2), "identical_frames": identical,
        "compared_videos": compared, "frames_shape": list(ours.shape),
    }
    return common.finish(result, "benchmarks.frames", argv, args.output)


if __name__ == "__main__":
    main()
