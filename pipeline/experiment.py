"""SAKDN's workflow for one split: train the teachers, cache their outputs, train the video
students (baseline and distilled), evaluate everything on the test part.

The stages in ``stages/`` are thin wrappers around these functions.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.data import (
    SensorImages, VideoClips, normalize_clips, random_time_crop, random_time_warp, recordings_of, samples_of, split_table, student_black,
)
from pipeline.datasets import read_manifest, sensor_names
from pipeline.distill import Distiller
from pipeline.embeddings import read_class_embeddings
from pipeline.errors import InputError
from pipeline.io import atomic_output
from pipeline.losses import WeightedSum
from pipeline.metrics import classification_metrics
from pipeline.models.teachers import MultiSensorTeacher, teacher_loss
from pipeline.models.weights import resolve_weights
from pipeline.params import PAIRINGS, ParamsError
from pipeline.training import Runtime, fit, input_digests, load_torch_file, loader, seed_everything

log = logging.getLogger(__name__)

# The params keys each training stage's result depends on: its checkpoint fingerprint covers
# exactly these, and dvc.yaml lists the same keys (a test checks both agree). train.threads,
# train.workers and train.cache_in_memory change speed, not results, so none retrains anything.
TEACHER_PARAMS = ("seed", "teacher", "train.device", "train.bf16")
FOLD_PARAMS = TEACHER_PARAMS + ("teacher_outputs.folds",)
BASELINE_PARAMS = ("seed", "student", "train.device", "train.bf16")
DISTILL_PARAMS = BASELINE_PARAMS + ("alpha", "beta", "gamma", "temperature", "distill")


def params_subset(params: dict, keys: tuple[str, ...]) -> dict:
    """{key: value} of dotted params keys (``train.device``) or whole sections."""
    chosen = {}
    for key in keys:
        value = params
        for part in key.split("."):
            value = value[part]
        chosen[key] = value
    return chosen


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
            from pipeline.frames import cached_sample_ids

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


# ---------------------------------------------------------------------------- teachers
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


def build_teacher(config: dict) -> MultiSensorTeacher:
    return MultiSensorTeacher(**config)


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
        from pipeline.losses.gsdm_channel import teacher_group_maps

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


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def train_teachers(params: dict, data: SplitData, runtime: Runtime, checkpoint: str | Path, progress: bool = True,
                   training: pd.DataFrame | None = None, name: str | None = None,
                   keys: tuple[str, ...] = TEACHER_PARAMS) -> dict:
    """Train the multi-sensor teacher on the split's training recordings (or ``training``, a
    subset of them: a fold teacher); select the epoch on the validation recordings' fused
    accuracy. Returns the model file's content."""
    settings = params["teacher"]
    training = data.recordings("train") if training is None else training
    seed_everything(params["seed"])
    sensors = teacher_sensors(params, data.sensors)
    config = teacher_config(params, sensors, len(data.class_names), data.embeddings.shape[1])
    # channels_last on CPU too: oneDNN's convolutions run 1.3-1.5x faster in it (VGG branches,
    # MobileNetV2 at the presets' sizes, measured on 2 cores); the conv inputs follow the weights.
    teacher = build_teacher(config).to(runtime.device, memory_format=torch.channels_last)
    trainer = nn.parallel.DistributedDataParallel(teacher) if runtime.distributed else teacher
    gaf = data.inputs.need("gaf")
    in_memory = params["train"]["cache_in_memory"]
    train = SensorImages(gaf, sensors, training, in_memory)
    # Validation recordings the teachers train on measure training accuracy, not generalisation:
    # a split that holds out videos of the same recordings (cross_view) leaves none, and the
    # teachers then keep their last epoch instead of paying for a meaningless validation.
    held_out = data.recordings("val")
    held_out = held_out[~held_out["recording_id"].isin(training["recording_id"])].reset_index(drop=True)
    if len(held_out) == 0 and len(data.recordings("val")):
        log.info("%s: every validation recording is also a training recording of the teachers (the split holds "
                 "out videos, not recordings): the teachers keep their last epoch", name or f"teachers[{data.split}]")
    validation = SensorImages(gaf, sensors, held_out, in_memory)
    embeddings = data.embeddings.to(runtime.device)

    def step(batch):
        images, labels, _ = batch
        images = random_time_crop(runtime.to_device(images), settings["time_crop"])
        images = random_time_warp(images, settings["time_warp"])
        with runtime.autocast():
            output = trainer(images)
            return teacher_loss(output, runtime.to_device(labels), embeddings, settings["sp_weight"])

    reference_ids = draw_reference_set(training, settings["batch_size"] - 1, params["seed"])
    position = {rid: i for i, rid in enumerate(train.recording_ids)}
    reference = train.images_at([position[rid] for rid in reference_ids])

    def validate():
        if len(validation) == 0:
            return None
        logits = TeacherPredictor(teacher, reference, runtime).predict(validation)["logits"]
        return accuracy_of(logits, validation.labels)

    result = fit(name=name or f"teachers[{data.split}]", model=teacher, parameters=list(teacher.parameters()),
                 train_data=loader(train, settings["batch_size"], runtime, params["seed"], shuffle=True, drop_last=True,
                                   workers=params["train"]["workers"]),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint,
                 config={"teacher": config, "params": params_subset(params, keys), "split": data.split,
                         "reference": reference_ids, "training": sorted(train.recording_ids),
                         "inputs": input_digests([data.inputs.manifest, data.inputs.splits, gaf,
                                                  data.inputs.class_embeddings])},
                 runtime=runtime, progress=progress)
    return {"kind": "teachers", "config": config, "state": result["best_state"], "class_names": data.class_names,
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split,
            "reference": {"recording_ids": reference_ids, "images": reference}}


