"""Dataset adapters: the only code that knows a dataset's native layout.

Every adapter turns its layout into the common manifest (one row per video sample, see
``MANIFEST_COLUMNS``) and knows how to read its own sensor files. Everything downstream
(frames, GAF images, models, metrics) sees only the manifest.

An adapter is a module with:
- ``build_manifest(root, **options) -> pandas.DataFrame``
- ``class_names(root, **options) -> list[str]``: every class in label order (a class may
  have no sample, so labels never come from what a folder listing happens to hold)
- ``read_signal(path, sensor) -> pipeline.signals.Signal``
- optionally ``read_video(path) -> numpy array or None``: clips in a format of its own (UTD-MHAD
  depth .mat files); None hands the path to the generic decoders
- ``SPLITS``: protocol name -> (manifest column, test values, or a function from the
  column's sorted values to the test values)
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pandas as pd

from pipeline.datasets.manifest import (  # noqa: F401  (the contract, re-exported)
    CLASS_LISTS,
    MANIFEST_COLUMNS,
    OPTIONAL_INTEGER_COLUMNS,
    REQUIRE,
    SENSOR_PREFIX,
    check_labels,
    check_manifest,
    incomplete_rows,
    missing_modalities,
    packaged_class_names,
    read_manifest,
    select_complete,
    sensor_columns,
    sensor_names,
)
from pipeline.errors import DatasetError
from pipeline.signals import Signal

ADAPTERS = {
    "synthetic": "pipeline.datasets.synthetic",
    "utd_mhad": "pipeline.datasets.utd_mhad",
    "berkeley_mhad": "pipeline.datasets.berkeley_mhad",
    "mmact": "pipeline.datasets.mmact",
}


def get_adapter(name: str) -> ModuleType:
    if name not in ADAPTERS:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[name])


def build_manifest(name: str, root: str | Path, **options) -> pd.DataFrame:
    """The one entry point for every dataset: native layout at ``root`` -> manifest.
    ``options`` go to the adapter (e.g. ``vision='depth'``, ``require='any'``)."""
    adapter = get_adapter(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder for {name!r} does not exist")
    return check_manifest(adapter.build_manifest(root, **options), f"{name} dataset at {root}")


def read_video(name: str, path: str | Path):
    """A clip in the dataset's own format, or None for the generic decoders."""
    reader = getattr(get_adapter(name), "read_video", None)
    return reader(Path(path)) if reader is not None else None


def class_names(name: str, root: str | Path, **options) -> list[str]:
    """The dataset's class names in label order."""
    return list(get_adapter(name).class_names(Path(root), **options))


def read_signal(name: str, path: str | Path, sensor: str) -> Signal:
    """Read one sensor file with the reader of the dataset it belongs to."""
    return get_adapter(name).read_signal(Path(path), sensor)
