"""Datasets over the HDF5 caches, paired by recording (docs/method.md §0).

Teachers train on one sample per recording (its sensors' GAF images); the student iterates
video samples and looks up its recording's teacher outputs by recording id. A cache is read
once into memory when it is small (one contiguous HDF5 read; the synthetic and UTD-MHAD caches
are 0.1-0.5 GB) and streamed from the file otherwise (MMAct's frames are ~22 GB at 112 px):
``train.cache_in_memory`` (``auto`` = in memory below ``IN_MEMORY_LIMIT`` bytes). A streamed
item is one hyperslab read of a contiguous dataset (one sample's span of frames, one
recording's GAF image), through a file handle each DataLoader worker opens for itself. Both
paths give the same tensors, so a run's results do not depend on which one it took.

Randomness (TSN offsets, shuffling) is a function of (seed, epoch, sample), never of a global
generator's history, so a run resumed from a checkpoint sees exactly the data of an
uninterrupted one, and DDP ranks agree on the order.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from pipeline.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAMPLING = ("random", "centre")
# ``cache_in_memory: auto`` loads a cache whose selected rows are at most this many bytes.
IN_MEMORY_LIMIT = 4 * 2**30


def keep_in_memory(setting: bool | str, size_bytes: int) -> bool:
    """``train.cache_in_memory``: true, false, or ``auto`` (below ``IN_MEMORY_LIMIT``)."""
    if setting == "auto":
        return size_bytes <= IN_MEMORY_LIMIT
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"cache_in_memory must be true, false or 'auto', got {setting!r}")


def read_rows(dataset: h5py.Dataset, rows: np.ndarray, block: int = 64) -> np.ndarray:
    """``dataset[rows]`` (any order, repeats allowed) by contiguous block reads: fancy indexing
    of an HDF5 dataset is slow, and reading it whole then indexing would hold it twice."""
    rows = np.asarray(rows, dtype=np.int64)
    result = np.empty((len(rows), *dataset.shape[1:]), dtype=dataset.dtype)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    for start in range(0, int(ordered[-1]) + 1 if len(rows) else 0, block):
        first, last = np.searchsorted(ordered, [start, start + block])
        if first < last:
            stop = int(ordered[last - 1]) + 1
            result[order[first:last]] = dataset[start:stop][ordered[first:last] - start]
    return result


class LazyFile:
    """An HDF5 file opened read-only on first use in each process. DataLoader workers are
    forked or spawned copies of the dataset, and an h5py handle must not cross a process
    boundary, so each process opens its own (and pickling drops the handle)."""

    def __init__(self, path: str | Path):
        self.path, self._file, self._pid = str(path), None, None

    def __getitem__(self, name: str):
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file[name]

    def __getstate__(self) -> dict:
        return {"path": self.path, "_file": None, "_pid": None}

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None


def student_black() -> torch.Tensor:
    """A black frame in the student's (ImageNet-normalised) input space, per channel."""
    return -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)


def normalize_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 frames (..., 3, S, S) -> the student's float input (ImageNet-normalised). Loaders
    carry uint8 and training normalises on the device: a quarter of the bytes through the
    workers' queues, pinned memory and the host-to-GPU copy."""
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=clips.device).reshape(3, 1, 1)
    return (clips.float().div_(255) - mean) / std