def assign_folds(recordings: pd.DataFrame, folds: int, seed: int) -> dict[str, int]:
    """{recording id: fold in [0, folds)}, stratified by class: each class's recordings in a
    seeded random order, dealt round-robin (the first fold of each class rotates, so fold sizes
    differ by at most one overall)."""
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    generator = np.random.default_rng(seed)
    assignment, offset = {}, 0
    for _, group in recordings.sort_values("recording_id").groupby("label", sort=True):
        ids = group["recording_id"].to_numpy()[generator.permutation(len(group))]
        for position, rid in enumerate(ids):
            assignment[str(rid)] = (offset + position) % folds
        offset += len(ids)
    return assignment


def train_fold_teachers(params: dict, data: SplitData, runtime: Runtime, checkpoints: str | Path,
                        progress: bool = True) -> dict:
    """``teacher_outputs.folds`` = K > 0: K teachers, teacher j trained without fold j of the
    split's training recordings (docs/method.md §6b), each resumable from
    ``checkpoints/fold_<j>.pt``. K = 0: no teachers (the file says so)."""
    folds = params["teacher_outputs"]["folds"]
    saved = {"kind": "fold_teachers", "folds": folds, "split": data.split, "assignment": {}, "teachers": []}
    if folds == 0:
        return saved
    training = data.recordings("train")
    assignment = assign_folds(training, folds, params["seed"])
    small = [c for c, n in training.groupby("label").size().items() if n < folds]
    if small:
        log.warning("split %s: class %s has fewer training recordings than teacher_outputs.folds=%d; "
                    "some fold teachers see none of it", data.split, data.class_names[small[0]], folds)
    saved["assignment"] = assignment
    for fold in range(folds):
        kept = training[training["recording_id"].map(assignment) != fold]
        saved["teachers"].append(train_teachers(params, data, runtime, Path(checkpoints) / f"fold_{fold}.pt", progress,
                                                training=kept, name=f"fold_teachers[{data.split}] {fold + 1}/{folds}",
                                                keys=FOLD_PARAMS))
    return saved


def load_model_file(path: str | Path, kind: str) -> dict:
    """A model file written by a training stage, or one line saying what is wrong with it."""
    saved = load_torch_file(path, "model file", "delete it and run `dvc repro` to rebuild it")
    if saved.get("kind") != kind:
        raise InputError(f"{path}: holds a {saved.get('kind', 'unknown')!r} model, expected {kind!r}")
    return saved


def load_teacher_predictor(path: str | Path, runtime: Runtime) -> TeacherPredictor:
    """The teachers of a model file with the reference set saved beside them."""
    saved = load_model_file(path, "teachers")
    if "reference" not in saved:
        raise InputError(f"{path}: written before teachers kept a reference set; delete it and run `dvc repro`")
    return teacher_predictor(saved, runtime)


def teacher_predictor(saved: dict, runtime: Runtime) -> TeacherPredictor:
    teacher = build_teacher(saved["config"])
    teacher.load_state_dict(saved["state"])
    teacher = teacher.to(runtime.device, memory_format=torch.channels_last)
    return TeacherPredictor(teacher, saved["reference"]["images"], runtime)


def distill_taps(params: dict) -> tuple[str, ...]:
    return tuple(sorted({pair[0] for pair in params["distill"]["layer_pairs"]}))


