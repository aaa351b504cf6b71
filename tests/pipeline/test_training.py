"""pipeline/training.py: what a checkpoint fingerprint covers, non-finite losses, and
DataLoader workers that see each epoch."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from pipeline.errors import InputError, TrainingError
from pipeline.training import Runtime, fit, input_digests, loader, params_subset


def test_params_subset_takes_dotted_keys_and_sections():
    params = {"seed": 3, "train": {"device": "cpu", "threads": 2}, "teacher": {"lr": 0.1}}
    assert params_subset(params, ("seed", "teacher", "train.device")) == {
        "seed": 3, "teacher": {"lr": 0.1}, "train.device": "cpu"}


def test_input_digests_change_with_content(tmp_path):
    path = tmp_path / "gaf.h5"
    path.write_bytes(b"summation")
    before = input_digests([path])
    path.write_bytes(b"difference")
    assert input_digests([path]) != before
    assert input_digests([path, None]) == input_digests([path])  # optional inputs are skipped


class Numbers(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor([float(index)]), index


def test_fit_stops_at_a_non_finite_loss_naming_epoch_and_term(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    runtime = Runtime(torch.device("cpu"))
    epoch_of = {"now": 0}

    def step(batch):
        inputs, _ = batch
        value = model(inputs).pow(2).mean()
        poisoned = value * float("nan") if epoch_of["now"] == 2 else value  # epoch 2 goes wrong
        return value + poisoned, {"ce": value.detach(), "gsdm": poisoned.detach()}

    def validate():
        epoch_of["now"] += 1
        return 50.0

    epoch_of["now"] = 1
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(TrainingError, match=r"model: epoch 2, batch 1: the loss is not finite \(term gsdm;"):
        fit(name="model", model=model, parameters=list(model.parameters()),
            train_data=loader(Numbers(), 4, runtime, seed=0, shuffle=True), step=step, validate=validate,
            epochs=3, lr=0.01, weight_decay=0.0, checkpoint_path=checkpoint, config={}, runtime=runtime,
            progress=False)
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["epoch"] == 1  # the last good epoch; nothing of epoch 2 was written
    assert all(torch.isfinite(value).all() for value in saved["model"].values())


class Epochs(Dataset):
    """Items depend on the epoch set on the dataset (like TSN offsets)."""

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.tensor(100 * self.epoch + index)


def test_loader_workers_see_each_epoch_like_the_main_process():
    from pipeline.training import set_epoch

    runtime = Runtime(torch.device("cpu"))
    seen = {}
    for workers in (0, 1):
        data = loader(Epochs(), 2, runtime, seed=1, shuffle=True, workers=workers)
        seen[workers] = []
        for epoch in range(2):
            set_epoch(data, epoch)
            seen[workers].append(sorted(torch.cat(list(data)).tolist()))
    assert seen[0] == [[0, 1, 2, 3], [100, 101, 102, 103]]
    assert seen[1] == seen[0]


def test_a_training_loader_with_fewer_samples_than_a_batch_is_refused():
    runtime = Runtime(torch.device("cpu"))
    # Numbers holds 8 samples: a batch of 8 trains one step, a batch of 9 none (drop_last).
    assert len(loader(Numbers(), 8, runtime, seed=0, shuffle=True, drop_last=True)) == 1
    with pytest.raises(InputError, match=r"^student.batch_size: 9 is above the 8 training samples"):
        loader(Numbers(), 9, runtime, seed=0, shuffle=True, drop_last=True, batch_key="student.batch_size")
    assert len(loader(Numbers(), 9, runtime, seed=0, shuffle=False)) == 1  # evaluation keeps the last batch
