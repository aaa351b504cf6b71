"""The files a split's stages read: the manifest with its train/val/test part, the class
vectors, the caches, and the model files the training stages write."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import pandas as pd
import torch

from pipeline.data import recordings_of, samples_of, split_table
from pipeline.datasets import read_manifest, sensor_names
from pipeline.embeddings import read_class_embeddings
from pipeline.errors import InputError
from pipeline.frames import cached_sample_ids
from pipeline.training import load_torch_file

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
        if split not in splits.columns:
            raise InputError(f"{inputs.splits}: no split {split!r} (has {', '.join(splits.columns[1:])}); "
                             "rerun the manifest stage")
        self.table = split_table(manifest, splits, split)
        self.skipped_samples: list[str] = []
        if inputs.frames is not None:
            cached = set(cached_sample_ids(inputs.frames))
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


def load_model_file(path: str | Path, kind: str) -> dict:
    """A model file written by a training stage, or one line saying what is wrong with it."""
    saved = load_torch_file(path, "model file", "delete it and run `dvc repro` to rebuild it")
    if saved.get("kind") != kind:
        raise InputError(f"{path}: holds a {saved.get('kind', 'unknown')!r} model, expected {kind!r}")
    return saved