def write_teacher_outputs(params: dict, data: SplitData, teacher_path: str | Path, output: str | Path,
                          runtime: Runtime, fold_teachers_path: str | Path | None = None) -> dict:
    """Cache what distillation needs from the frozen teachers, once: per recording (all parts,
    each with the model file's reference set, so no output depends on another recording) the
    logits, fc2 and the distillation taps; and the teachers' ablated pass (black GAF images,
    one row per sample of a student batch). With fold teachers (``teacher_outputs.folds`` > 0)
    each training recording's outputs come from the fold teacher that never saw it. Fits the
    soft-target temperature on the training recordings' (cross-fitted) logits (what
    ``temperature: auto`` uses) and returns the teachers' diagnostics in-fold and cross-fitted."""
    from pipeline.distill import TEACHER_BLACK

    predictor = load_teacher_predictor(teacher_path, runtime)
    sensors = predictor.teacher.sensors
    recordings = data.table.drop_duplicates("recording_id").sort_values("recording_id").reset_index(drop=True)
    in_memory = params["train"]["cache_in_memory"]
    dataset = SensorImages(data.inputs.need("gaf"), sensors, recordings, in_memory)
    taps = distill_taps(params)
    predicted = predictor.predict(dataset, taps)
    training_ids = data.recordings("train")["recording_id"].tolist()
    position = {rid: i for i, rid in enumerate(recordings["recording_id"])}
    training_rows = torch.tensor([position[rid] for rid in training_ids], dtype=torch.long)
    training_labels = dataset.labels[training_rows]
    in_fold = {name: logits[training_rows].clone() for name, logits in branch_logits(predicted).items()}
    # Whenever GSDM's importance is per channel, whatever distill.method and beta: the cache then
    # does not depend on them, so an experiment over the loss weights never recomputes it.
    readout = params["distill"]["readout"] if params["distill"]["importance"] == "channel" else None
    gsdm_maps = {}
    if readout is not None:  # GSDM's finished channel maps, from the same teacher as the outputs
        gsdm_maps = predictor.gsdm_maps_of(dataset, taps, data.embeddings, readout)
    folds = 0
    if fold_teachers_path is not None:
        folds = cross_fit(predicted, gsdm_maps, fold_teachers_path, data, recordings, position, taps, runtime, readout,
                          in_memory)
    cross_fitted = {name: logits[training_rows] for name, logits in branch_logits(predicted).items()}
    temperature = fit_temperature([cross_fitted[s] for s in sensors], training_labels)
    batch = params["student"]["batch_size"]
    black = {s: torch.full((batch, *dataset.image_shape(s)), TEACHER_BLACK) for s in sensors}
    ablated = predictor.predict_images(black)["branches"]
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(recordings["recording_id"].tolist(), dtype=object),
                             dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=batch, taps=list(taps), sensors=list(sensors), folds=folds,
                           fitted_temperature=temperature)
        for sensor, branch in predicted["branches"].items():
            group = cache.create_group(sensor)
            group["logits"], group["fc2"] = branch["logits"].numpy(), branch["fc2"].numpy()
            for tap, values in branch["features"].items():
                group[f"features/{tap}"] = values.numpy()
            group["ablated/logits"] = ablated[sensor]["logits"].numpy()
            group["ablated/fc2"] = ablated[sensor]["fc2"].numpy()
            for tap, values in gsdm_maps.get(sensor, {}).items():
                group[f"gsdm_maps/{tap}"] = values.numpy()
    diagnostics = {}
    for kind, logits in (("in_fold", in_fold), ("cross_fitted", cross_fitted)):
        if kind == "cross_fitted" and not folds:
            continue
        diagnostics[kind] = {name: {"T=1": teacher_diagnostics(values, training_labels, 1.0),
                                    "T=fitted": teacher_diagnostics(values, training_labels, temperature)}
                             for name, values in logits.items()}
    return {"recordings": len(recordings), "taps": list(taps), "ablated_batch_size": batch,
            "fused_accuracy_all_parts": accuracy_of(predicted["logits"], dataset.labels), "folds": folds,
            "temperature": {"fitted": round(temperature, 4), "fitted_on": "cross_fitted" if folds else "in_fold",
                            "used": temperature if params["temperature"] == "auto" else params["temperature"]},
            "training_recordings": len(training_ids), "diagnostics": diagnostics}


def branch_logits(predicted: dict) -> dict[str, torch.Tensor]:
    """{"fused": logits, sensor: logits}: the views a diagnostic reports."""
    return {"fused": predicted["logits"], **{s: b["logits"] for s, b in predicted["branches"].items()}}