def segment_indices(num_frames: int, num_segments: int, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """TSN sampling: one frame in each of ``num_segments`` equal segments of ``[0,
    num_frames)``; a random one for training, the centre for evaluation; segments shorter
    than one frame repeat frames."""
    if mode not in SAMPLING:
        raise ValueError(f"mode must be one of {SAMPLING}, got {mode!r}")
    if num_frames < 1 or num_segments < 1:
        raise ValueError("num_frames and num_segments must be >= 1")
    starts = torch.arange(num_segments, dtype=torch.float64) * num_frames / num_segments
    lengths = torch.full((num_segments,), num_frames / num_segments, dtype=torch.float64)
    if mode == "centre":
        offsets = lengths / 2
    else:
        offsets = torch.rand(num_segments, generator=generator, dtype=torch.float64) * lengths
    return (starts + offsets).floor().long().clamp(0, num_frames - 1)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(hash((seed, epoch, index)) & 0x7FFFFFFF)


class SensorImages(Dataset):
    """One item per recording: ({sensor: (3, S, S) float32}, label, index). ``in_memory``
    (``train.cache_in_memory``) loads the images now; otherwise items are read from the file
    when asked for, ``blocks`` reads whole sets block by block, and ``images`` loads them all
    on first use."""

    def __init__(self, gaf_path: str | Path, sensors: list[str], recordings: pd.DataFrame,
                 in_memory: bool | str = True):
        self.path, self.sensors = Path(gaf_path), list(sensors)
        self.recording_ids = recordings["recording_id"].tolist()
        self.labels = torch.tensor(recordings["label"].to_numpy(dtype=np.int64))
        self.rows, size = {}, 0
        with h5py.File(gaf_path, "r") as cache:
            for sensor in self.sensors:
                if sensor not in cache:
                    raise InputError(f"{gaf_path}: no sensor {sensor!r} (has {', '.join(cache)})")
                ids = [r.decode() for r in cache[sensor]["recording_id"][()]]
                position = {rid: i for i, rid in enumerate(ids)}
                missing = [rid for rid in self.recording_ids if rid not in position]
                if missing:
                    raise InputError(f"{gaf_path}: sensor {sensor!r} lacks recording {missing[0]!r}")
                self.rows[sensor] = np.array([position[rid] for rid in self.recording_ids], dtype=np.int64)
                images = cache[sensor]["gaf_images"]
                size += len(self.recording_ids) * int(np.prod(images.shape[1:])) * 4
        self.cache = LazyFile(gaf_path)
        self._images = None
        if keep_in_memory(in_memory, size):
            self._images = self._load()

    def _load(self) -> dict[str, torch.Tensor]:
        images = {}
        with h5py.File(self.path, "r") as cache:
            for sensor in self.sensors:
                stored = read_rows(cache[sensor]["gaf_images"], self.rows[sensor])
                images[sensor] = torch.from_numpy(stored.astype(np.float32))
        return images

    @property
    def streamed(self) -> bool:
        return self._images is None

    @property
    def images(self) -> dict[str, torch.Tensor]:
        if self._images is None:
            self._images = self._load()
        return self._images

    def image_shape(self, sensor: str) -> tuple[int, ...]:
        """(3, S, S): one recording's image of ``sensor``, without loading the set."""
        if self._images is not None:
            return tuple(self._images[sensor].shape[1:])
        return tuple(self.cache[sensor]["gaf_images"].shape[1:])

    def blocks(self, size: int):
        """``(start, {sensor: (n, 3, S, S)})`` over consecutive blocks of ``size`` recordings, in
        order: how a whole set is scored without holding it (streamed: one block read per
        sensor, by contiguous runs of the file's rows)."""
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            if self._images is not None:
                yield start, {s: self._images[s][start:stop] for s in self.sensors}
            else:
                yield start, {s: torch.from_numpy(read_rows(self.cache[s]["gaf_images"], self.rows[s][start:stop])
                                                  .astype(np.float32)) for s in self.sensors}

    def images_at(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """{sensor: (n, 3, S, S)} of the recordings at ``indices``, streamed or in memory."""
        if self._images is not None:
            return {s: self._images[s][list(indices)] for s in self.sensors}
        items = [self[i][0] for i in indices]
        return {s: torch.stack([item[s] for item in items]) for s in self.sensors}

    def __len__(self) -> int:
        return len(self.recording_ids)

    def __getitem__(self, index: int):
        if self._images is not None:
            return {s: self._images[s][index] for s in self.sensors}, self.labels[index], index
        images = {s: torch.from_numpy(self.cache[s]["gaf_images"][self.rows[s][index]].astype(np.float32))
                  for s in self.sensors}
        return images, self.labels[index], index


def random_time_crop(images: dict[str, torch.Tensor], min_fraction: float) -> dict[str, torch.Tensor]:
    """Training augmentation of GAF images: a random time window of each recording.

    The window [a, a + k] of a series is the square block [a:a+k, a:a+k] on its GAF's
    diagonal, so cropping that block and resizing it back equals recomputing the field on the
    window (up to interpolation), without going back to the signals. The window's length is
    uniform in [min_fraction, 1] of the recording and the same for every sensor of a recording
    (they are synchronised). Uses torch's global RNG, which checkpoints save and restore."""
    if min_fraction >= 1.0:
        return images
    first = next(iter(images.values()))
    count = first.shape[0]
    scale = torch.empty(count).uniform_(min_fraction, 1.0)
    shift = (torch.rand(count) * 2 - 1) * (1 - scale)  # window centre, normalised coordinates
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, 0, 2] = theta[:, 1, 2] = shift
    grid = F.affine_grid(theta, list(first.shape), align_corners=False)
    return {sensor: F.grid_sample(x, grid.to(x.device, x.dtype), mode="bilinear", padding_mode="border",
                                  align_corners=False) for sensor, x in images.items()}


def random_time_warp(images: dict[str, torch.Tensor], strength: float) -> dict[str, torch.Tensor]:
    """Training augmentation of GAF images: a random smooth time warp of each recording.

    A GAF entry (i, j) is a function of the series at times i and j, so the field of a series
    warped in time by w is the image resampled at (w(i), w(j)) on both axes (up to
    interpolation). The warp ``w(t) = t + a sin(pi (t + 1)) / pi`` on [-1, 1] fixes both ends
    and is monotone for |a| < 1; ``a`` is uniform in [-strength, strength] per recording and
    the same for every sensor of a recording (they are synchronised). Uses torch's global
    RNG, which checkpoints save and restore."""
    if strength <= 0:
        return images
    first = next(iter(images.values()))
    count, size = first.shape[0], first.shape[-1]
    amount = (torch.rand(count) * 2 - 1) * strength
    # Pixel centres in normalised coordinates (align_corners=False), warped per recording.
    centres = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1
    warped = centres + amount[:, None] * torch.sin(torch.pi * (centres + 1)) / torch.pi  # (N, S)
    grid = torch.stack([warped[:, None, :].expand(count, size, size),  # x: columns
                        warped[:, :, None].expand(count, size, size)], dim=-1)  # y: rows
    return {sensor: F.grid_sample(x, grid.to(x.device, x.dtype), mode="bilinear", padding_mode="border",
                                  align_corners=False) for sensor, x in images.items()}


class VideoClips(Dataset):
    """One item per video sample: (clip (T, 3, S, S) normalised float32, label, index), or the
    clip's uint8 frames with ``normalize=False`` (then ``normalize_clips`` on the device).
    ``set_epoch`` changes the random TSN offsets of training clips. ``in_memory``
    (``train.cache_in_memory``) loads the frames now; otherwise each item reads the span of
    its sample's cached frames that its T frames lie in (one hyperslab read)."""

    def __init__(self, frames_path: str | Path, samples: pd.DataFrame, num_segments: int, mode: str,
                 seed: int = 0, in_memory: bool | str = True, normalize: bool = True):
        if mode not in SAMPLING:
            raise ValueError(f"mode must be one of {SAMPLING}, got {mode!r}")
        self.num_segments, self.mode, self.seed, self.epoch = num_segments, mode, seed, 0
        self.normalize = normalize
        self.sample_ids = samples["sample_id"].tolist()
        self.recording_ids = samples["recording_id"].tolist()
        self.labels = torch.tensor(samples["label"].to_numpy(dtype=np.int64))
        with h5py.File(frames_path, "r") as cache:
            ids = [s.decode() for s in cache["sample_id"][()]]
            position = {sid: i for i, sid in enumerate(ids)}
            missing = [sid for sid in self.sample_ids if sid not in position]
            if missing:
                raise InputError(f"{frames_path}: no frames for sample {missing[0]!r} (skipped when decoding?)")
            self.rows = np.array([position[sid] for sid in self.sample_ids], dtype=np.int64)
            stored = cache["frames"]
            self.frames_per_video = int(stored.shape[1])
            size = len(self.rows) * int(np.prod(stored.shape[1:]))
            self.frames = None
            if keep_in_memory(in_memory, size):
                self.frames = torch.from_numpy(read_rows(stored, self.rows))  # (N, F, S, S, 3) uint8
        self.cache = LazyFile(frames_path)

    @property
    def streamed(self) -> bool:
        return self.frames is None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sample_ids)

    def chosen_frames(self, index: int) -> torch.Tensor:
        """The cached frames sample ``index`` uses this epoch (a function of seed, epoch, index)."""
        generator = sample_generator(self.seed, self.epoch, index) if self.mode == "random" else None
        return segment_indices(self.frames_per_video, self.num_segments, self.mode, generator)

    def segment_positions(self, indices: list[int]) -> torch.Tensor:
        """(n, T): where in its video each sampled frame lies this epoch, as a fraction of the
        video's length (frame centres of the uniformly spaced cached frames), for GSDM's
        temporal alignment (docs/method.md §5)."""
        count = self.frames_per_video
        return torch.stack([(self.chosen_frames(i).double() + 0.5) / count for i in indices]).float()

    def clip_frames(self, index: int) -> torch.Tensor:
        """(T, S, S, 3) uint8: the cached frames sample ``index`` uses this epoch."""
        chosen = self.chosen_frames(index)
        if self.frames is not None:
            return self.frames[index, chosen]
        first, last = int(chosen.min()), int(chosen.max()) + 1
        span = self.cache["frames"][self.rows[index], first:last]  # one hyperslab, no fancy indexing
        return torch.from_numpy(span)[chosen - first]

    def __getitem__(self, index: int):
        # Contiguous (T, 3, S, S): a permuted view would make the main process's collate keep
        # its strides while a worker's collate copies into a contiguous batch, and convolutions
        # on the two layouts round differently (workers > 0 would change results).
        clip = self.clip_frames(index).permute(0, 3, 1, 2).contiguous()
        return (normalize_clips(clip) if self.normalize else clip), self.labels[index], index


