"""The params check stage: a marker with constant content when the file is valid; a real
dataset's missing folder is its one-line error (DVC would otherwise report it in its words)."""
from __future__ import annotations

import argparse
import json

import pytest

from pipeline.params import ParamsError, validate_params
from stages import check_params


def test_valid_params_write_the_constant_marker(tmp_path):
    output = tmp_path / "params_valid.json"
    check_params.main(argparse.Namespace(output=str(output), params="params.yaml"), validate_params({}))
    assert json.loads(output.read_text()) == {"params": "valid"}


def test_a_real_dataset_without_its_folder_names_the_key_and_writes_nothing(tmp_path):
    output = tmp_path / "params_valid.json"
    params = validate_params({"dataset": "utd_mhad", "splits": {"protocols": ["subject_specific"]},
                              "data": {"root": str(tmp_path / "missing")}})
    with pytest.raises(ParamsError, match=r"p.yaml: data.root: .*missing is not a folder"):
        check_params.main(argparse.Namespace(output=str(output), params="p.yaml"), params)
    assert not output.exists()
