"""Turn every recording's sensor signals into GAF images, cached in one HDF5 file.

Layout: one group per sensor, ``/<sensor>/gaf_images`` (N, 3, S, S) float16 (contiguous)
and ``/<sensor>/recording_id`` (N,). A recording that lacks a sensor (an empty path in the
manifest) is simply absent from that sensor's group.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.datasets import SENSOR_PREFIX, read_signal, sensor_columns
from pipeline.gaf import gaf_images
from pipeline.io import atomic_output


def recording_sensor_paths(manifest: pd.DataFrame) -> dict[str, pd.Series]:
    """sensor -> Series of file paths indexed by recording id (one row per recording)."""
    recordings = manifest.drop_duplicates("recording_id").set_index("recording_id")
    paths = {}
    for column in sensor_columns(manifest):
        present = recordings[column].dropna()
        paths[column[len(SENSOR_PREFIX):]] = present[present.astype(str) != ""]
    return paths


def build_gaf_cache(
    manifest: pd.DataFrame,
    dataset: str,
    output: str | Path,
    image_size: int,
    method: str = "summation",
    batch_size: int = 256,
    progress: bool = True,
) -> dict:
    """Read, convert and cache every (recording, sensor) signal. Returns per-sensor counts
    and signal-length statistics."""
    summary = {}
    sensor_paths = recording_sensor_paths(manifest)
    total = sum(len(paths) for paths in sensor_paths.values())
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as cache, tqdm(
        total=total, desc="gaf", unit="signal", disable=not progress
    ) as bar:
        cache.attrs.update(image_size=image_size, method=method)
        for sensor, paths in sensor_paths.items():
            group = cache.create_group(sensor)
            images = group.create_dataset(
                "gaf_images", shape=(len(paths), 3, image_size, image_size), dtype=np.float16
            )
            lengths = []
            for start in range(0, len(paths), batch_size):
                batch = paths.iloc[start : start + batch_size]
                signals = [read_signal(dataset, path, sensor).values for path in batch]
                lengths.extend(len(signal) for signal in signals)
                names = [f"{path} ({sensor})" for path in batch]
                images[start : start + len(batch)] = gaf_images(signals, image_size, method, names, dtype=np.float16)
                bar.update(len(batch))
            group.create_dataset(
                "recording_id", data=np.array(paths.index.tolist(), dtype=object), dtype=h5py.string_dtype()
            )
            summary[sensor] = {
                "recordings": len(paths),
                "length_min": int(min(lengths)),
                "length_median": float(np.median(lengths)),
                "length_max": int(max(lengths)),
            }
    return summary


def read_gaf_images(path: str | Path, sensor: str) -> tuple[np.ndarray, list[str]]:
    """Load one sensor's images and recording ids from a GAF cache."""
    with h5py.File(path, "r") as cache:
        if sensor not in cache:
            raise KeyError(f"{path}: no sensor {sensor!r} (has {', '.join(cache)})")
        group = cache[sensor]
        return group["gaf_images"][()], [rid.decode() for rid in group["recording_id"][()]]
