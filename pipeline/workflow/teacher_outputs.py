"""The teacher-output cache: written once per split from the frozen (and fold) teachers, read
by the distilled student by recording id, with the pairing controls. Writer and reader share
one HDF5 layout, so both live here."""
from __future__ import annotations

import logging
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pipeline.data import SensorImages
from pipeline.distill import TEACHER_BLACK
from pipeline.errors import InputError
from pipeline.io import atomic_output
from pipeline.losses.literature import mean_non_target_mass
from pipeline.metrics import accuracy_of, teacher_diagnostics, temperature_fit
from pipeline.training import Runtime
from pipeline.workflow.inputs import SplitData, cache_settings, check_gaf_settings
from pipeline.workflow.model_files import check_made_with, load_model_file
from pipeline.workflow.teacher_inference import load_teacher_predictor, teacher_predictor

log = logging.getLogger(__name__)

# Whose teacher outputs a training video is paired with (docs/method.md §6b): the method and its controls.
PAIRINGS = ("recording", "shuffled", "class_shuffled", "class_mean")


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
    check_gaf_settings(params, data)
    predictor = load_teacher_predictor(teacher_path, runtime, data)
    sensors = predictor.teacher.sensors
    recordings = data.table.drop_duplicates("recording_id").sort_values("recording_id").reset_index(drop=True)
    # An unlabeled recording's label is never read: GSDM's maps score it for the teachers' class.
    unlabeled = (recordings["part"] == "unlabeled").to_numpy()
    recordings.loc[unlabeled, "label"] = -1
    in_memory = params["train"]["cache_in_memory"]
    dataset = SensorImages(data.inputs.need("gaf"), sensors, recordings, in_memory)
    taps = distill_taps(params)
    predicted = predictor.predict(dataset, taps)
    hidden = torch.from_numpy(unlabeled.copy())  # a read-only view of the frame: torch warns on those
    validation = torch.from_numpy((recordings["part"] == "val").to_numpy())
    dataset.labels[hidden] = predicted["logits"][hidden].argmax(1)
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
    fit_logits, fit_labels, fitted_on = held_out_logits(predicted, sensors, cross_fitted, training_labels, folds,
                                                        torch.nonzero(validation).flatten(), dataset.labels)
    if fitted_on == "in_fold":
        log.warning("split %s: the soft-target temperature is fitted on the teachers' own training logits (no fold "
                    "teachers, no validation recordings): teachers that fit their training recordings push it "
                    "towards 0; set teacher_outputs.folds or keep validation for temperature: auto", data.split)
    fit = temperature_fit(fit_logits, fit_labels)
    temperature = fit["temperature"]
    if fit["at_grid_edge"]:
        log.warning("split %s: the fitted soft-target temperature %.4g is at the edge of its widest search grid "
                    "(%g..%g): the teachers' likelihood still improves beyond it, so it is a bound, not a fit; "
                    "temperature: auto would use it as is (set a number to choose)", data.split, temperature,
                    *fit["grid"])
    batch = params["student"]["batch_size"]
    black = {s: torch.full((batch, *dataset.image_shape(s)), TEACHER_BLACK) for s in sensors}
    ablated = predictor.predict_images(black)["branches"]
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as cache:
        cache.create_dataset("recording_id", data=np.array(recordings["recording_id"].tolist(), dtype=object),
                             dtype=h5py.string_dtype())
        cache.attrs.update(batch_size=batch, taps=list(taps), sensors=list(sensors), folds=folds,
                           fitted_temperature=temperature,
                           temperature_at_grid_edge=fit["at_grid_edge"], made_for=json.dumps(data.made_for, sort_keys=True))
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
            # Validation only: the test split is read by the evaluate stage, once per run.
            "fused_accuracy_validation": (accuracy_of(predicted["logits"][validation], dataset.labels[validation])
                                          if validation.any() else None),
            "unlabeled_recordings": int(hidden.sum()), "folds": folds,
            "temperature": {"fitted": round(temperature, 4), "fitted_on": fitted_on, "fitted_recordings": len(fit_labels),
                            "grid": fit["grid"], "at_grid_edge": fit["at_grid_edge"]},
            "training_recordings": len(training_ids), "diagnostics": diagnostics}