def cross_fit(predicted: dict, gsdm_maps: dict, fold_teachers_path: str | Path, data: SplitData,
              recordings: pd.DataFrame, position: dict[str, int], taps: tuple[str, ...], runtime: Runtime,
              readout: str | None = None, in_memory: bool | str = True) -> int:
    """Replace, in ``predicted`` (and GSDM's channel ``gsdm_maps`` when there are some), each
    training recording's outputs by those of the fold teacher that never saw it. Returns the
    number of folds (0: nothing replaced)."""
    saved = load_model_file(fold_teachers_path, "fold_teachers")
    if saved["folds"] == 0:
        return 0
    training_ids = data.recordings("train")["recording_id"].tolist()
    assignment = saved["assignment"]
    if saved["split"] != data.split or sorted(assignment) != sorted(training_ids):
        raise InputError(f"{fold_teachers_path}: fold teachers of other training recordings (split "
                         f"{saved['split']!r}); rerun the fold_teachers stage")
    for fold, fold_teacher in enumerate(saved["teachers"]):
        held_out = [rid for rid in training_ids if assignment[rid] == fold]
        rows = torch.tensor([position[rid] for rid in held_out], dtype=torch.long)
        predictor = teacher_predictor(fold_teacher, runtime)
        images = SensorImages(data.inputs.need("gaf"), predictor.teacher.sensors, recordings.iloc[rows.numpy()],
                              in_memory)
        out = predictor.predict(images, taps)
        predicted["logits"][rows] = out["logits"]
        for sensor, branch in predicted["branches"].items():
            branch["logits"][rows] = out["branches"][sensor]["logits"]
            branch["fc2"][rows] = out["branches"][sensor]["fc2"]
            for tap in branch["features"]:
                branch["features"][tap][rows] = out["branches"][sensor]["features"][tap]
        if gsdm_maps:
            fold_maps = predictor.gsdm_maps_of(images, taps, data.embeddings, readout)
            for sensor, per_tap in gsdm_maps.items():
                for tap, values in per_tap.items():
                    values[rows] = fold_maps[sensor][tap]
    return saved["folds"]


def fit_temperature(logits: list[torch.Tensor], labels: torch.Tensor) -> float:
    """The T minimising the mean negative log-likelihood of ``softmax(logits / T)`` over the
    teachers (a 1-D search on a log grid from 0.05 to 50, 601 points)."""
    grid = torch.logspace(math.log10(0.05), math.log10(50.0), 601, dtype=torch.float64)
    nll = torch.stack([
        torch.stack([F.cross_entropy(value.double() / t, labels) for t in grid]) for value in logits
    ]).mean(0)
    return float(grid[int(nll.argmin())])


def teacher_diagnostics(logits: torch.Tensor, labels: torch.Tensor, temperature: float, bins: int = 15) -> dict:
    """Accuracy (%), negative log-likelihood, expected calibration error (``bins`` equal-width
    confidence bins), mean true-class probability and mean entropy (nats) of softmax(logits / T)."""
    probabilities = F.softmax(logits.double() / temperature, dim=1)
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.double().mean().item() * abs(correct[inside].mean().item() - confidence[inside].mean().item())
    entropy = -(probabilities * probabilities.clamp_min(1e-300).log()).sum(1)
    return {"accuracy": round(100 * correct.mean().item(), 2),
            "nll": round(F.nll_loss(probabilities.clamp_min(1e-300).log(), labels).item(), 4),
            "ece": round(ece, 4), "true_class_probability": round(probabilities[torch.arange(len(labels)), labels].mean().item(), 4),
            "entropy": round(entropy.mean().item(), 4)}


