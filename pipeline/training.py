"""The training loop shared by the teachers, the baseline and the distilled student.

- Device: CUDA when available (bf16 autocast, pinned memory, non-blocking copies), else
  CPU; one code path. Models are channels_last on both (faster convolutions on each).
- Seeds everything; data order and TSN offsets depend on (seed, epoch) only.
- Checkpoints every epoch (atomic) with model, optimiser, scheduler, RNG states, history and
  the best-on-validation weights; a rerun resumes from it if it was written for the same
  configuration (a params fingerprint), and ends with the same metrics as an uninterrupted
  run.
- DDP through torchrun (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPU; rank 0 writes.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as distributed
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.data import EpochShuffle
from pipeline.errors import InputError, TrainingError
from pipeline.io import atomic_output


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    bf16: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        if self.bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(self.device, non_blocking=self.device.type == "cuda")
        if isinstance(value, dict):
            return {key: self.to_device(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.to_device(item) for item in value]
        return value

    def barrier(self) -> None:
        if self.distributed:
            distributed.barrier()


def start_runtime(device: str = "auto", bf16: bool = True) -> Runtime:
    """Pick the device; join the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device is 'cuda' but no CUDA device is available")
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    if world_size > 1 and not distributed.is_initialized():
        distributed.init_process_group("nccl" if use_cuda else "gloo")
    return Runtime(chosen, rank, world_size, bf16=bf16 and use_cuda)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed and distributed.is_initialized():
        distributed.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fingerprint(config: dict) -> str:
    """A short hash of the configuration a checkpoint belongs to."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def params_subset(params: dict, keys: tuple[str, ...]) -> dict:
    """{key: value} of dotted params keys (``train.device``) or whole sections."""
    chosen = {}
    for key in keys:
        value = params
        for part in key.split("."):
            value = value[part]
        chosen[key] = value
    return chosen


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (streamed: caches are hundreds of MB)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None


def input_digests(paths) -> dict[str, str]:
    """{path: content hash} of every file a stage reads, for checkpoint fingerprints: a
    checkpoint written from other data (e.g. after ``-S gaf.method=difference``) must not be
    resumed."""
    return {str(path): file_digest(path) for path in paths if path is not None}


def load_torch_file(path: str | Path, what: str, remedy: str) -> dict:
    """``torch.load`` with one clear line for a truncated, empty or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found ({remedy})")
    if path.stat().st_size == 0:
        raise TrainingError(f"{path}: {what} is empty (0 bytes); {remedy}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # zipfile, pickle, EOF and RuntimeErrors all mean a damaged file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise TrainingError(f"{path}: {what} is truncated or corrupt ({first_line}); {remedy}") from None
    if not isinstance(saved, dict):
        raise TrainingError(f"{path}: not a {what} of this project (a {type(saved).__name__}); {remedy}")
    return saved


def save_checkpoint(path: str | Path, state: dict) -> None:
    with atomic_output(path) as temporary:
        torch.save(state, temporary)


def load_checkpoint(path: str | Path, expected_fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this configuration, else None. A damaged
    checkpoint is an error (never silently a fresh start: the user should know)."""
    path = Path(path)
    if not path.exists():
        return None
    state = load_torch_file(path, "checkpoint", "delete it to train from the start")
    return state if state.get("fingerprint") == expected_fingerprint else None


def check_finite_state(state: dict, where: str) -> None:
    """Refuse to save a model with a non-finite weight."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise TrainingError(f"{where}: weight {key} is not finite; the model is not saved")


def check_finite_loss(name: str, epoch: int, batch: int, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
    """Stop at the first non-finite loss, naming the term that went wrong."""
    if torch.isfinite(loss).all():
        return
    bad = [term for term, value in terms.items() if not torch.isfinite(torch.as_tensor(value)).all()]
    culprit = f"term {', '.join(bad)}" if bad else "the weighted total"
    values = ", ".join(f"{term} = {float(value):g}" for term, value in terms.items())
    raise TrainingError(f"{name}: epoch {epoch}, batch {batch}: the loss is not finite ({culprit}; "
                        f"{values or f'loss = {float(loss):g}'}); the model is not saved. Check the inputs "
                        "for non-finite values and lower the learning rate")


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def loader(dataset, batch_size: int, runtime: Runtime, seed: int, shuffle: bool, drop_last: bool = False,
           workers: int = 0, batch_key: str = "batch_size") -> DataLoader:
    """A DataLoader whose order is a function of (seed, epoch) (see ``EpochShuffle``);
    shuffled loaders are split across DDP ranks, evaluation loaders are not. ``workers``
    processes load batches (0: the main process); they are not persistent, so each epoch's
    workers start from the dataset as ``set_epoch`` left it (its TSN offsets). With
    ``drop_last``, fewer samples per rank than a batch is an error naming ``batch_key``: it
    would train nothing."""
    sampler = EpochShuffle(len(dataset), seed, shuffle, runtime.rank if shuffle else 0,
                           runtime.world_size if shuffle else 1)
    if drop_last and len(sampler) < batch_size:
        raise InputError(f"{batch_key}: {batch_size} is above the {len(sampler)} training samples"
                         f"{' per process' if runtime.world_size > 1 else ''} (only full batches train: "
                         f"none would); lower it or label more recordings")
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, num_workers=workers,
                      pin_memory=runtime.device.type == "cuda", persistent_workers=False)


def set_epoch(data: DataLoader, epoch: int) -> None:
    data.sampler.set_epoch(epoch)
    if hasattr(data.dataset, "set_epoch"):
        data.dataset.set_epoch(epoch)


@dataclass
class EpochResult:
    losses: dict[str, float]
    validation_accuracy: float | None


def fit(
    *,
    name: str,
    model: nn.Module,
    parameters: list[nn.Parameter],
    train_data: DataLoader,
    step: Callable[[tuple], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    validate: Callable[[], float | None],
    epochs: int,
    lr: float,
    weight_decay: float,
    checkpoint_path: str | Path,
    config: dict,
    runtime: Runtime,
    progress: bool = True,
) -> dict:
    """Train ``epochs`` epochs with AdamW and a cosine schedule, resuming from
    ``checkpoint_path`` when it holds this configuration's progress. Returns
    ``{"best_state", "best_epoch", "history"}``. The best epoch is chosen on
    validation accuracy (the last epoch when there is no validation set)."""
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    key = fingerprint(config)
    state = load_checkpoint(checkpoint_path, key)
    history, best = [], {"accuracy": -1.0, "epoch": -1, "state": None}
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        history, best, start = state["history"], state["best"], state["epoch"]
        if runtime.is_main:
            print(f"{name}: resuming after epoch {start} from {checkpoint_path}")
    for epoch in range(start, epochs):
        set_epoch(train_data, epoch)
        model.train()
        totals: dict[str, float] = {}
        count = 0
        bar = tqdm(train_data, desc=f"{name} {epoch + 1}/{epochs}", unit="batch", leave=False,
                   disable=not (progress and runtime.is_main))
        for batch_number, batch in enumerate(bar, start=1):
            optimizer.zero_grad(set_to_none=True)
            loss, terms = step(batch)
            check_finite_loss(name, epoch + 1, batch_number, loss.detach(), terms)
            loss.backward()
            optimizer.step()
            count += 1
            for term, value in {"loss": loss.detach(), **terms}.items():
                totals[term] = totals.get(term, 0.0) + float(value)
            bar.set_postfix({term: f"{value / count:.3f}" for term, value in totals.items()})
        scheduler.step()
        losses = {term: value / max(count, 1) for term, value in totals.items()}
        accuracy = validate()
        selection = accuracy if accuracy is not None else float(epoch)
        if selection >= best["accuracy"]:
            best = {"accuracy": selection, "epoch": epoch + 1, "state": copy.deepcopy(model.state_dict())}
        record = {"epoch": epoch + 1, **{f"train_{k}": round(v, 5) for k, v in losses.items()},
                  "val_accuracy": accuracy, "lr": scheduler.get_last_lr()[0]}
        history.append(record)
        if runtime.is_main:
            summary = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
            print(f"{name} epoch {epoch + 1}/{epochs}: {summary}"
                  + (f", val accuracy {accuracy:.2f}%" if accuracy is not None else ""), flush=True)
            save_checkpoint(checkpoint_path, {
                "fingerprint": key, "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng_state(), "history": history, "best": best,
            })
        runtime.barrier()
    return {"best_state": best["state"], "best_epoch": best["epoch"], "history": history}