def held_out_logits(predicted: dict, sensors: list[str], cross_fitted: dict[str, torch.Tensor],
                    training_labels: torch.Tensor, folds: int, validation_rows: torch.Tensor,
                    labels: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, str]:
    """The branches' logits (and labels) the temperature is fitted on: recordings the scoring
    teacher never trained on, so that its confidence there is what it is on new data: the
    cross-fitted training logits with fold teachers, else the validation recordings' (Guo et
    al.'s temperature scaling), else, with neither, the in-fold training logits."""
    if folds:
        return [cross_fitted[s] for s in sensors], training_labels, "cross_fitted"
    if len(validation_rows):
        return ([predicted["branches"][s]["logits"][validation_rows] for s in sensors], labels[validation_rows],
                "validation")
    return [cross_fitted[s] for s in sensors], training_labels, "in_fold"


def branch_logits(predicted: dict) -> dict[str, torch.Tensor]:
    """{"fused": logits, sensor: logits}: the views a diagnostic reports."""
    return {"fused": predicted["logits"], **{s: b["logits"] for s, b in predicted["branches"].items()}}


def cross_fit(predicted: dict, gsdm_maps: dict, fold_teachers_path: str | Path, data: SplitData,
              recordings: pd.DataFrame, position: dict[str, int], taps: tuple[str, ...], runtime: Runtime,
              readout: str | None = None, in_memory: bool | str = True) -> int:
    """Replace, in ``predicted`` (and GSDM's channel ``gsdm_maps`` when there are some), each
    training recording's outputs by those of the fold teacher that never saw it. Returns the
    number of folds (0: nothing replaced)."""
    saved = load_model_file(fold_teachers_path, "fold_teachers", data)
    if saved["folds"] == 0:
        return 0
    training_ids = data.recordings("train")["recording_id"].tolist()
    assignment = saved["assignment"]
    if saved["split"] != data.split or sorted(assignment) != sorted(training_ids):
        raise InputError(f"{fold_teachers_path}: fold teachers of other training recordings (split "
                         f"{saved['split']!r}); rerun the fold_teachers stage")
    gaf = data.inputs.need("gaf")
    for fold, fold_teacher in enumerate(saved["teachers"]):
        check_made_with(fold_teacher, cache_settings(gaf, "gaf"), f"{fold_teachers_path} (fold {fold + 1})", str(gaf))
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
            self.made_for = json.loads(cache.attrs["made_for"]) if "made_for" in cache.attrs else None
            self.fitted_temperature = float(cache.attrs["fitted_temperature"]) if "fitted_temperature" in cache.attrs \
                else None
            self.temperature_at_grid_edge = bool(cache.attrs.get("temperature_at_grid_edge", False))
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
        if self.pairing in ("class_shuffled", "class_mean") and bool((self.training_labels < 0).any()):
            raise InputError(f"{self.path}: the {self.pairing} pairing needs every training recording's label, and "
                             f"{int((self.training_labels < 0).sum())} are unlabeled")
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

    def logits(self, recording_ids: list[str], epoch: int = 0) -> list[torch.Tensor]:
        """Each sensor branch's logits for the recordings' pairs, any number of them (a
        labeller's view: no ablated outputs, so no fixed batch size)."""
        rows = self.partners(recording_ids, epoch) if self.bank_rows is not None else self._rows(recording_ids)
        return [self.values[sensor]["logits"][rows] for sensor in self.sensors]

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
        labelled training recordings (label smoothing's ``epsilon: auto``)."""
        labeled = self.training_labels >= 0
        rows = self._rows([rid for rid, keep in zip(self.training_ids, labeled.tolist()) if keep])
        fused = torch.stack([self.values[s]["logits"][rows].float() for s in self.sensors]).mean(0)
        return mean_non_target_mass(fused, self.training_labels[labeled], temperature)
