"""The model files the training stages write (teachers, fold teachers, baseline, student): the
one owner of their format. A model file holds ``kind``, the weights (``state``), its training
``history``, the split it was made for (``made_for``: ``inputs.split_provenance``) and the
settings it was made with (``made_with``: dotted params keys); a stage that cannot train
writes one that says so (``skipped_model``). Saving refuses non-finite weights and is atomic;
loading checks the kind, the split and, through ``check_made_with``, the settings its consumer
has now, each failure one line naming the file."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from pipeline.errors import InputError
from pipeline.io import atomic_output
from pipeline.training import check_finite_state, load_torch_file
from pipeline.workflow.inputs import SplitData, check_made_for

log = logging.getLogger(__name__)


def save_model_file(path: str | Path, saved: dict) -> None:
    """Write a model file atomically; refused when a weight is not finite (every fold teacher's
    too)."""
    if "state" in saved:
        check_finite_state(saved["state"], str(path))
    for fold, teacher in enumerate(saved.get("teachers", [])):
        check_finite_state(teacher["state"], f"{path} (fold {fold})")
    with atomic_output(path) as temporary:
        torch.save(saved, temporary)


def save_skipped_model(path: str | Path, checkpoint: str | Path, saved: dict) -> None:
    """A skipped stage's model file, and its checkpoint only when there is none (a kept one may
    hold real progress)."""
    if not Path(checkpoint).exists():
        with atomic_output(checkpoint) as temporary:
            torch.save({"fingerprint": None, "skipped": True, "reason": saved["reason"]}, temporary)
    with atomic_output(path) as temporary:
        torch.save(saved, temporary)


def load_model_file(path: str | Path, kind: str, data: SplitData | None = None, allow_skipped: bool = False) -> dict:
    """A model file written by a training stage, or one line saying what is wrong with it.
    With ``data``, the file must have been made for that split (``check_made_for``). A
    skipped stage's file (``skipped_model``) holds no model: an error unless ``allow_skipped``."""
    saved = load_torch_file(path, "model file", "delete it and run `dvc repro` to rebuild it")
    if saved.get("kind") != kind:
        raise InputError(f"{path}: holds a {saved.get('kind', 'unknown')!r} model, expected {kind!r}")
    if saved.get("skipped") and not allow_skipped:
        raise InputError(f"{path}: holds no {kind} model: its training was skipped ({saved['reason']})")
    if data is not None:
        check_made_for(saved.get("made_for"), data, path)
    return saved


def skipped_model(kind: str, method: str, data: SplitData, reason: str) -> dict:
    """The model file a training stage writes when it cannot train (e.g. no video for the
    students): DVC records it, consumers read ``skipped`` and ``reason``."""
    return {"kind": kind, "method": method, "skipped": True, "reason": reason, "split": data.split,
            "made_for": data.made_for, "history": []}


def check_made_with(saved: dict, current: dict, path: str | Path, where: str) -> None:
    """A model file must have been made with the settings its consumer now has (``current``:
    dotted key -> value, from ``where``): e.g. teachers trained on 32-pixel GAF images scored on
    64-pixel ones, or a student trained on 2 segments evaluated on 4, is one line naming the key."""
    made = saved.get("made_with")
    if made is None:
        log.warning("%s: written before model files recorded their settings; %s not checked against %s", path,
                    ", ".join(current), where)
        return
    for key, value in current.items():
        if key in made and made[key] != value:
            raise InputError(f"{path}: made with {key} {made[key]!r}, but {where} has {value!r}; rerun its stage "
                             "(`dvc repro`)")
