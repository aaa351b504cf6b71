"""pipeline/study/fractions.py, with its combined results and figures (report.py, figures.py): a label-fraction
study whose runs are all in its record reruns without data or a work folder and writes the
fractions' results together: per fraction and arm the accuracy, the gains with intervals, the
teachers' accuracy; the curve and the class pairs."""
from __future__ import annotations

import json

from pipeline.study.executors import RecordOnly
from pipeline.study.finals import final_arms, final_key
from pipeline.study.fractions import FractionStudy
from pipeline.study.record import Record
from pipeline.study.spec import load_spec

SPEC = """\
preset: presets/utd_mhad_depth.yaml
data_root: {root}
split: cross_subject
fractions:
  0.5: {{seeds: [0, 1]}}
  1.0: {{seeds: [0, 1, 2]}}
class_pairs: [[sit to stand, stand to sit]]
description: Fractions from the record.
arms:
  baseline: {{stage: baseline}}
  soft_target: {{overrides: [distill.method=soft_target]}}
  smoothing: {{overrides: [distill.method=label_smoothing], fractions: [1.0]}}
"""
# test accuracy per arm and seed (every run reads the same four recordings; label 0)
ACCURACY = {"baseline": [25.0, 50.0, 50.0], "soft_target": [75.0, 75.0, 50.0], "smoothing": [25.0, 50.0, 25.0]}


def recorded(tmp_path, pseudo_labels: dict | None = None):
    """The spec, its runs in the record; ``pseudo_labels``: arm -> per seed the
    ``{coverage, precision}`` its runs record."""
    spec_path = tmp_path / "scarce.yaml"
    spec_path.write_text(SPEC.format(root=tmp_path / "no_data"))
    spec = load_spec(spec_path)
    record = Record(tmp_path / "results" / "scarce_runs.json", "scarce")
    for fraction in spec.fractions:
        sub = spec.at_fraction(fraction)
        base = sub.base_params()
        for name, arm in final_arms(sub, {"chosen": {}}).items():
            for seed in sub.seeds:
                right = int(ACCURACY[name][seed] / 25)
                per_class = {"sit to stand": 100.0 * fraction, "stand to sit": 50.0, "squat": 0.0}
                record.add_final(final_key(sub, base, arm, seed, 24), {
                    "arm": name, "seed": seed, "accuracy": ACCURACY[name][seed], "f_measure": ACCURACY[name][seed],
                    "validation_accuracy": 60.0, "best_epoch": 3, "per_class_accuracy": per_class,
                    "validation_curve": [50.0, 60.0], "seconds": {arm.stage: 9.0, "evaluate": 1.0},
                    "teachers_accuracy": 70.0 + 10 * fraction, "trained_in": None, "commit": "a" * 40,
                    **({"pseudo_labels": pseudo_labels[name][seed]} if name in (pseudo_labels or {}) else {})},
                    {"sample_id": list("abcd"), "label": [0] * 4, "predicted": [0] * right + [1] * (4 - right)})
    return spec


def test_a_recorded_fraction_study_writes_its_fractions_together_from_the_record(tmp_path):
    spec = recorded(tmp_path)
    work, results = tmp_path / "work", tmp_path / "results"
    said = []
    result = FractionStudy(spec, workdir=work, results=results, command="c", say=said.append).run()
    assert not work.exists()  # nothing trained
    saved = json.loads((results / "scarce.json").read_text())
    assert saved["status"] == "done" and list(saved["fractions"]) == ["0.5", "1.0"]
    half, full = saved["fractions"]["0.5"], saved["fractions"]["1.0"]
    assert list(half["students"]) == ["baseline", "soft_target"]
    assert list(full["students"]) == ["baseline", "soft_target", "smoothing"]
    distilled = half["students"]["soft_target"]
    assert distilled["accuracy"] == {"mean": 75.0, "std": 0.0, "runs": [75.0, 75.0]}
    assert distilled["gain_vs_baseline"]["mean"] == 37.5 and len(distilled["gain_vs_baseline"]["ci95"]) == 2
    assert [key for key in distilled if key.startswith("gain_vs_")] == ["gain_vs_baseline"] and half["seeds"] == [0, 1] and full["seeds"] == [0, 1, 2]
    assert half["teachers"]["fused"]["accuracy"]["mean"] == 75.0 and full["teachers"]["fused"]["accuracy"]["mean"] == 80
    chosen = saved["chosen_on_validation"]["1.0"]
    assert chosen == {"teachers": None, "head": None, "epochs": 24, "distilled": None, "cells": {}, "settings": []}
    assert set(saved["figures"]) == {"scarce_curve.png", "scarce_class_pairs.png"}
    assert (results / "scarce_curve.csv").read_text().splitlines()[1:3] == ["0.5,baseline,0,25.0", "0.5,baseline,1,50.0"]
    assert (results / "scarce_f0.5.json").exists() and (results / "scarce_f1.0_accuracy.png").exists()
    table = (results / "scarce.md").read_text()
    assert table.startswith("Fractions from the record. Test accuracy in %")
    assert "| arm | f = 0.5 | f = 1.0 |" in table and "| smoothing | – | 33.33 ± 14.43 (" in table
    assert "| teachers (fused) | 75.00 | 80.00 |" in table and "`scarce_f0.5.md`" in table
    assert result["fractions"] == saved["fractions"]
    assert any(message.startswith("labelled fraction 0.5") for message in said)


