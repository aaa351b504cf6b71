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


def test_without_an_output_it_only_checks_and_an_empty_file_is_one_line(tmp_path):
    """What `make repro` runs before DVC, which reads params.yaml itself to resolve dvc.yaml."""
    import subprocess
    import sys

    from tests.conftest import REPO

    def check(text: str) -> subprocess.CompletedProcess:
        (tmp_path / "params.yaml").write_text(text)
        return subprocess.run([sys.executable, "-m", "stages.check_params"], cwd=tmp_path, capture_output=True,
                              text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})

    empty = check("")
    assert empty.returncode == 1 and empty.stderr.strip().splitlines() == [
        "error: params.yaml: data.root: missing; dvc.yaml reads it before any stage runs, so the file must give it "
        "(copy it from the repository's params.yaml)"]
    valid = check((REPO / "params.yaml").read_text())
    assert valid.returncode == 0 and valid.stdout.strip() == "params.yaml: valid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written
