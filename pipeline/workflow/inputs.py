"""The files a split's stages read: the manifest with its train/val/test part, the class
vectors and the caches (the model files: ``model_files``)."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import pandas as pd
import torch

from pipeline.data import recordings_of, samples_of, split_table
from pipeline.datasets import read_manifest, sensor_names
from pipeline.datasets.manifest import OPTIONAL_INTEGER_COLUMNS
from pipeline.embeddings import read_class_embeddings
from pipeline.errors import InputError
from pipeline.frames import cached_sample_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """The files a split's stages read; their paths come from dvc.yaml through each stage's
    arguments, never from constants here."""

    manifest: str
    splits: str
    class_embeddings: str
    gaf: str | None = None
    frames: str | None = None

    def need(self, name: str) -> str:
        path = getattr(self, name)
        if path is None:
            raise InputError(f"this stage needs the {name} cache (pass its path)")
        return path

    def check(self) -> None:
        """Every given file exists and every HDF5 file opens: one line naming the file
        otherwise, before any work starts."""
        for name, path in vars(self).items():
            if path is None:
                continue
            if not Path(path).is_file():
                raise InputError(f"{path}: {name.replace('_', ' ')} not found (run `dvc repro` to build it)")
            if str(path).endswith(".h5"):
                try:
                    h5py.File(path, "r").close()
                except OSError as error:
                    first_line = (str(error).strip().splitlines() or ["unreadable"])[0]
                    raise InputError(f"{path}: not a readable HDF5 file ({first_line}); delete it and run "
                                     "`dvc repro` to rebuild it") from None


class SplitData:
    """Everything a split's stages read: the manifest with its train/val/test part, the
    class names and vectors, the sensors. Video samples that have no cached frames (skipped
    by ``frames.on_error: skip``) are dropped from every part and listed in
    ``skipped_samples``."""

    def __init__(self, split: str, inputs: Inputs):
        inputs.check()
        manifest = read_manifest(inputs.manifest)
        self.split, self.inputs = split, inputs
        splits = pd.read_csv(inputs.splits)
        self.table = split_table(manifest, splits, split, source=inputs.splits)
        self.made_for = split_provenance(self.table, split)
        self.skipped_samples: list[str] = []
        if inputs.frames is not None:
            cached = set(cached_sample_ids(inputs.frames))
            if not cached:  # an empty cache: the manifest has no video, not every sample skipped
                raise InputError(f"{inputs.frames}: the frame cache holds no video (the manifest has sensor files "
                                 "only); what needs frames cannot run")
            without_frames = ~self.table["sample_id"].isin(cached)
            self.skipped_samples = self.table.loc[without_frames, "sample_id"].tolist()
            if self.skipped_samples:
                log.warning("%s: %d video samples have no cached frames (skipped when decoding) and are left "
                            "out of split %s, e.g. %s", inputs.frames, len(self.skipped_samples), split,
                            ", ".join(self.skipped_samples[:5]))
                self.table = self.table[~without_frames].reset_index(drop=True)
        embeddings = read_class_embeddings(inputs.class_embeddings)
        self.class_names = embeddings.class_names
        self.embeddings = torch.from_numpy(embeddings.vectors)
        self.sensors = sensor_names(manifest)

    def recordings(self, part: str) -> pd.DataFrame:
        return recordings_of(self.table, part)

    def samples(self, part: str) -> pd.DataFrame:
        return samples_of(self.table, part)


def split_provenance(table: pd.DataFrame, split: str) -> dict:
    """What a model file or cache was made for: the split's name, its held-out units (per
    manifest unit column, the values found only in the test part) and a digest of the whole
    sample -> part assignment, so that a file of another split, or of the same split drawn
    differently, is recognised."""
    test = table["part"] == "test"
    held_out = {}
    for column in OPTIONAL_INTEGER_COLUMNS:
        values = table[column].dropna()
        tested, trained = set(values[test].tolist()), set(values[~test].tolist())
        if tested and not tested & trained:
            held_out[column] = sorted(int(value) for value in tested)
    lines = table.sort_values("sample_id")[["sample_id", "part"]].astype(str).agg("\t".join, axis=1)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return {"split": split, "held_out": held_out, "assignment": digest}


def describe_provenance(made_for: dict) -> str:
    units = "; ".join(f"{column} {', '.join(map(str, values))}" for column, values in made_for["held_out"].items())
    return f"split {made_for['split']!r} (held out: {units or 'no whole unit'}; assignment {made_for['assignment']})"


def check_made_for(made_for: dict | None, data: SplitData, path: str | Path) -> None:
    """A file made for another split, or for another assignment of this one, is an error
    naming both files; so is a file that records none."""
    if made_for is None:
        raise InputError(f"{path}: records no split (written by an older version); delete it and run `dvc repro`")
    if made_for != data.made_for:
        raise InputError(f"{path}: made for {describe_provenance(made_for)}, but {data.inputs.splits} gives "
                         f"{describe_provenance(data.made_for)}; rebuild it for this split (`dvc repro`)")


def check_gaf_settings(params: dict, data: SplitData) -> None:
    """The GAF cache must hold images of the size and field params.yaml asks for."""
    path = data.inputs.need("gaf")
    with h5py.File(path, "r") as cache:
        size, method = cache.attrs.get("image_size"), cache.attrs.get("method")
    wanted = params["gaf"]
    if size is None or int(size) != wanted["image_size"] or method != wanted["method"]:
        raise InputError(f"{path}: GAF images of size {size} ({method}), but params.yaml has gaf.image_size "
                         f"{wanted['image_size']} ({wanted['method']}); rerun the gaf stage (`dvc repro`)")


def cache_settings(path: str | Path, section: str) -> dict:
    """The settings a GAF or frame cache was made with, as dotted params keys (``gaf.image_size``,
    ``gaf.method``; ``frames.size``, ``frames.per_video``, ``frames.crop``)."""
    names = {"gaf": {"image_size": "image_size", "method": "method"},
             "frames": {"size": "size", "per_video": "per_video", "crop": "crop"}}[section]
    with h5py.File(path, "r") as cache:
        attrs = dict(cache.attrs)
    return {f"{section}.{key}": _plain(attrs.get(attr)) for key, attr in names.items()}


def _plain(value):
    """An HDF5 attribute as a plain Python value (numpy scalars compare and print as numbers)."""
    return value.item() if hasattr(value, "item") else value