class EpochShuffle(Sampler[int]):
    """Shuffled indices as a function of (seed, epoch), split across DDP ranks
    (rank r takes every world_size-th index of the first len - len % world_size)."""

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.shuffle, self.rank, self.world_size, self.epoch = size, seed, shuffle, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = (torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
                 if self.shuffle else torch.arange(self.size))
        usable = self.size - self.size % self.world_size
        return iter(order[:usable][self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return (self.size - self.size % self.world_size) // self.world_size


SPLIT_PARTS = ("train", "val", "test", "unlabeled")  # unlabeled: training recordings without their label


def split_table(manifest: pd.DataFrame, splits: pd.DataFrame, protocol: str,
                source: str = "the splits table") -> pd.DataFrame:
    """The manifest with a ``part`` column (train / val / test / unlabeled) for one protocol. Every
    manifest sample must have exactly one known part in ``splits`` (named ``source`` in
    errors): a missing, repeated, unknown or extra row would silently change a part."""
    if protocol not in splits.columns:
        raise InputError(f"{source}: no split {protocol!r} (has {', '.join(splits.columns[1:])}); "
                         "rerun the manifest stage")
    ids = splits["sample_id"].astype(str)
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise InputError(f"{source}: sample {repeated.iloc[0]} is listed more than once")
    parts = splits[protocol]
    unknown = ~parts.isin(SPLIT_PARTS)
    if unknown.any():
        row = unknown.to_numpy().nonzero()[0][0]
        raise InputError(f"{source}: sample {ids.iloc[row]}: {protocol} part {parts.iloc[row]!r} is not one of "
                         f"{', '.join(SPLIT_PARTS)}")
    samples = manifest["sample_id"].astype(str)
    missing = samples[~samples.isin(set(ids))]
    if len(missing):
        raise InputError(f"{source}: manifest sample {missing.iloc[0]} has no {protocol} part ({len(missing)} of "
                         f"{len(samples)} samples missing); rerun the manifest stage")
    extra = ids[~ids.isin(set(samples))]
    if len(extra):
        raise InputError(f"{source}: sample {extra.iloc[0]} is not in the manifest ({len(extra)} such rows: a splits "
                         "file of another manifest?); rerun the manifest stage")
    chosen = pd.DataFrame({"sample_id": ids.to_numpy(), "part": parts.to_numpy()})
    table = manifest.assign(sample_id=samples).merge(chosen, on="sample_id", validate="one_to_one")
    return table


def recordings_of(table: pd.DataFrame, part: str) -> pd.DataFrame:
    """One row per recording of a part, in a fixed (sorted) order."""
    rows = table[table["part"] == part].drop_duplicates("recording_id")
    return rows.sort_values("recording_id").reset_index(drop=True)


def samples_of(table: pd.DataFrame, part: str) -> pd.DataFrame:
    return table[table["part"] == part].sort_values("sample_id").reset_index(drop=True)
