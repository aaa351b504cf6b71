"""Training the multi-sensor teachers of a split, and the fold teachers whose held-out outputs
cross-fit the teacher-output cache (docs/method.md §6b)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.data import SensorImages, random_time_crop, random_time_warp
from pipeline.io import atomic_output
from pipeline.metrics import accuracy_of
from pipeline.models.teachers import MultiSensorTeacher, teacher_loss
from pipeline.pseudo_labels import NO_LABEL, coverage_threshold, thresholded
from pipeline.training import Runtime, fit, input_digests, loader, params_subset, seed_everything
from pipeline.workflow.inputs import SplitData, cache_settings, check_gaf_settings
from pipeline.workflow.teacher_inference import TeacherPredictor, draw_reference_set, teacher_config, teacher_sensors

log = logging.getLogger(__name__)


# The params keys each training stage's result depends on: its checkpoint fingerprint covers
# exactly these, and dvc.yaml lists the same keys (a test checks both agree). train.threads,
# train.workers and train.cache_in_memory change speed, not results, so none retrains anything.
TEACHER_PARAMS = ("seed", "teacher", "train.device", "train.bf16")

FOLD_PARAMS = TEACHER_PARAMS + ("teacher_outputs.folds",)


def train_teachers(params: dict, data: SplitData, runtime: Runtime, checkpoint: str | Path, progress: bool = True,
                   training: pd.DataFrame | None = None, name: str | None = None,
                   keys: tuple[str, ...] = TEACHER_PARAMS) -> dict:
    """Train the multi-sensor teacher on the split's training recordings (or ``training``, a
    subset of them: a fold teacher); select the epoch on the validation recordings' fused
    accuracy. With ``teacher.self_training.rounds`` R > 0 (semi-supervised teachers), then R
    times: label the split's unlabeled recordings with the teacher just kept, where its fused
    probability reaches ``teacher.self_training.threshold``, and train a new teacher (same seed)
    on the labelled recordings and those; a round that adds none stops there (the same
    recordings and seed would train the same teacher) with a warning. Returns the model file's
    content (the last round's, with ``self_training``: the recordings each round added)."""
    training = data.recordings("train") if training is None else training
    name = name or f"teachers[{data.split}]"
    settings = params["teacher"]["self_training"]
    rounds, threshold, coverage = settings["rounds"], settings["threshold"], settings["coverage"]
    unlabeled = data.recordings("unlabeled")
    if rounds == 0 or unlabeled.empty:
        return fit_teachers(params, data, runtime, checkpoint, progress, training, name, keys)
    saved = fit_teachers(params, data, runtime, round_checkpoint(checkpoint, 0), progress, training,
                         f"{name} labelled", keys)
    added = []
    for round_ in range(1, rounds + 1):
        pseudo = teacher_pseudo_labels(saved, params, data, runtime, unlabeled, threshold, coverage)
        kept = pseudo[pseudo["label"] >= 0]
        added.append({"round": round_, "recordings": len(kept), "of": len(pseudo)})
        if kept.empty:  # the same recordings and seed would train the same teacher again
            log.warning("%s: self-training round %d adds none of the %d unlabeled recordings: the fused teachers' "
                        "highest probability on them is %.3f, below teacher.self_training.threshold %g; the "
                        "teachers stay those trained on the labelled recordings", name, round_, len(pseudo),
                        pseudo["confidence"].max(), threshold)
            if runtime.is_main:  # dvc.yaml declares the checkpoint: the round kept is its content
                with atomic_output(checkpoint) as partial:
                    shutil.copyfile(round_checkpoint(checkpoint, round_ - 1), partial)
            break
        log.info("%s: self-training round %d adds %d of %d unlabeled recordings", name, round_, len(kept), len(pseudo))
        path = checkpoint if round_ == rounds else round_checkpoint(checkpoint, round_)
        saved = fit_teachers(params, data, runtime, path, progress, pd.concat([training, kept], ignore_index=True),
                             f"{name} self-training {round_}/{rounds}", keys,
                             pseudo_labels=dict(zip(kept["recording_id"], kept["label"].astype(int))))
    return {**saved, "self_training": added}


def round_checkpoint(checkpoint: str | Path, round_: int) -> Path:
    """Where a self-training round before the last keeps its resumable checkpoint."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.round{round_}{path.suffix}")


def teacher_pseudo_labels(saved: dict, params: dict, data: SplitData, runtime: Runtime, unlabeled: pd.DataFrame,
                          threshold: float, coverage: float | None = None) -> pd.DataFrame:
    """The unlabeled recordings (``recording_id``, ``label``, ``confidence``) with the kept
    teacher's fused class where its probability (``confidence``) is at least ``threshold``
    (with ``coverage``: the probability that keeps that share, the most confident), else -1.
    Their own labels are dropped before the images are read: nothing here sees them."""
    teacher = MultiSensorTeacher(**saved["config"]).to(runtime.device, memory_format=torch.channels_last)
    teacher.load_state_dict(saved["state"])
    hidden = unlabeled[["recording_id"]].assign(label=NO_LABEL)
    images = SensorImages(data.inputs.need("gaf"), teacher.sensors, hidden, params["train"]["cache_in_memory"])
    logits = TeacherPredictor(teacher, saved["reference"]["images"], runtime).predict(images)["logits"]
    probabilities = logits.float().softmax(1)
    if coverage is not None:
        threshold = coverage_threshold(probabilities, coverage)
    return hidden.assign(label=thresholded(probabilities, threshold).numpy(),
                         confidence=probabilities.max(1).values.numpy())


def fit_teachers(params: dict, data: SplitData, runtime: Runtime, checkpoint: str | Path, progress: bool,
                 training: pd.DataFrame, name: str, keys: tuple[str, ...],
                 pseudo_labels: dict[str, int] | None = None) -> dict:
    """One teacher trained on ``training`` (recordings with their labels, or pseudo-labels
    listed in ``pseudo_labels``, which the checkpoint's fingerprint covers)."""
    settings = params["teacher"]
    seed_everything(params["seed"])
    sensors = teacher_sensors(params, data.sensors)
    config = teacher_config(params, sensors, len(data.class_names), data.embeddings.shape[1])
    # channels_last on CPU too: oneDNN's convolutions run 1.3-1.5x faster in it (VGG branches,
    # MobileNetV2 at the presets' sizes, measured on 2 cores); the conv inputs follow the weights.
    teacher = MultiSensorTeacher(**config).to(runtime.device, memory_format=torch.channels_last)
    trainer = nn.parallel.DistributedDataParallel(teacher) if runtime.distributed else teacher
    gaf = data.inputs.need("gaf")
    check_gaf_settings(params, data)
    in_memory = params["train"]["cache_in_memory"]
    train = SensorImages(gaf, sensors, training, in_memory)
    # Validation recordings the teachers train on measure training accuracy, not generalisation:
    # a split that holds out videos of the same recordings (cross_view) leaves none, and the
    # teachers then keep their last epoch instead of paying for a meaningless validation.
    held_out = data.recordings("val")
    held_out = held_out[~held_out["recording_id"].isin(training["recording_id"])].reset_index(drop=True)
    if len(held_out) == 0 and len(data.recordings("val")):
        log.info("%s: every validation recording is also a training recording of the teachers (the split holds "
                 "out videos, not recordings): the teachers keep their last epoch", name)
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

    result = fit(name=name, model=teacher, parameters=list(teacher.parameters()),
                 train_data=loader(train, settings["batch_size"], runtime, params["seed"], shuffle=True, drop_last=True,
                                   batch_key="teacher.batch_size", workers=params["train"]["workers"]),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint,
                 config={"teacher": config, "params": params_subset(params, keys), "split": data.split,
                         "reference": reference_ids, "training": sorted(train.recording_ids),
                         **({"pseudo_labels": pseudo_labels} if pseudo_labels else {}),
                         "inputs": input_digests([data.inputs.manifest, data.inputs.splits, gaf,
                                                  data.inputs.class_embeddings])},
                 runtime=runtime, progress=progress)
    return {"kind": "teachers", "config": config, "state": result["best_state"], "class_names": data.class_names,
            "made_with": cache_settings(gaf, "gaf"),
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split,
            "made_for": data.made_for, "reference": {"recording_ids": reference_ids, "images": reference}}


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
    saved = {"kind": "fold_teachers", "folds": folds, "split": data.split, "made_for": data.made_for,
             "assignment": {}, "teachers": []}
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
