"""The frozen teachers at inference: every sample scored with the model file's fixed reference
set of batch-mates, so no output depends on another test sample (docs/method.md §3); the
authors' class-sorted batches kept as a diagnostic only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.data import SensorImages
from pipeline.errors import InputError, ParamsError
from pipeline.losses.gsdm_channel import teacher_group_maps
from pipeline.models.teachers import MultiSensorTeacher
from pipeline.training import Runtime
from pipeline.workflow.inputs import SplitData, cache_settings
from pipeline.workflow.model_files import check_made_with, load_model_file


def teacher_sensors(params: dict, available: list[str]) -> list[str]:
    """The sensors the teacher uses: teacher.sensors, or every sensor of the dataset."""
    chosen = params["teacher"]["sensors"] or available
    unknown = [sensor for sensor in chosen if sensor not in available]
    if unknown:
        raise ParamsError(f"teacher.sensors: {unknown[0]!r} is not a sensor of this dataset "
                         f"(the manifest has {', '.join(available)})")
    return list(dict.fromkeys(chosen))


def teacher_config(params: dict, sensors: list[str], num_classes: int, dimension: int) -> dict:
    teacher = params["teacher"]
    return {"sensors": sensors, "num_classes": num_classes, "embedding_dim": dimension,
            "architecture": teacher["architecture"], "width_mult": teacher["width_mult"],
            "fusion_layers": list(teacher["spamfm_layers"] or []), "reduction": teacher["spamfm_reduction"],
            "gate": teacher["spamfm_gate"], "relation": teacher["spamfm_relation"],
            "temperature": teacher["spamfm_temperature"]}


def _collect(outputs: list[dict], taps: tuple[str, ...], rows=slice(None)) -> dict:
    """Concatenate teacher outputs (CPU float32), keeping ``rows`` of each."""
    cat = torch.cat
    fused = cat([o["logits"][rows].float().cpu() for o in outputs])
    sensors = outputs[0]["branches"]
    return {"logits": fused, "branches": {
        s: {"logits": cat([o["branches"][s]["logits"][rows].float().cpu() for o in outputs]),
            "fc2": cat([o["branches"][s]["fc2"][rows].float().cpu() for o in outputs]),
            "features": {t: cat([o["branches"][s]["features"][t][rows].float().cpu() for o in outputs])
                         for t in taps}}
        for s in sensors}}


def _reorder(predicted: dict, order: torch.Tensor) -> dict:
    """Outputs computed in ``order`` put back in dataset order."""
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    return {"logits": predicted["logits"][inverse], "branches": {
        s: {"logits": b["logits"][inverse], "fc2": b["fc2"][inverse],
            "features": {t: v[inverse] for t, v in b["features"].items()}}
        for s, b in predicted["branches"].items()}}


@torch.no_grad()
def teacher_predict_in_batches(teacher: MultiSensorTeacher, dataset: SensorImages, batch_size: int,
                               runtime: Runtime, order: torch.Tensor | None = None,
                               taps: tuple[str, ...] = ()) -> dict:
    """The teacher over ``dataset`` in consecutive batches of ``batch_size`` taken in
    ``order`` (default: the dataset's), returned in dataset order. With SPAMFM a sample's
    output then depends on its batch-mates: this is the authors' protocol (in class-sorted
    order), kept as a diagnostic only; results come from ``TeacherPredictor``."""
    teacher.eval()
    order = torch.arange(len(dataset)) if order is None else order
    outputs = []
    for start in range(0, len(dataset), batch_size):
        indices = order[start : start + batch_size].tolist()
        images = {s: v for s, v in dataset.images_at(indices).items() if s in teacher.sensors}
        with runtime.autocast():
            outputs.append(teacher(runtime.to_device(images)))
    return _reorder(_collect(outputs, taps), order)


def class_sorted_order(dataset: SensorImages) -> torch.Tensor:
    """Recordings sorted by class, then id: the batches the authors' unshuffled test loaders
    give (each holds one class, so SPAMFM's similarity can carry the label)."""
    keys = sorted(range(len(dataset)), key=lambda i: (int(dataset.labels[i]), dataset.recording_ids[i]))
    return torch.tensor(keys, dtype=torch.long)


def draw_reference_set(recordings: pd.DataFrame, size: int, seed: int) -> list[str]:
    """``size`` training recordings spread over the classes as evenly as possible (classes
    in a seeded order, a seeded recording of each in turn): the fixed batch-mates every
    sample runs with at inference (docs/method.md §3). Drawn once per split."""
    rng = np.random.default_rng(seed)
    pools = {int(label): [str(rid) for rid in rng.permutation(sorted(group["recording_id"]))]
             for label, group in recordings.groupby("label")}
    classes = [int(label) for label in rng.permutation(sorted(pools))]
    chosen: list[str] = []
    while len(chosen) < size and any(pools.values()):
        for label in classes:
            if pools[label] and len(chosen) < size:
                chosen.append(pools[label].pop())
    if len(chosen) < size:
        raise InputError(f"the teachers' reference set needs {size} training recordings (teacher.batch_size - 1); "
                         f"the split has {len(chosen)}")
    return chosen


class TeacherPredictor:
    """Teacher outputs that depend on no other test sample (docs/method.md §3).

    SPAMFM relates the samples of a batch, so each sample runs in a batch of its own with the
    model file's fixed reference set (B - 1 training recordings) and only its own row is
    kept. Many such batches run as one forward pass (SPAMFM relates each group of B rows
    only), so the result is the same for any order, chunk size or company of the other
    samples, and equals the sample run alone with the reference set. A teacher without
    SPAMFM is batch-independent and runs in plain batches."""

    def __init__(self, teacher: MultiSensorTeacher, reference: dict[str, torch.Tensor] | None, runtime: Runtime,
                 rows_per_pass: int = 256):
        self.teacher, self.runtime, self.rows_per_pass = teacher.eval(), runtime, rows_per_pass
        self.reference = reference if teacher.batch_dependent else None
        # GSDM's graph needs batch-mates whether or not the teacher's outputs do.
        self.graph_reference = reference
        if self.reference is not None:
            missing = [s for s in teacher.sensors if s not in self.reference]
            if missing:
                raise InputError(f"the teachers' reference set lacks sensor {missing[0]!r}")
            self.group_size = len(next(iter(self.reference.values()))) + 1

    def with_reference(self, images: dict[str, torch.Tensor], start: int, count: int,
                       reference: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Samples ``start .. start + count`` each in a group of its own after the reference set
        (``reference``, default the one the outputs need; the sample is each group's last row);
        without a reference set, the samples alone."""
        reference_set = self.reference if reference is None else reference
        chunk = {}
        for sensor in self.teacher.sensors:
            samples = images[sensor][start : start + count].float()
            if reference_set is not None:
                reference = reference_set[sensor].float().unsqueeze(0).expand(len(samples), -1, -1, -1, -1)
                samples = torch.cat([reference, samples.unsqueeze(1)], dim=1).flatten(0, 1)
            chunk[sensor] = samples
        return chunk

    @torch.no_grad()
    def predict_images(self, images: dict[str, torch.Tensor], taps: tuple[str, ...] = ()) -> dict:
        """Outputs for ``{sensor: (N, 3, S, S)}`` images, row by row independent."""
        count = len(next(iter(images.values())))
        outputs = []
        if self.reference is None:
            for start in range(0, count, self.rows_per_pass):
                chunk = {s: images[s][start : start + self.rows_per_pass] for s in self.teacher.sensors}
                with self.runtime.autocast():
                    outputs.append(self.teacher(self.runtime.to_device(chunk)))
            return _collect(outputs, taps)
        group = self.group_size
        per_pass = max(1, self.rows_per_pass // group)
        for start in range(0, count, per_pass):
            chunk = self.with_reference(images, start, per_pass)
            with self.runtime.autocast():
                outputs.append(self.teacher(self.runtime.to_device(chunk), group_size=group))
        return _collect(outputs, taps, rows=slice(group - 1, None, group))  # each group's last row

    def block_size(self, rows_per_pass: int, group: int | None = None) -> int:
        """Recordings read at a time when a whole set is scored in groups of ``group`` rows
        (default: the outputs' groups): about ``BLOCK_RECORDINGS``, a whole number of passes,
        so every pass holds the same samples as in one call over the whole set."""
        if group is None:
            group = self.group_size if self.reference is not None else 1
        per_pass = max(1, rows_per_pass // group)
        return per_pass * max(1, BLOCK_RECORDINGS // per_pass)

    def predict(self, dataset: SensorImages, taps: tuple[str, ...] = ()) -> dict:
        """``predict_images`` over a whole set, read block by block (streamed sets stay on disk)."""
        parts = [self.predict_images(block, taps) for _, block in dataset.blocks(self.block_size(self.rows_per_pass))]
        return _concatenate_predictions(parts, taps)

    def gsdm_maps_of(self, dataset: SensorImages, taps: tuple[str, ...], class_embeddings: torch.Tensor,
                     readout: str, rows_per_pass: int = 64) -> dict:
        """``gsdm_maps`` over a whole set, read block by block."""
        reference = self.graph_reference
        size = self.block_size(rows_per_pass, len(next(iter(reference.values()))) + 1 if reference is not None else 1)
        parts = [self.gsdm_maps(block, dataset.labels[start : start + size], taps, class_embeddings, readout,
                                rows_per_pass) for start, block in dataset.blocks(size)]
        return {s: {t: torch.cat([part[s][t] for part in parts]) for t in taps} for s in self.teacher.sensors}

    def gsdm_maps(self, images: dict[str, torch.Tensor], labels: torch.Tensor, taps: tuple[str, ...],
                  class_embeddings: torch.Tensor, readout: str, rows_per_pass: int = 64) -> dict:
        """GSDM's finished channel-importance maps per sample, ``{sensor: {tap: (N, H, W)}}``:
        each sample in a group of its own after the reference set, scored for its label with its
        group's graph (``teacher_group_maps``; docs/method.md §5), so no map depends on another
        sample and the cache can store maps instead of activations. Without a reference set
        each sample is its own graph."""
        count = len(next(iter(images.values())))
        reference = self.graph_reference
        group = len(next(iter(reference.values()))) + 1 if reference is not None else 1
        per_pass = max(1, rows_per_pass // group)
        embeddings = class_embeddings.to(self.runtime.device)
        maps = {s: {t: [] for t in taps} for s in self.teacher.sensors}
        for start in range(0, count, per_pass):
            chunk = self.runtime.to_device(self.with_reference(images, start, per_pass, reference))
            chunk_labels = labels[start : start + per_pass].to(self.runtime.device)
            for sensor in self.teacher.sensors:
                for tap in taps:
                    _, tap_maps = teacher_group_maps(self.teacher, chunk, tap, sensor, embeddings, chunk_labels,
                                                     group, readout)
                    maps[sensor][tap].append(tap_maps.cpu())
        return {s: {t: torch.cat(v) for t, v in per_tap.items()} for s, per_tap in maps.items()}


# Recordings scored per block when teacher outputs, GSDM maps or evaluation read a whole set:
# a streamed set (train.cache_in_memory) is never held whole.
BLOCK_RECORDINGS = 1024


def _concatenate_predictions(parts: list[dict], taps: tuple[str, ...]) -> dict:
    """One prediction dict (``predict_images``'s) from the dicts of consecutive blocks."""
    if len(parts) == 1:
        return parts[0]
    cat = torch.cat
    return {"logits": cat([p["logits"] for p in parts]), "branches": {
        s: {"logits": cat([p["branches"][s]["logits"] for p in parts]),
            "fc2": cat([p["branches"][s]["fc2"] for p in parts]),
            "features": {t: cat([p["branches"][s]["features"][t] for p in parts]) for t in taps}}
        for s in parts[0]["branches"]}}


def load_teacher_predictor(path: str | Path, runtime: Runtime, data: SplitData | None = None) -> TeacherPredictor:
    """The teachers of a model file with the reference set saved beside them (made for
    ``data``'s split, when given)."""
    saved = load_model_file(path, "teachers", data)
    if "reference" not in saved:
        raise InputError(f"{path}: written before teachers kept a reference set; delete it and run `dvc repro`")
    if data is not None:
        gaf = data.inputs.need("gaf")
        check_made_with(saved, cache_settings(gaf, "gaf"), path, str(gaf))
    return teacher_predictor(saved, runtime)


def teacher_predictor(saved: dict, runtime: Runtime) -> TeacherPredictor:
    teacher = MultiSensorTeacher(**saved["config"])
    teacher.load_state_dict(saved["state"])
    teacher = teacher.to(runtime.device, memory_format=torch.channels_last)
    return TeacherPredictor(teacher, saved["reference"]["images"], runtime)
