"""SAKDN's workflow for one split: train the teachers, cache their outputs, train the video
students (baseline and distilled), evaluate everything on the test part.

The stages in ``stages/`` are thin wrappers around these functions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.data import (
    SensorImages, VideoClips, random_time_crop, recordings_of, samples_of, split_table, student_black,
)
from pipeline.datasets import read_manifest, sensor_names
from pipeline.distill import Distiller
from pipeline.embeddings import read_class_embeddings
from pipeline.errors import InputError
from pipeline.io import atomic_output
from pipeline.losses import WeightedSum
from pipeline.metrics import classification_metrics
from pipeline.models.students import build_student
from pipeline.models.teachers import MultiSensorTeacher, teacher_loss
from pipeline.models.weights import resolve_weights
from pipeline.params import ParamsError
from pipeline.training import Runtime, fit, input_digests, load_torch_file, loader, seed_everything

log = logging.getLogger(__name__)

# The params keys each training stage's result depends on: its checkpoint fingerprint covers
# exactly these, and dvc.yaml lists the same keys (a test checks both agree). train.threads
# and train.workers change speed, not results, so neither retrains anything.
TEACHER_PARAMS = ("seed", "teacher", "train.device", "train.bf16")
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
            "gate": teacher["spamfm_gate"]}


def build_teacher(config: dict) -> MultiSensorTeacher:
    return MultiSensorTeacher(**config)


@torch.no_grad()
def teacher_predict(teacher: MultiSensorTeacher, dataset: SensorImages, batch_size: int, runtime: Runtime,
                    taps: tuple[str, ...] = ()) -> dict:
    """Run the frozen teacher over ``dataset`` in its fixed order, in fixed batches of
    ``batch_size`` (SPAMFM's batch similarity makes outputs depend on batch-mates). Returns
    fused logits and, per sensor, logits, fc2 and the requested feature taps (CPU tensors)."""
    teacher.eval()
    fused, branches = [], {s: {"logits": [], "fc2": [], "features": {t: [] for t in taps}} for s in teacher.sensors}
    for start in range(0, len(dataset), batch_size):
        indices = range(start, min(start + batch_size, len(dataset)))
        images = {s: torch.stack([dataset[i][0][s] for i in indices]) for s in teacher.sensors}
        with runtime.autocast():
            output = teacher(runtime.to_device(images))
        fused.append(output["logits"].float().cpu())
        for sensor, branch in output["branches"].items():
            branches[sensor]["logits"].append(branch["logits"].float().cpu())
            branches[sensor]["fc2"].append(branch["fc2"].float().cpu())
            for tap in taps:
                branches[sensor]["features"][tap].append(branch["features"][tap].float().cpu())
    cat = torch.cat
    return {"logits": cat(fused), "branches": {
        s: {"logits": cat(b["logits"]), "fc2": cat(b["fc2"]), "features": {t: cat(v) for t, v in b["features"].items()}}
        for s, b in branches.items()}}


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def train_teachers(params: dict, data: SplitData, runtime: Runtime, checkpoint: str | Path, progress: bool = True) -> dict:
    """Train the multi-sensor teacher on the split's training recordings; select the epoch
    on the validation recordings' fused accuracy. Returns the model file's content."""
    settings = params["teacher"]
    seed_everything(params["seed"])
    sensors = teacher_sensors(params, data.sensors)
    config = teacher_config(params, sensors, len(data.class_names), data.embeddings.shape[1])
    teacher = build_teacher(config).to(runtime.device)
    if runtime.device.type == "cuda":
        teacher = teacher.to(memory_format=torch.channels_last)
    trainer = nn.parallel.DistributedDataParallel(teacher) if runtime.distributed else teacher
    gaf = data.inputs.need("gaf")
    train = SensorImages(gaf, sensors, data.recordings("train"))
    validation = SensorImages(gaf, sensors, data.recordings("val"))
    embeddings = data.embeddings.to(runtime.device)

    def step(batch):
        images, labels, _ = batch
        images = random_time_crop(runtime.to_device(images), settings["time_crop"])
        with runtime.autocast():
            output = trainer(images)
            return teacher_loss(output, runtime.to_device(labels), embeddings, settings["sp_weight"])

    def validate():
        if len(validation) == 0:
            return None
        logits = teacher_predict(teacher, validation, settings["batch_size"], runtime)["logits"]
        return accuracy_of(logits, validation.labels)

    result = fit(name=f"teachers[{data.split}]", model=teacher, parameters=list(teacher.parameters()),
                 train_data=loader(train, settings["batch_size"], runtime, params["seed"], shuffle=True, drop_last=True,
                                   workers=params["train"]["workers"]),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint,
                 config={"teacher": config, "params": params_subset(params, TEACHER_PARAMS), "split": data.split,
                         "inputs": input_digests([data.inputs.manifest, data.inputs.splits, gaf,
                                                  data.inputs.class_embeddings])},
                 runtime=runtime, progress=progress)
    return {"kind": "teachers", "config": config, "state": result["best_state"], "class_names": data.class_names,
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split}


def load_model_file(path: str | Path, kind: str) -> dict:
    """A model file written by a training stage, or one line saying what is wrong with it."""
    saved = load_torch_file(path, "model file", "delete it and run `dvc repro` to rebuild it")
    if saved.get("kind") != kind:
        raise InputError(f"{path}: holds a {saved.get('kind', 'unknown')!r} model, expected {kind!r}")
    return saved


def load_teacher(path: str | Path, runtime: Runtime) -> MultiSensorTeacher:
    saved = load_model_file(path, "teachers")
    teacher = build_teacher(saved["config"])
    teacher.load_state_dict(saved["state"])
    return teacher.to(runtime.device).eval()


def distill_taps(params: dict) -> tuple[str, ...]:
    return tuple(sorted({pair[0] for pair in params["distill"]["layer_pairs"]}))


def write_teacher_outputs(params: dict, data: SplitData, teacher_path: str | Path, output: str | Path,
                          runtime: Runtime) -> dict:
    """Cache what distillation needs from the frozen teachers, once: per recording (all parts,
    fixed batches of the teacher batch size) logits, fc2 and the distillation taps; and the
    teachers' ablated pass (black GAF images) for the student's batch size."""
    from pipeline.distill import TEACHER_BLACK

    teacher = load_teacher(teacher_path, runtime)
    recordings = data.table.drop_duplicates("recording_id").sort_values("recording_id").reset_index(drop=True)
    dataset = SensorImages(data.inputs.need("gaf"), teacher.sensors, recordings)
    taps = distill_taps(params)
    predicted = teacher_predict(teacher, dataset, params["teacher"]["batch_size"], runtime, taps)
    batch = params["student"]["batch_size"]
    black = {s: torch.full((batch, *dataset.images[s].shape[1:]), TEACHER_BLACK) for s in teacher.sensors}
    with torch.no_grad(), runtime.autocast():
        ablated = teacher(runtime.to_device(black))["branches"]
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(recordings["recording_id"].tolist(), dtype=object),
                             dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=batch, taps=list(taps), sensors=list(teacher.sensors))
        for sensor, branch in predicted["branches"].items():
            group = cache.create_group(sensor)
            group["logits"], group["fc2"] = branch["logits"].numpy(), branch["fc2"].numpy()
            for tap, values in branch["features"].items():
                group[f"features/{tap}"] = values.numpy()
            group["ablated/logits"] = ablated[sensor]["logits"].float().cpu().numpy()
            group["ablated/fc2"] = ablated[sensor]["fc2"].float().cpu().numpy()
    return {"recordings": len(recordings), "taps": list(taps), "ablated_batch_size": batch,
            "fused_accuracy_all_parts": accuracy_of(predicted["logits"], dataset.labels)}


class TeacherOutputCache:
    """Teacher outputs looked up by recording id (what ``Distiller`` takes instead of running
    the teachers)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{path}: teacher outputs not found (run the teacher_outputs stage)")
        with h5py.File(path, "r") as cache:
            self.sensors = list(cache.attrs["sensors"])
            self.batch_size = int(cache.attrs["batch_size"])
            self.row = {rid.decode(): i for i, rid in enumerate(cache["recording_id"][()])}
            self.values = {}
            for sensor in self.sensors:
                group = cache[sensor]
                features = {tap: torch.from_numpy(group["features"][tap][()]) for tap in group.get("features", {})}
                self.values[sensor] = {
                    "logits": torch.from_numpy(group["logits"][()]), "fc2": torch.from_numpy(group["fc2"][()]),
                    "features": features,
                    "ablated": {"logits": torch.from_numpy(group["ablated/logits"][()]),
                                "fc2": torch.from_numpy(group["ablated/fc2"][()])},
                }

    def batch(self, recording_ids: list[str]) -> list[dict]:
        missing = [rid for rid in recording_ids if rid not in self.row]
        if missing:
            raise InputError(f"{self.path}: no cached teacher output for recording {missing[0]!r} "
                             "(rerun the teacher_outputs stage)")
        rows = torch.tensor([self.row[rid] for rid in recording_ids])
        outputs = []
        for sensor in self.sensors:
            values = self.values[sensor]
            ablated = values["ablated"]
            if len(rows) != self.batch_size:
                raise InputError(f"{self.path}: ablated teacher outputs are cached for batches of {self.batch_size}, "
                                 f"got {len(rows)}")
            outputs.append({"logits": values["logits"][rows], "fc2": values["fc2"][rows],
                            "features": {tap: v[rows] for tap, v in values["features"].items()},
                            "ablated": ablated})
        return outputs


# ---------------------------------------------------------------------------- students
def student_config(params: dict, num_classes: int, dimension: int) -> dict:
    student = params["student"]
    return {"backbone": student["backbone"], "head": student["head"], "num_classes": num_classes,
            "embedding_dim": dimension, "num_segments": student["num_segments"], "dropout": student["dropout"]}


def student_loss(params: dict, method: str, student_channels: list[int] | None = None,
                 teacher_channels: list[int] | None = None) -> WeightedSum:
    """The loss registry's objective for ``method``: baseline: CE alone; sakdn: CE + alpha L_ST +
    beta L_GSDM + gamma L_SP^S; a KD method: CE + that loss (weight 1). Each term builds itself
    from ``params``; the channel counts of the layer pairs' taps are for FitNet's adapters."""
    from pipeline.losses import build_objective

    return build_objective(params, method, student_channels=student_channels, teacher_channels=teacher_channels)


def tap_channels(student: nn.Module, teacher_config_: dict, pairs: list) -> tuple[list[int], list[int]]:
    """Channel counts of each pair's student and teacher taps (for FitNet's adapters)."""
    with torch.no_grad():
        probe = student.eval()(torch.zeros(1, student.num_segments, 3, 64, 64))["features"]
    teacher = build_teacher(teacher_config_)
    branch = teacher.branches[teacher.sensors[0]]
    return [probe[s].shape[2] for _, s in pairs], [branch.channels(t) for t, _ in pairs]


@torch.no_grad()
def student_predict(student: nn.Module, dataset: VideoClips, batch_size: int, runtime: Runtime) -> torch.Tensor:
    student.eval()
    logits = []
    for start in range(0, len(dataset), batch_size):
        clips = torch.stack([dataset[i][0] for i in range(start, min(start + batch_size, len(dataset)))])
        with runtime.autocast():
            logits.append(student(runtime.to_device(clips))["logits"].float().cpu())
    return torch.cat(logits)


def train_student(params: dict, data: SplitData, method: str, runtime: Runtime, checkpoint: str | Path,
                  teacher_outputs: str | Path | None = None, teacher_path: str | Path | None = None,
                  progress: bool = True) -> dict:
    """Train the video student with ``method`` ('baseline', 'sakdn' or a KD baseline) on the
    split's training videos, paired with their recordings' cached teacher outputs; select the
    epoch on validation accuracy. Returns the model file's content."""
    settings = params["student"]
    seed_everything(params["seed"])
    config = student_config(params, len(data.class_names), data.embeddings.shape[1])
    student = build_student(**config, pretrained_path=resolve_weights(settings["weights"], settings["backbone"]))
    pairs = [tuple(p) for p in params["distill"]["layer_pairs"]]
    channels = ([], [])
    if method == "fitnet":
        saved = load_model_file(teacher_path, "teachers")
        channels = tap_channels(student, saved["config"], pairs)
    loss = student_loss(params, method, *channels)
    distiller = Distiller(student, loss, data.embeddings, student_black=student_black()).to(runtime.device)
    if runtime.device.type == "cuda":
        distiller = distiller.to(memory_format=torch.channels_last)
    # DDP wraps the whole Distiller, so checkpoints hold the same keys as single-process runs.
    trainer = nn.parallel.DistributedDataParallel(distiller) if runtime.distributed else distiller
    cache = TeacherOutputCache(teacher_outputs) if method != "baseline" else None
    if cache is not None and cache.batch_size != settings["batch_size"]:
        raise InputError(f"{teacher_outputs}: ablated outputs cached for batch size {cache.batch_size}, "
                         f"student.batch_size is {settings['batch_size']} (rerun teacher_outputs)")
    frames = data.inputs.need("frames")
    train = VideoClips(frames, data.samples("train"), settings["num_segments"], "random", params["seed"])
    validation = VideoClips(frames, data.samples("val"), settings["num_segments"], "centre")

    def step(batch):
        clips, labels, indices = batch
        teachers = cache.batch([train.recording_ids[i] for i in indices.tolist()]) if cache else []
        with runtime.autocast():
            _, total, terms = trainer(runtime.to_device(clips), runtime.to_device(labels),
                                      teacher_outputs=runtime.to_device(teachers))
        return total, {name: value.detach() for name, value in terms.items()}

    def validate():
        if len(validation) == 0:
            return None
        return accuracy_of(student_predict(student, validation, settings["batch_size"], runtime), validation.labels)

    weights = resolve_weights(settings["weights"], settings["backbone"])
    read = [data.inputs.manifest, data.inputs.splits, frames, data.inputs.class_embeddings, weights]
    if method != "baseline":
        read += [teacher_outputs, teacher_path]
    fingerprint_config = {"student": config, "method": method, "split": data.split, "loss": loss.formula(),
                          "params": params_subset(params, BASELINE_PARAMS if method == "baseline" else DISTILL_PARAMS),
                          "inputs": input_digests(read)}
    result = fit(name=f"{method}[{data.split}]", model=distiller, parameters=distiller.trainable_parameters(),
                 train_data=loader(train, settings["batch_size"], runtime, params["seed"], shuffle=True, drop_last=True,
                                   workers=params["train"]["workers"]),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint, config=fingerprint_config,
                 runtime=runtime, progress=progress)
    best = {k[len("student."):]: v for k, v in result["best_state"].items() if k.startswith("student.")}
    return {"kind": "student", "method": method, "config": config, "state": best, "class_names": data.class_names,
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split,
            "loss": loss.formula()}


def load_student(path: str | Path, runtime: Runtime) -> nn.Module:
    saved = load_model_file(path, "student")
    student = build_student(**saved["config"])
    student.load_state_dict(saved["state"])
    return student.to(runtime.device).eval()


# ---------------------------------------------------------------------------- evaluation
def evaluate(params: dict, data: SplitData, models: dict[str, str], runtime: Runtime) -> tuple[dict, dict]:
    """Test-set metrics of the teachers (fused and per sensor) and each student model.
    Returns (metrics, predictions) with predictions[name] = (labels, predicted)."""
    metrics, predictions = {}, {}
    teacher = load_teacher(models.pop("teachers"), runtime)
    recordings = SensorImages(data.inputs.need("gaf"), teacher.sensors, data.recordings("test"))
    predicted = teacher_predict(teacher, recordings, params["teacher"]["batch_size"], runtime)
    labels = recordings.labels.numpy()
    teacher_metrics = {}
    for name, logits in [("fused", predicted["logits"])] + [(s, b["logits"]) for s, b in predicted["branches"].items()]:
        teacher_metrics[name] = classification_metrics(labels, logits.argmax(1).numpy(), data.class_names)
        predictions[f"teachers_{name}"] = (labels, logits.argmax(1).numpy())
    metrics["teachers"] = teacher_metrics
    clips = VideoClips(data.inputs.need("frames"), data.samples("test"), params["student"]["num_segments"], "centre")
    for name, path in models.items():
        logits = student_predict(load_student(path, runtime), clips, params["student"]["batch_size"], runtime)
        metrics[name] = classification_metrics(clips.labels.numpy(), logits.argmax(1).numpy(), data.class_names)
        predictions[name] = (clips.labels.numpy(), logits.argmax(1).numpy())
    return metrics, predictions