def test_recorded_only_reports_the_fractions_the_record_holds_and_names_the_rest_pending(tmp_path):
    import pytest

    from pipeline.study.errors import RunsMissing, StudyError

    spec = recorded(tmp_path)
    work, results = tmp_path / "work", tmp_path / "results"
    record = json.loads((results / "scarce_runs.json").read_text())
    missing = next(key for key, run in record["finals"].items() if (run["arm"], run["seed"]) == ("smoothing", 2))
    del record["finals"][missing]
    (results / "scarce_runs.json").write_text(json.dumps(record))
    said = []
    result = FractionStudy(spec, workdir=work, results=results, command="c", say=said.append, executor=RecordOnly()).run()
    assert not work.exists()  # nothing cloned or trained
    saved = json.loads((results / "scarce.json").read_text())
    assert saved["status"] == "partial" and saved["pending_fractions"] == ["1.0"] and list(saved["fractions"]) == ["0.5"]
    assert saved["fractions"]["0.5"]["students"]["soft_target"]["accuracy"]["runs"] == [75.0, 75.0]
    assert result["fractions"] == saved["fractions"]
    assert (results / "scarce_curve.csv").read_text().splitlines()[-1].startswith("0.5,")
    assert "resumes them): f = 1.0." in (results / "scarce.md").read_text()
    assert "labelled fraction 1: runs are missing from the record; left out, pending" in said
    assert json.loads((results / "scarce_runs.json").read_text())["finals"].keys() == record["finals"].keys()
    # Without --recorded-only the study would train the missing run: here it has no data to.
    with pytest.raises(StudyError, match="is not there"):
        FractionStudy(spec, workdir=work, results=results, say=said.append).run()
    # No fraction complete: one error naming the record.
    record["finals"] = {key: run for key, run in record["finals"].items() if run["arm"] != "baseline"}
    (results / "scarce_runs.json").write_text(json.dumps(record))
    with pytest.raises(RunsMissing, match="no labelled fraction has all its runs in .*scarce_runs.json"):
        FractionStudy(spec, workdir=work, results=results, say=said.append, executor=RecordOnly()).run()


def test_pseudo_label_coverage_and_precision_per_arm_with_their_figure(tmp_path):
    quality = [{"count": 10, "coverage": 0.8, "precision": 0.9}, {"count": 10, "coverage": 0.6, "precision": 1.0},
               {"count": 10, "coverage": 0.7, "precision": 0.8}]
    spec = recorded(tmp_path, {"soft_target": quality})
    results = tmp_path / "results"
    FractionStudy(spec, workdir=tmp_path / "work", results=results, command="c", say=lambda m: None).run()
    saved = json.loads((results / "scarce.json").read_text())
    half = saved["fractions"]["0.5"]["students"]
    assert half["soft_target"]["pseudo_labels"] == {"coverage": {"mean": 70.0, "std": 14.14, "runs": [80.0, 60.0]},
                                                    "precision": {"mean": 95.0, "std": 7.07, "runs": [90.0, 100.0]}}
    assert "pseudo_labels" not in half["baseline"]
    assert saved["fractions"]["1.0"]["students"]["soft_target"]["pseudo_labels"]["precision"]["mean"] == 90.0
    table = (results / "scarce.md").read_text()
    assert "| f | arm | coverage | precision |" in table and "| 0.5 | soft_target | 70.0 ± 14.1 | 95.0 ± 7.1 |" in table
    assert "scarce_precision.png" in saved["figures"] and (results / "scarce_precision.png").exists()
