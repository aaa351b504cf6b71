"""Decode videos into a fixed number of uniformly spaced frames, cached in one HDF5 file.

The cache holds ``frames`` (N, F, S, S, 3) uint8 in a contiguous dataset (h5py reads one
sample of a contiguous dataset at tens of thousands per second; fancy indexing of chunked
ones is ~200x slower), ``sample_id`` (N,), ``frame_indices`` (N, F) and ``num_frames`` (N,).
Training later draws TSN segments from these F frames. A manifest without any video (sensors
only) gets a cache of zero samples (attribute ``no_video``): the students are then skipped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.errors import PipelineError
from pipeline.io import atomic_output
from pipeline.processes import exit_on_sigterm, task_map

log = logging.getLogger(__name__)

CROPS = ("center", "none")


class FrameError(PipelineError, ValueError):
    """A video that cannot be decoded; the message names the file."""


IMAGE_SUFFIXES = (".pgm", ".png", ".jpg", ".jpeg", ".bmp")

# A video whose decodable frames fall short of what its container declares by more than
# max(MISSING_FRAMES, MISSING_FRACTION * declared) is truncated (a copy or download cut short):
# caching its surviving frames as if they were the whole clip would teach the wrong action.
MISSING_FRAMES = 2
MISSING_FRACTION = 0.05


@dataclass(frozen=True)
class FrameSpec:
    per_video: int
    size: int
    crop: str = "center"
    dataset: str | None = None  # whose adapter may read clips in a format of its own
    depth_near: float = 1000.0  # millimetres; depth is clipped to [near, far]
    depth_far: float = 4000.0
    depth_subject_crop: bool = True  # crop depth to the bounding box of non-zero pixels
    depth_margin: float = 0.1  # of the box size, on each side


def uniform_indices(num_frames: int, count: int) -> np.ndarray:
    """Centres of ``count`` equal segments of ``[0, num_frames)``; repeats when the video is
    shorter than ``count``."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    centres = np.floor((np.arange(count) + 0.5) * num_frames / count).astype(np.int64)
    return np.clip(centres, 0, num_frames - 1)


