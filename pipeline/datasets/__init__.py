"""Dataset adapters: the only code that knows a dataset's native layout.

Every adapter turns its layout into the common manifest (one row per video sample, see
``MANIFEST_COLUMNS``) and knows how to read its own sensor files. Everything downstream
(frames, GAF images, models, metrics) sees only the manifest.

An adapter is a module with:
- ``build_manifest(root, **options) -> pandas.DataFrame``
- ``class_names(root, **options) -> list[str]``: every class in label order (a class may
  have no sample, so labels never come from what a folder listing happens to hold)
- ``read_signal(path, sensor) -> pipeline.signals.Signal``
- ``SPLITS``: protocol name -> (manifest column, test values, or a function from the
  column's sorted values to the test values)
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pandas as pd

from pipeline.signals import Signal

# Fixed columns; then one ``sensor_<name>`` path column per sensor of the dataset.
MANIFEST_COLUMNS = (
    "sample_id", "recording_id", "label", "class_name",
    "subject", "trial", "view", "scene", "session", "video",
)
# Metadata a dataset may lack: kept empty (nullable) rather than invented.
OPTIONAL_INTEGER_COLUMNS = ("subject", "trial", "view", "scene", "session")
SENSOR_PREFIX = "sensor_"

ADAPTERS = {
    "synthetic": "pipeline.datasets.synthetic",
}


class DatasetError(ValueError):
    """A dataset folder that cannot be read; the message says what layout was expected."""


def get_adapter(name: str) -> ModuleType:
    if name not in ADAPTERS:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[name])


def sensor_columns(manifest: pd.DataFrame) -> list[str]:
    return [column for column in manifest.columns if column.startswith(SENSOR_PREFIX)]


def sensor_names(manifest: pd.DataFrame) -> list[str]:
    return [column[len(SENSOR_PREFIX):] for column in sensor_columns(manifest)]


def check_manifest(manifest: pd.DataFrame, source: str = "manifest") -> pd.DataFrame:
    """Enforce the manifest contract shared by every adapter; return it with normalised types."""
    missing = [column for column in MANIFEST_COLUMNS if column not in manifest.columns]
    if missing:
        raise DatasetError(f"{source}: missing columns {missing}")
    if not sensor_columns(manifest):
        raise DatasetError(f"{source}: no sensor_<name> column")
    if manifest.empty:
        raise DatasetError(f"{source}: no samples")
    if manifest["sample_id"].duplicated().any():
        duplicate = manifest.loc[manifest["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise DatasetError(f"{source}: duplicate sample_id {duplicate!r}")
    labels_per_class = manifest.groupby("class_name")["label"].nunique()
    if (labels_per_class > 1).any():
        raise DatasetError(f"{source}: class {labels_per_class.idxmax()!r} has several labels")
    manifest = manifest.copy()
    manifest["label"] = manifest["label"].astype("int64")
    for column in OPTIONAL_INTEGER_COLUMNS:
        manifest[column] = pd.to_numeric(manifest[column]).astype("Int64")
    ordered = list(MANIFEST_COLUMNS) + sensor_columns(manifest)
    return manifest[ordered].reset_index(drop=True)


def build_manifest(name: str, root: str | Path, **options) -> pd.DataFrame:
    """The one entry point for every dataset: native layout at ``root`` -> manifest."""
    adapter = get_adapter(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder for {name!r} does not exist")
    return check_manifest(adapter.build_manifest(root, **options), f"{name} dataset at {root}")


def class_names(name: str, root: str | Path, **options) -> list[str]:
    """The dataset's class names in label order."""
    return list(get_adapter(name).class_names(Path(root), **options))


def check_labels(manifest: pd.DataFrame, classes: list[str], source: str = "manifest") -> None:
    """Every sample's label indexes ``classes`` and names the same class."""
    labels = manifest["label"].to_numpy()
    if labels.min() < 0 or labels.max() >= len(classes):
        raise DatasetError(f"{source}: label outside 0..{len(classes) - 1}")
    expected = [classes[label] for label in labels]
    wrong = manifest["class_name"].to_numpy() != pd.Series(expected).to_numpy()
    if wrong.any():
        row = manifest.loc[wrong].iloc[0]
        raise DatasetError(
            f"{source}: sample {row.sample_id} has label {row.label} but class {row.class_name!r} "
            f"(class list says {classes[row.label]!r})"
        )


def read_signal(name: str, path: str | Path, sensor: str) -> Signal:
    """Read one sensor file with the reader of the dataset it belongs to."""
    return get_adapter(name).read_signal(Path(path), sensor)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Load a manifest written by the manifest stage."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found (run the manifest stage first)")
    return check_manifest(pd.read_csv(path, keep_default_na=True), str(path))
