"""The synthesize stage generates nothing for a real dataset: its folder holds a note only."""
from __future__ import annotations

import argparse

from pipeline.params import validate_params
from stages import synthesize


def test_a_real_dataset_leaves_only_a_note(tmp_path):
    output = tmp_path / "synthetic"
    (output / "old").mkdir(parents=True)  # a previous synthetic dataset is replaced
    params = validate_params({"dataset": "utd_mhad", "splits": {"protocols": ["subject_specific"]}})
    synthesize.main(argparse.Namespace(output=str(output), no_progress=True), params)
    assert [path.name for path in output.iterdir()] == ["NOT_GENERATED.txt"]
    assert "utd_mhad" in (output / "NOT_GENERATED.txt").read_text()