def resize_frames(frames: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """(K, H, W, 3) uint8 -> (K, size, size, 3): optional centre square crop, then an
    antialiased bilinear resize (PIL) so small caches do not alias."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    height, width = frames.shape[1:3]
    if crop == "center" and height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        frames = frames[:, top : top + side, left : left + side]
    if frames.shape[1:3] == (size, size):
        return np.ascontiguousarray(frames)
    return np.stack(
        [np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR)) for frame in frames]
    )


def read_video_frames(path: str | Path, indices_for) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode the frames ``indices_for(num_frames)`` of a video file with decord."""
    import decord  # imported here so processes that never decode do not load FFmpeg

    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: video file not found")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        num_frames = len(reader)
        if num_frames < 1:
            raise FrameError(f"{path}: video has no frames")
        # decord indexes every packet on open, so len() is what the file really holds;
        # checked before decoding anything, from the container header (a millisecond).
        declared = declared_length(path)
        if declared is not None:
            last = float(reader.get_frame_timestamp(num_frames - 1)[1]) if declared.seconds_only else 0.0
            _check_complete(path, num_frames, last, declared)
        indices = indices_for(num_frames)
        frames = reader.get_batch(indices.tolist()).asnumpy()
    except FrameError:
        raise
    except Exception as error:  # decord raises its own DECORDError and RuntimeErrors
        message = str(error).strip()
        if "DECORDArrayCopyFromTo" in message:
            # decord bug (dmlc/decord#336): some small frame widths (48, 72 px) fail to copy.
            log.warning("%s: decord cannot copy frames of this size; decoding with PyAV", path)
            return read_video_frames_pyav(path, indices_for)
        failure = message.splitlines()[0] if message else type(error).__name__
    else:
        failure = None
    if failure is not None:
        # decord refuses some truncated files outright (a packet cut mid-way); say so when
        # PyAV can count what survives, else keep decord's own message.
        _check_complete_with_pyav(path)
        raise FrameError(f"{path}: decord cannot read this video ({failure})")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise FrameError(f"{path}: decoded frames have unexpected shape {frames.shape}")
    return frames, indices, num_frames


@dataclass(frozen=True)
class DeclaredLength:
    """What a container header says about its video stream's length: ``frames`` exact
    (``seconds_only`` False) or estimated from ``seconds`` x ``fps`` (``seconds_only`` True:
    containers such as Matroska store a duration but no frame count)."""

    frames: int
    seconds: float | None
    fps: float | None
    seconds_only: bool = False


def declared_length(path: str | Path, container=None) -> DeclaredLength | None:
    """The declared length of a video's first video stream (PyAV reads the header only), or
    None when the header declares neither a frame count nor a duration and frame rate."""
    import av

    if container is None:
        try:
            with av.open(str(path)) as opened:
                return declared_length(path, opened)
        except (av.FFmpegError, OSError, ValueError):
            return None
    if not container.streams.video:
        return None
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration and container.duration > 0:
        seconds = container.duration / av.time_base
    else:
        seconds = None
    if stream.frames and stream.frames > 0:
        return DeclaredLength(int(stream.frames), seconds, fps)
    if seconds and fps:
        return DeclaredLength(int(round(seconds * fps)), seconds, fps, seconds_only=True)
    return None


def _check_complete(path: Path, decoded: int, last_end: float, declared: DeclaredLength) -> None:
    """Raise FrameError when a video holds fewer frames than its header declares, beyond
    the tolerance. With a declared duration only, the time the decoded frames cover
    (``last_end``: end of the last one, seconds) is compared, which variable frame rates
    do not upset."""
    tolerance = max(MISSING_FRAMES, MISSING_FRACTION * declared.frames)
    if not declared.seconds_only:
        if declared.frames - decoded > tolerance:
            raise FrameError(
                f"{path}: video is truncated or damaged: decoded {decoded} of {declared.frames} declared frames"
            )
        return
    frame_time = 1 / declared.fps
    if declared.seconds - last_end > max(MISSING_FRAMES * frame_time, MISSING_FRACTION * declared.seconds):
        raise FrameError(
            f"{path}: video is truncated or damaged: decoded {decoded} of about {declared.frames} declared "
            f"frames ({last_end:.2f} of {declared.seconds:.2f} s)"
        )


def _check_complete_with_pyav(path: Path) -> None:
    """For a video decord will not open: count the frames PyAV can decode (no conversion)
    and raise the truncation error when they fall short of the declared length."""
    import av

    try:
        with av.open(str(path)) as container:
            declared = declared_length(path, container)
            if declared is None:
                return
            decoded, last_end = 0, 0.0
            try:
                for frame in container.decode(video=0):
                    decoded += 1
                    if frame.time is not None:
                        last_end = frame.time + 1 / (declared.fps or 1)
            except av.FFmpegError:
                pass  # a cut-off last packet: count what came before it
    except (av.FFmpegError, OSError, ValueError):
        return
    if decoded:
        _check_complete(path, decoded, last_end, declared)


def depth_to_uint8(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """(K, H, W) millimetres -> (K, H, W, 3) uint8: near is bright (255), far dim (1), and no
    reading (0) stays 0 so the silhouette keeps its black background."""
    if not 0 <= near < far:
        raise ValueError(f"depth range needs 0 <= near < far, got {near}, {far}")
    clipped = np.clip(depth.astype(np.float32), near, far)
    levels = np.where(depth > 0, 1 + np.rint(254 * (far - clipped) / (far - near)), 0).astype(np.uint8)
    return np.repeat(levels[..., None], 3, axis=-1)


def subject_box(depth: np.ndarray, margin: float) -> tuple[int, int, int, int] | None:
    """Square (top, left, side, side) around the non-zero pixels of a whole clip (K, H, W),
    widened by ``margin`` of its size on each side; None when the clip is empty."""
    mask = (depth > 0).any(axis=0)
    if not mask.any():
        return None
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    side = int(np.ceil(max(bottom - top, right - left) * (1 + 2 * margin)))
    centre_row, centre_column = (top + bottom) / 2, (left + right) / 2
    return int(round(centre_row - side / 2)), int(round(centre_column - side / 2)), side, side


def crop_with_padding(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Crop (K, H, W, ...) to ``box``, padding with zeros where it leaves the frame."""
    top, left, height, width = box
    out = np.zeros((frames.shape[0], height, width, *frames.shape[3:]), dtype=frames.dtype)
    source_top, source_left = max(top, 0), max(left, 0)
    source_bottom, source_right = min(top + height, frames.shape[1]), min(left + width, frames.shape[2])
    out[:, source_top - top : source_bottom - top, source_left - left : source_right - left] = frames[
        :, source_top:source_bottom, source_left:source_right
    ]
    return out


def read_frame_folder(path: Path, indices_for) -> tuple[np.ndarray, np.ndarray, int]:
    """A folder of still images (e.g. Berkeley-MHAD's .pgm frames) read as a video."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FrameError(f"{path}: frame folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
    indices = indices_for(len(files))
    try:
        frames = np.stack([np.asarray(Image.open(files[i]).convert("RGB")) for i in indices])
    except (OSError, ValueError) as error:
        raise FrameError(f"{path}: cannot read frame image ({error})") from None
    return frames, indices, len(files)


def read_video_frames_pyav(path: Path, indices_for) -> tuple[np.ndarray, np.ndarray, int]:
    """Sequential PyAV decode, keeping the wanted frames: the fallback for decord's bug."""
    import av

    frames, failure, last_end = [], None, 0.0
    try:
        with av.open(str(path)) as container:
            declared = declared_length(path, container)
            try:
                for frame in container.decode(video=0):
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if frame.time is not None and declared is not None:
                        last_end = frame.time + 1 / (declared.fps or 1)
            except av.FFmpegError as error:
                if not frames:
                    raise
                failure = error  # frames decoded before a damaged packet
    except av.FFmpegError as error:
        raise FrameError(f"{path}: PyAV cannot read this video ({error})") from None
    if not frames:
        raise FrameError(f"{path}: video has no frames")
    if declared is not None:
        _check_complete(path, len(frames), last_end, declared)
    if failure is not None:
        raise FrameError(f"{path}: PyAV cannot read this video ({failure})")
    indices = indices_for(len(frames))
    return np.stack([frames[i] for i in indices]), indices, len(frames)


def decode_sample(path: str, spec: FrameSpec) -> tuple[np.ndarray, np.ndarray, int]:
    """One video -> (F, S, S, 3) uint8 frames, their source indices, and the frame count.

    Sources: a video file (decord), a folder of frame images, or a clip the dataset's
    adapter reads itself (UTD-MHAD depth); depth clips become 8-bit images here."""
    from pipeline.datasets import read_video
    from pipeline.signals import SignalError

    def indices_for(count):
        return uniform_indices(count, spec.per_video)

    path = Path(path)
    try:
        clip = read_video(spec.dataset, path) if spec.dataset else None
    except SignalError as error:
        raise FrameError(str(error)) from None
    if clip is not None:
        if len(clip) < 1:
            raise FrameError(f"{path}: clip has no frames")
        indices = indices_for(len(clip))
        if clip.ndim == 3:  # depth (K, H, W)
            frames = depth_to_uint8(clip[indices], spec.depth_near, spec.depth_far)
            box = subject_box(clip, spec.depth_margin) if spec.depth_subject_crop else None
            if box is not None:
                frames = crop_with_padding(frames, box)
        else:
            frames = clip[indices]
        return resize_frames(frames, spec.size, spec.crop), indices, len(clip)
    if path.is_dir():
        frames, indices, num_frames = read_frame_folder(path, indices_for)
    else:
        frames, indices, num_frames = read_video_frames(path, indices_for)
    return resize_frames(frames, spec.size, spec.crop), indices, num_frames


def _decode_or_error(task: tuple[str, FrameSpec]):
    path, spec = task
    try:
        return decode_sample(path, spec)
    except FrameError as error:
        return str(error)


def build_frame_cache(
    sample_ids: list[str],
    videos: list[str],
    output: str | Path,
    spec: FrameSpec,
    workers: int = 1,
    on_error: str = "raise",
    progress: bool = True,
) -> dict:
    """Decode every video into ``output`` (HDF5). Returns a report with the skipped videos,
    the ``short`` ones (fewer frames than ``spec.per_video``: repeated) and the ``blank`` ones
    (cached all black).

    ``on_error='raise'`` stops at the first unreadable video with an error naming it;
    ``'skip'`` leaves it out of the cache and lists it in the report.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if len(sample_ids) != len(videos) or not videos:
        raise ValueError("need one video path per sample id, and at least one")
    count, shape = len(videos), (spec.per_video, spec.size, spec.size, 3)
    tasks = [(str(video), spec) for video in videos]
    skipped: list[dict] = []
    short: list[dict] = []  # fewer frames than per_video: some are repeated
    blank: list[dict] = []  # every cached frame black (e.g. a depth clip without any reading)
    with exit_on_sigterm("frame cache"), atomic_output(output) as temporary:
        with h5py.File(temporary, "w") as cache:
            frames = cache.create_dataset("frames", shape=(count, *shape), dtype=np.uint8)
            frame_indices = cache.create_dataset("frame_indices", shape=(count, spec.per_video), dtype=np.int32)
            num_frames = cache.create_dataset("num_frames", shape=(count,), dtype=np.int32)
            kept: list[str] = []
            with task_map(workers) as mapper, tqdm(
                total=count, desc="frames", unit="video", disable=not progress
            ) as bar:
                for sample_id, task, result in zip(sample_ids, tasks, mapper(_decode_or_error, tasks)):
                    bar.update()
                    if isinstance(result, str):
                        if on_error == "raise":
                            raise FrameError(result)
                        skipped.append({"sample_id": sample_id, "video": task[0], "error": result})
                        continue
                    row = len(kept)
                    frames[row], frame_indices[row], num_frames[row] = result
                    kept.append(sample_id)
                    if result[2] < spec.per_video:
                        short.append({"sample_id": sample_id, "video": task[0], "frames": int(result[2])})
                    if not result[0].any():
                        blank.append({"sample_id": sample_id, "video": task[0]})
            if not kept:
                raise FrameError(f"no video could be decoded (first error: {skipped[0]['error']})")
            cache.create_dataset("sample_id", data=np.array(kept, dtype=object), dtype=h5py.string_dtype())
            cache.attrs.update(per_video=spec.per_video, size=spec.size, crop=spec.crop)
        if len(kept) < count:
            _truncate(temporary, len(kept))
    if short:
        log.warning("%d videos have fewer frames than frames.per_video=%d (their frames are repeated), e.g. %s "
                    "(%d frames); listed in the report", len(short), spec.per_video, short[0]["video"],
                    short[0]["frames"])
    if blank:
        log.warning("%d videos are cached all black, e.g. %s; listed in the report", len(blank), blank[0]["video"])
    return {
        "videos": count,
        "cached": count - len(skipped),
        "skipped": skipped,
        "skipped_sample_ids": [entry["sample_id"] for entry in skipped],
        "short": short,
        "blank": blank,
    }


def write_empty_frame_cache(output: str | Path, spec: FrameSpec) -> None:
    """The frame cache of a manifest without any video (sensors only): every dataset of a
    cache, with zero samples, so the stages that need frames can tell "no video" from a
    missing or damaged cache (``frame_cache_has_video``)."""
    shape = (0, spec.per_video, spec.size, spec.size, 3)
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as cache:
        cache.create_dataset("frames", shape=shape, dtype=np.uint8)
        cache.create_dataset("frame_indices", shape=(0, spec.per_video), dtype=np.int32)
        cache.create_dataset("num_frames", shape=(0,), dtype=np.int32)
        cache.create_dataset("sample_id", shape=(0,), dtype=h5py.string_dtype())
        cache.attrs.update(per_video=spec.per_video, size=spec.size, crop=spec.crop, no_video=True)


def frame_cache_has_video(path: str | Path) -> bool:
    """False for the empty cache of a manifest without video (``write_empty_frame_cache``)."""
    return len(cached_sample_ids(path)) > 0


def no_video_preview(output: str | Path, note: str) -> None:
    """The preview plot of a cache without video: a small image saying so (DVC declares it)."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (480, 48), "white")
    ImageDraw.Draw(image).text((12, 14), note, fill="black", font=ImageFont.load_default(size=16))
    with atomic_output(output) as temporary:
        image.save(temporary, format="PNG")


def cached_sample_ids(path: str | Path) -> list[str]:
    """The sample ids a frame cache holds, in its row order: the samples that have frames
    (those ``on_error='skip'`` left out are absent)."""
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: frame cache not found (run the frames stage)")
    try:
        with h5py.File(path, "r") as cache:
            if "sample_id" not in cache:
                raise FrameError(f"{path}: not a frame cache (no 'sample_id' dataset)")
            return [value.decode() if isinstance(value, bytes) else str(value) for value in cache["sample_id"][:]]
    except OSError as error:
        raise FrameError(f"{path}: cannot read the frame cache ({error})") from None


def _truncate(path: Path, rows: int) -> None:
    """Contiguous datasets cannot shrink: copy the first ``rows`` samples into a new file."""
    compact = path.with_name(path.name + ".compact")  # still atomic_output's stale pattern
    try:
        with h5py.File(path, "r") as source, h5py.File(compact, "w") as target:
            for name, dataset in source.items():
                target.create_dataset(name, data=dataset[:rows], dtype=dataset.dtype)
            target.attrs.update(dict(source.attrs))
        compact.replace(path)
    except BaseException:
        compact.unlink(missing_ok=True)
        raise


def open_frame_cache(path: str | Path) -> h5py.File:
    """Open a frame cache for reading; one handle per process or DataLoader worker."""
    return h5py.File(path, "r")


def contact_sheet(cache_path: str | Path, output: str | Path, samples: int = 8, frames: int = 8,
                  seed: int = 0) -> list[str]:
    """Save a PNG grid from a frame cache: one row per sample (spread over the cache, drawn
    with ``seed``), ``frames`` of its cached frames per row. Returns the sample ids shown."""
    with h5py.File(cache_path, "r") as cache:
        count, per_video = cache["frames"].shape[:2]
        rows = np.sort(np.random.default_rng(seed).choice(count, size=min(samples, count), replace=False))
        columns = uniform_indices(per_video, min(frames, per_video))
        tiles = [np.concatenate(list(cache["frames"][row][columns]), axis=1) for row in rows]
        shown = [cache["sample_id"][row].decode() for row in rows]
    sheet = np.concatenate(tiles, axis=0)
    with atomic_output(output) as temporary:
        Image.fromarray(sheet).save(temporary, format="PNG")
    return shown
