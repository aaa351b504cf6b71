"""Every committed study's results come back from its run record alone, number for number.

The record (``studies/results/<study>_runs.json``) is what a study trained; the results files
are written from it. Regenerating them (``--recorded-only``: no training, no data) at today's
code must give the committed results, less what says when, where and by which command they
were written."""
from __future__ import annotations

import json
import shutil

import pytest

from pipeline.study.__main__ import main
from tests.conftest import REPO

RESULTS = REPO / "studies" / "results"
STUDIES = sorted(spec for spec in (REPO / "studies").glob("*.yaml") if (RESULTS / f"{spec.stem}.json").is_file())
# When, where and by which command: not what the runs measured.
PROVENANCE = {"command", "git", "date", "machine", "this_invocation_seconds", "results_folder", "figures_kept"}


def without_provenance(value):
    if isinstance(value, dict):
        return {key: without_provenance(item) for key, item in value.items() if key not in PROVENANCE}
    if isinstance(value, list):
        return [without_provenance(item) for item in value]
    return value


def test_the_committed_studies_are_found():
    assert {spec.stem for spec in STUDIES} >= {"utd_mhad_depth", "utd_mhad_label_scarce", "utd_mhad_hard_labels",
                                               "utd_mhad_pseudo_labels"}


@pytest.mark.parametrize("spec", STUDIES, ids=[spec.stem for spec in STUDIES])
def test_results_regenerate_from_the_record_alone(spec, tmp_path, monkeypatch, capsys):
    for path in RESULTS.glob(f"{spec.stem}*"):
        if path.name.endswith(("_runs.json", "_experiments.csv")):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(REPO)
    main([str(spec.relative_to(REPO)), "--recorded-only", "--results", str(tmp_path),
          "--workdir", str(tmp_path / "work")])
    assert not (tmp_path / "work").exists()  # nothing cloned, nothing trained
    written = sorted(path.name for path in tmp_path.glob(f"{spec.stem}*.json") if not path.name.endswith("_runs.json"))
    assert written
    for name in written:
        committed = json.loads((RESULTS / name).read_text())
        again = json.loads((tmp_path / name).read_text())
        assert without_provenance(again) == without_provenance(committed), name
    for name in (path.name for path in tmp_path.glob(f"{spec.stem}*.csv")):
        assert (tmp_path / name).read_text() == (RESULTS / name).read_text(), name