class TeacherOutputCache:
    """Teacher outputs looked up by recording id (what ``Distiller`` takes instead of running
    the teachers).

    With ``training`` (the split's training recordings: ``recording_id``, ``label``) a training
    video is paired per ``pairing`` (docs/method.md §6b): ``recording``, its own recording's
    outputs (the method); the controls ``shuffled`` (another training recording's, a fresh
    derangement each epoch), ``class_shuffled`` (another recording of its class, likewise; a
    class with one recording keeps its own) and ``class_mean`` (the class's mean output over the
    training recordings). Each teacher dict also carries ``fc2_bank``, the fc2 of every training
    recording (plus the class means under ``class_mean``), and ``bank_index``, the row of each
    sample's pair in it: the negatives and positive of the contrastive term.
    """

    def __init__(self, path: str | Path, training: pd.DataFrame | None = None, pairing: str = "recording",
                 seed: int = 0, features: bool = True):
        """``features=False`` leaves the teachers' tap features (most of the file: (n, C, H, W)
        per tap and sensor) on disk until ``load_features()``: only losses that compare feature
        maps (FitNet, AT, SP, GSDM without channel importance) read them."""
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
        self.path, self.pairing, self.seed = Path(path), pairing, seed
        if not self.path.is_file():
            raise InputError(f"{path}: teacher outputs not found (run the teacher_outputs stage)")
        with h5py.File(path, "r") as cache:
            self.sensors = list(cache.attrs["sensors"])
            self.batch_size = int(cache.attrs["batch_size"])
            self.fitted_temperature = float(cache.attrs["fitted_temperature"]) if "fitted_temperature" in cache.attrs \
                else None
            self.row = {rid.decode(): i for i, rid in enumerate(cache["recording_id"][()])}
            self.values = {}
            for sensor in self.sensors:
                group = cache[sensor]
                gsdm_maps = {tap: torch.from_numpy(values[()]) for tap, values in group.get("gsdm_maps", {}).items()}
                self.values[sensor] = {
                    "logits": torch.from_numpy(group["logits"][()]), "fc2": torch.from_numpy(group["fc2"][()]),
                    "features": {}, "gsdm_maps": gsdm_maps,
                    "ablated": {"logits": torch.from_numpy(group["ablated/logits"][()]),
                                "fc2": torch.from_numpy(group["ablated/fc2"][()])},
                }
        self.bank_rows = None
        self.features_loaded = False
        if training is not None:
            self._pair_training(training)
        elif pairing != "recording":
            raise ValueError(f"pairing {pairing!r} needs the training recordings")
        if features:
            self.load_features()

    def load_features(self) -> None:
        """Read the teachers' tap features (with their class means under ``class_mean``)."""
        if self.features_loaded:
            return
        with h5py.File(self.path, "r") as cache:
            for sensor in self.sensors:
                group = cache[sensor]
                taps = {tap: torch.from_numpy(group["features"][tap][()]) for tap in group.get("features", {})}
                self.values[sensor]["features"] = (self._with_class_means(taps) if self.pairing == "class_mean"
                                                   and self.bank_rows is not None else taps)
        self.features_loaded = True

    def _with_class_means(self, group: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``group``'s arrays with the class means over the training recordings appended (the
        ``class_mean`` pairing's virtual rows)."""
        weights, rows, classes = self.class_weights, self.bank_rows[: len(self.training_ids)], len(self.class_weights)
        return {key: torch.cat([v, (weights @ v[rows].float().flatten(1)).reshape(classes, *v.shape[1:]).to(v.dtype)])
                for key, v in group.items()}

    def _rows(self, recording_ids: list[str]) -> torch.Tensor:
        missing = [rid for rid in recording_ids if rid not in self.row]
        if missing:
            raise InputError(f"{self.path}: no cached teacher output for recording {missing[0]!r} "
                             "(rerun the teacher_outputs stage)")
        return torch.tensor([self.row[rid] for rid in recording_ids], dtype=torch.long)

    def _pair_training(self, training: pd.DataFrame) -> None:
        training = training.drop_duplicates("recording_id").sort_values("recording_id")
        self.training_ids = training["recording_id"].tolist()
        self.training_labels = torch.tensor(training["label"].to_numpy(dtype=np.int64))
        self.bank_rows = self._rows(self.training_ids)
        self.bank_position = {rid: i for i, rid in enumerate(self.training_ids)}
        if self.pairing == "class_mean":
            # Virtual rows after the cached ones: the class means over the training recordings.
            classes = int(self.training_labels.max()) + 1
            one_hot = F.one_hot(self.training_labels, classes).T.float()
            self.class_weights = one_hot / one_hot.sum(1, keepdim=True).clamp_min(1)
            total = len(self.row)
            for values in self.values.values():
                for name in ("logits", "fc2"):
                    values[name] = torch.cat([values[name], self.class_weights @ values[name][self.bank_rows].float()])
                for name in ("features", "gsdm_maps"):
                    values[name] = self._with_class_means(values[name])
            self.class_rows = total + torch.arange(classes)
            self.bank_rows = torch.cat([self.bank_rows, self.class_rows])
        self.bank_index = {int(row): i for i, row in enumerate(self.bank_rows)}
        self.banks = {sensor: values["fc2"][self.bank_rows] for sensor, values in self.values.items()}  # once

    def partners(self, recording_ids: list[str], epoch: int = 0) -> torch.Tensor:
        """The cache row each training recording is paired with in ``epoch``."""
        rows = self._rows(recording_ids)
        if self.pairing == "recording":
            return rows
        positions = torch.tensor([self.bank_position[rid] for rid in recording_ids])
        if self.pairing == "class_mean":
            return self.class_rows[self.training_labels[positions]]
        # hash() of ints only: a str's hash changes between processes, and a resumed run must
        # see the same pairs.
        generator = torch.Generator().manual_seed(hash((self.seed, epoch, PAIRINGS.index(self.pairing))) & 0x7FFFFFFF)
        partner = torch.empty(len(self.training_ids), dtype=torch.long)
        groups = ([torch.arange(len(self.training_ids))] if self.pairing == "shuffled" else
                  [torch.nonzero(self.training_labels == c).flatten() for c in self.training_labels.unique()])
        for members in groups:  # a derangement: a random cycle through the group
            order = members[torch.randperm(len(members), generator=generator)]
            partner[order] = order.roll(-1)
        return self.bank_rows[partner[positions]]

    def batch(self, recording_ids: list[str], epoch: int = 0) -> list[dict]:
        """Each sensor branch's outputs for the recordings' pairs (their own outside training)."""
        rows = self.partners(recording_ids, epoch) if self.bank_rows is not None else self._rows(recording_ids)
        if len(rows) != self.batch_size:
            raise InputError(f"{self.path}: ablated teacher outputs are cached for batches of {self.batch_size}, "
                             f"got {len(rows)}")
        outputs = []
        for sensor in self.sensors:
            values = self.values[sensor]
            output = {"logits": values["logits"][rows], "fc2": values["fc2"][rows],
                      "features": {tap: v[rows] for tap, v in values["features"].items()},
                      "ablated": values["ablated"]}
            if values["gsdm_maps"]:
                output["gsdm_maps"] = {tap: v[rows] for tap, v in values["gsdm_maps"].items()}
            if self.bank_rows is not None:
                output["fc2_bank"] = self.banks[sensor]
                output["bank_index"] = torch.tensor([self.bank_index[int(r)] for r in rows], dtype=torch.long)
            outputs.append(output)
        return outputs

    def non_target_mass(self, temperature: float) -> float:
        """The fused teacher's mean probability off the label at ``temperature`` over the
        training recordings (label smoothing's ``epsilon: auto``)."""
        from pipeline.losses.literature import mean_non_target_mass

        rows = self._rows(self.training_ids)
        fused = torch.stack([self.values[s]["logits"][rows].float() for s in self.sensors]).mean(0)
        return mean_non_target_mass(fused, self.training_labels, temperature)


# ---------------------------------------------------------------------------- students
def student_config(params: dict, num_classes: int, dimension: int) -> dict:
    student = params["student"]
    return {"backbone": student["backbone"], "head": student["head"], "num_classes": num_classes,
            "embedding_dim": dimension, "num_segments": student["num_segments"], "dropout": student["dropout"]}


def student_loss(params: dict, method: str, student_channels: list[int] | None = None,
                 teacher_channels: list[int] | None = None, **context) -> WeightedSum:
    """The loss registry's objective for ``method``: baseline: CE alone; sakdn: CE + alpha L_ST +
    beta L_GSDM + gamma L_SP^S; a KD method: CE + that loss (weight 1); plus the terms whose
    ``distill.<term>.weight`` is > 0. Each term builds itself from ``params`` and the models'
    ``context``: the layer pairs' channel counts (FitNet's adapters), ``embedding_dim`` and
    ``num_teachers`` (the contrastive heads), ``non_target_mass`` (label smoothing's auto)."""
    from pipeline.losses import build_objective

    return build_objective(params, method, student_channels=student_channels, teacher_channels=teacher_channels,
                           **context)


def tap_channels(student: nn.Module, teacher_config_: dict, pairs: list) -> tuple[list[int], list[int]]:
    """Channel counts of each pair's student and teacher taps (for FitNet's adapters)."""
    with torch.no_grad():
        probe = student.eval()(torch.zeros(1, student.num_segments, 3, 64, 64))["features"]
    teacher = build_teacher(teacher_config_)
    branch = teacher.branches[teacher.sensors[0]]
    return [probe[s].shape[2] for _, s in pairs], [branch.channels(t) for t, _ in pairs]


@torch.no_grad()
def student_predict(student: nn.Module, dataset: VideoClips, batch_size: int, runtime: Runtime,
                    workers: int = 0) -> torch.Tensor:
    """Logits of every clip, in dataset order (an unshuffled loader, not split across ranks);
    uint8 clips are normalised on the device."""
    student.eval()
    logits = []
    for clips, _, _ in loader(dataset, batch_size, runtime, seed=0, shuffle=False, workers=workers):
        clips = runtime.to_device(clips)
        if clips.dtype == torch.uint8:
            clips = normalize_clips(clips)
        with runtime.autocast():
            logits.append(student(clips)["logits"].float().cpu())
    return torch.cat(logits)


def student_seed(params: dict) -> int:
    """``student.seed``, or the top-level seed when it is null: students vary over their own
    seeds while the teachers (and the folds, splits, data) keep the top-level one."""
    seed = params["student"].get("seed")
    return params["seed"] if seed is None else seed


def train_student(params: dict, data: SplitData, method: str, runtime: Runtime, checkpoint: str | Path,
                  teacher_outputs: str | Path | None = None, teacher_path: str | Path | None = None,
                  progress: bool = True) -> dict:
    """Train the video student with ``method`` ('baseline', 'sakdn' or a KD baseline) on the
    split's training videos, paired with their recordings' cached teacher outputs; select the
    epoch on validation accuracy. Returns the model file's content."""
    # Imported here: torchvision costs ~2 s at start-up, and only the student stages need it.
    from pipeline.models.students import build_student

    settings = params["student"]
    seed = student_seed(params)
    seed_everything(seed)
    config = student_config(params, len(data.class_names), data.embeddings.shape[1])
    student = build_student(**config, pretrained_path=resolve_weights(settings["weights"], settings["backbone"]))
    pairs = [tuple(p) for p in params["distill"]["layer_pairs"]]
    channels = ([], [])
    if method == "fitnet":
        saved = load_model_file(teacher_path, "teachers")
        channels = tap_channels(student, saved["config"], pairs)
    cache = None
    if method != "baseline":
        cache = TeacherOutputCache(teacher_outputs, data.recordings("train"), params["distill"]["pairing"], seed,
                                   features=False)
        params = with_resolved_temperature(params, cache)
    context = {"embedding_dim": data.embeddings.shape[1], "num_teachers": len(cache.sensors) if cache else 0}
    if params["distill"]["label_smoothing"]["epsilon"] == "auto" and cache is not None:
        context["non_target_mass"] = cache.non_target_mass(params["temperature"])
    loss = student_loss(params, method, *channels, **context)
    if cache is not None and loss.needs_teacher_features:
        cache.load_features()
    distiller = Distiller(student, loss, data.embeddings, student_black=student_black()).to(
        runtime.device, memory_format=torch.channels_last)
    # DDP wraps the whole Distiller, so checkpoints hold the same keys as single-process runs.
    trainer = nn.parallel.DistributedDataParallel(distiller) if runtime.distributed else distiller
    if cache is not None and cache.batch_size != settings["batch_size"]:
        raise InputError(f"{teacher_outputs}: ablated outputs cached for batch size {cache.batch_size}, "
                         f"student.batch_size is {settings['batch_size']} (rerun teacher_outputs)")
    frames = data.inputs.need("frames")
    in_memory, workers = params["train"]["cache_in_memory"], params["train"]["workers"]
    train = VideoClips(frames, data.samples("train"), settings["num_segments"], "random", seed, in_memory,
                       normalize=False)
    validation = VideoClips(frames, data.samples("val"), settings["num_segments"], "centre", in_memory=in_memory,
                            normalize=False)

    def step(batch):
        clips, labels, indices = batch
        teachers = cache.batch([train.recording_ids[i] for i in indices.tolist()], train.epoch) if cache else []
        positions = train.segment_positions(indices.tolist()) if loss.needs_segment_positions else None
        with runtime.autocast():
            _, total, terms = trainer(normalize_clips(runtime.to_device(clips)), runtime.to_device(labels),
                                      teacher_outputs=runtime.to_device(teachers),
                                      segment_positions=runtime.to_device(positions))
        logged = {name: value.detach() for name, value in terms.items()}
        if not runtime.distributed and len(terms) > 1:
            logged.update(term_gradient_norms(terms, loss.weights, student.fc1.weight))
        return total, logged

    def validate():
        if len(validation) == 0:
            return None
        logits = student_predict(student, validation, settings["batch_size"], runtime, workers)
        return accuracy_of(logits, validation.labels)

    weights = resolve_weights(settings["weights"], settings["backbone"])
    read = [data.inputs.manifest, data.inputs.splits, frames, data.inputs.class_embeddings, weights]
    if method != "baseline":
        read += [teacher_outputs, teacher_path]
    fingerprint_config = {"student": config, "method": method, "split": data.split, "loss": loss.formula(),
                          "params": params_subset(params, BASELINE_PARAMS if method == "baseline" else DISTILL_PARAMS),
                          "inputs": input_digests(read)}
    result = fit(name=f"{method}[{data.split}]", model=distiller, parameters=distiller.trainable_parameters(),
                 train_data=loader(train, settings["batch_size"], runtime, seed, shuffle=True, drop_last=True,
                                   workers=workers),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint, config=fingerprint_config,
                 runtime=runtime, progress=progress)
    best = {k[len("student."):]: v for k, v in result["best_state"].items() if k.startswith("student.")}
    return {"kind": "student", "method": method, "config": config, "state": best, "class_names": data.class_names,
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split,
            "loss": loss.formula()}


def with_resolved_temperature(params: dict, cache: TeacherOutputCache) -> dict:
    """``temperature: auto`` -> the temperature fitted on the teachers' (cross-fitted) training
    logits, stored in the teacher-output cache; a number stays as it is."""
    if params["temperature"] != "auto":
        return params
    if cache.fitted_temperature is None:
        raise InputError(f"{cache.path}: written before teacher outputs had a fitted temperature "
                         "(temperature: auto); rerun the teacher_outputs stage")
    return {**params, "temperature": cache.fitted_temperature}


def term_gradient_norms(terms: dict[str, torch.Tensor], weights: dict[str, float],
                        parameter: torch.Tensor) -> dict[str, torch.Tensor]:
    """``grad_<term>``: the norm of the gradient each weighted term puts on ``parameter`` (the
    student's fc1, the last layer every term passes through), so a term that does nothing is
    visible in the training curves. A term that does not reach it gets 0."""
    norms = {}
    for name, value in terms.items():
        if not value.requires_grad:
            norms[f"grad_{name}"] = torch.zeros(())
            continue
        (gradient,) = torch.autograd.grad(weights[name] * value, parameter, retain_graph=True, allow_unused=True)
        norms[f"grad_{name}"] = torch.zeros(()) if gradient is None else gradient.detach().float().norm()
    return norms


def load_student(path: str | Path, runtime: Runtime) -> nn.Module:
    from pipeline.models.students import build_student

    saved = load_model_file(path, "student")
    student = build_student(**saved["config"])
    student.load_state_dict(saved["state"])
    return student.to(runtime.device, memory_format=torch.channels_last).eval()


# ---------------------------------------------------------------------------- evaluation
def evaluate(params: dict, data: SplitData, models: dict[str, str], runtime: Runtime) -> tuple[dict, dict]:
    """Test-set metrics of the teachers (fused and per sensor) and each student model.
    Returns (metrics, predictions) with predictions[name] = (labels, predicted)."""
    metrics, predictions = {}, {}
    predictor = load_teacher_predictor(models.pop("teachers"), runtime)
    in_memory, workers = params["train"]["cache_in_memory"], params["train"]["workers"]
    recordings = SensorImages(data.inputs.need("gaf"), predictor.teacher.sensors, data.recordings("test"), in_memory)
    predicted = predictor.predict(recordings)
    labels = recordings.labels.numpy()
    teacher_metrics = {}
    for name, logits in [("fused", predicted["logits"])] + [(s, b["logits"]) for s, b in predicted["branches"].items()]:
        teacher_metrics[name] = classification_metrics(labels, logits.argmax(1).numpy(), data.class_names)
        predictions[f"teachers_{name}"] = (labels, logits.argmax(1).numpy())
    if predictor.teacher.batch_dependent:
        # Diagnostic only: the authors' protocol, fixed batches in class-sorted order, where
        # SPAMFM's similarity can carry the label (docs/method.md §3).
        sorted_logits = teacher_predict_in_batches(predictor.teacher, recordings, params["teacher"]["batch_size"],
                                                   runtime, class_sorted_order(recordings))["logits"]
        teacher_metrics["fused"]["class_sorted_accuracy"] = round(accuracy_of(sorted_logits, recordings.labels), 2)
    metrics["teachers"] = teacher_metrics
    clips = VideoClips(data.inputs.need("frames"), data.samples("test"), params["student"]["num_segments"], "centre",
                       in_memory=in_memory, normalize=False)
    for name, path in models.items():
        logits = student_predict(load_student(path, runtime), clips, params["student"]["batch_size"], runtime, workers)
        metrics[name] = classification_metrics(clips.labels.numpy(), logits.argmax(1).numpy(), data.class_names)
        # Per test sample, so two models can be compared recording by recording (McNemar).
        metrics[name]["per_sample"] = {"sample_id": list(clips.sample_ids), "label": clips.labels.tolist(),
                                       "predicted": logits.argmax(1).tolist()}
        predictions[name] = (clips.labels.numpy(), logits.argmax(1).numpy())
    return metrics, predictions
