"""The manifest contract every adapter fulfils: one row per video sample with the fixed
``MANIFEST_COLUMNS`` and one ``sensor_<name>`` path column per sensor. Adapters import it; it
imports no adapter."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipeline.errors import DatasetError

log = logging.getLogger(__name__)

# Fixed columns; then one ``sensor_<name>`` path column per sensor of the dataset.
MANIFEST_COLUMNS = (
    "sample_id", "recording_id", "label", "class_name",
    "subject", "trial", "view", "scene", "session", "video",
)
# Metadata a dataset may lack: kept empty (nullable) rather than invented.
OPTIONAL_INTEGER_COLUMNS = ("subject", "trial", "view", "scene", "session")
SENSOR_PREFIX = "sensor_"

REQUIRE = ("all", "any")
CLASS_LISTS = Path(__file__).parent / "classes"


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


def packaged_class_names(dataset: str) -> list[str]:
    """A class list shipped with the package (cleaned of the reference lists' trailing blanks)."""
    lines = (CLASS_LISTS / f"{dataset}.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip()]


def incomplete_rows(manifest: pd.DataFrame) -> pd.Series:
    """True where a sample lacks its video or any sensor file (an empty path)."""
    paths = manifest[["video"] + sensor_columns(manifest)].fillna("").astype(str)
    return (paths == "").any(axis=1)


def select_complete(manifest: pd.DataFrame, require: str, source: str) -> pd.DataFrame:
    """``require='all'`` drops samples lacking a modality (logged); ``'any'`` keeps them."""
    if require not in REQUIRE:
        raise DatasetError(f"{source}: require must be one of {REQUIRE}, got {require!r}")
    incomplete = incomplete_rows(manifest)
    if require == "all" and incomplete.all():
        lacking = missing_modalities(manifest.head(1))[0]["missing"]
        raise DatasetError(
            f"{source}: no sample has every modality (require: all); e.g. "
            f"{manifest['sample_id'].iloc[0]} lacks {', '.join(lacking)}. Is a folder missing?"
        )
    if require == "all" and incomplete.any():
        log.warning("%s: dropped %d samples lacking a modality, e.g. %s", source, int(incomplete.sum()),
                    ", ".join(manifest.loc[incomplete, "sample_id"].head(5)))
        manifest = manifest[~incomplete]
    return manifest


def missing_modalities(manifest: pd.DataFrame) -> list[dict]:
    """What each incomplete sample lacks, for the manifest report."""
    report = []
    for _, row in manifest[incomplete_rows(manifest)].iterrows():
        lacking = [c for c in ["video"] + sensor_columns(manifest) if not isinstance(row[c], str) or not row[c]]
        report.append({"sample_id": row["sample_id"], "missing": lacking})
    return report


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


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Load a manifest written by the manifest stage."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found (run the manifest stage first)")
    return check_manifest(pd.read_csv(path, keep_default_na=True), str(path))


def manifest_report(everything: pd.DataFrame, manifest: pd.DataFrame, classes: list[str], require: str,
                    validation: dict) -> dict:
    """The manifest stage's report: what was read, what was dropped for lacking a modality
    (``require``), and each protocol's validation (``splits.make_splits_with_report``)."""
    incomplete = missing_modalities(everything)
    return {"samples": len(manifest), "recordings": int(manifest["recording_id"].nunique()),
            "classes": len(classes), "require": require, "incomplete": len(incomplete),
            "dropped": len(everything) - len(manifest), "incomplete_samples": incomplete, "validation": validation}
