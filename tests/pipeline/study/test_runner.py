"""pipeline/study/runner.py: a study whose runs are all in its record reruns without its data,
a work folder or any training, and writes its results from the record; a missing run without
the data is one error."""
from __future__ import annotations

import json

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.finals import final_arms, final_key
from pipeline.study.record import Record
from pipeline.study.runner import Study
from pipeline.study.search import rung1_runs, rung2_runs, schedule_runs
from pipeline.study.spec import load_spec

SPEC = """\
preset: presets/utd_mhad_depth.yaml
data_root: {root}
split: subject_specific
seeds: [0, 1]
selection_seeds: [0]
schedule: [2, 4]
search: {{short_epochs: 1}}
controls: [shuffled]
target_gain: 3
description: A study from its record.
arms:
  baseline: {{stage: baseline}}
  sakdn:
    final: sakdn_best
    base: [distill.method=sakdn]
    grid: {{alpha: [0.1, 1], beta: [1, 10]}}
    grid_name: a{{alpha}}-b{{beta}}
"""
SAMPLES = ["a", "b", "c", "d"]
# test predictions per final arm and seed: 1 = right (every label is 0)
CORRECT = {"baseline": [[1, 0, 0, 0], [1, 1, 0, 0]], "sakdn_best": [[1, 1, 1, 0], [1, 1, 1, 0]],
           "sakdn_best_shuffled": [[1, 1, 0, 0], [1, 0, 0, 0]]}


def recorded_study(tmp_path, text=SPEC):
    """A spec and a record holding every run it needs (validation: a1-b1 is the best cell)."""
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(text.format(root=tmp_path / "no_data"))
    spec = load_spec(spec_path)
    base = spec.base_params()
    record = Record(tmp_path / "results" / "tiny_runs.json", "tiny")
    machine = record.machine_id({"cpu": "c", "cores": 2, "gpu": None})
    common = {"commit": "a" * 40, "machine": machine}
    for (epochs, seed), run in schedule_runs(spec, base).items():
        record.add_search(run.key, {"name": run.name, "validation_accuracy": 50.0 + epochs, **common})
    for (arm, cell), run in rung1_runs(spec, base).items():
        record.add_search(run.key, {"name": run.name, "validation_accuracy": 80.0 if cell == "a1-b1" else 60.0,
                                    **common})
    # four cells: the best two go on (a tie keeps the spec's order)
    for ((arm, cell), seed), run in rung2_runs(spec, base, [("sakdn", "a1-b1"), ("sakdn", "a0.1-b1")], 4).items():
        record.add_search(run.key, {"name": run.name, "validation_accuracy": 85.0 if cell == "a1-b1" else 84.0,
                                    **common})
    search = {"chosen": {"sakdn": {"cell": "a1-b1", "overrides": spec.arms["sakdn"].cells["a1-b1"]}},
              "chosen_on_validation": "sakdn"}
    for name, arm in final_arms(spec, search).items():
        for seed, right in zip(spec.seeds, CORRECT[name]):
            record.add_final(final_key(spec, base, arm, seed, 4), {
                "arm": name, "seed": seed, "accuracy": 25.0 * sum(right), "f_measure": 20.0 * sum(right),
                "validation_accuracy": 70.0, "best_epoch": 4, "per_class_accuracy": {"wave": 25.0 * sum(right)},
                "validation_curve": [60.0, 65.0, 70.0, 68.0], "seconds": {arm.stage: 10.0, "evaluate": 1.0},
                "trained_in": None, **common},
                {"sample_id": SAMPLES, "label": [0] * 4, "predicted": [0 if r else 1 for r in right]})
    return spec


def test_a_recorded_study_reruns_from_its_record_alone(tmp_path):
    spec = recorded_study(tmp_path)
    said = []
    work = tmp_path / "work"
    result = Study(spec, workdir=work, results=tmp_path / "results", command="c", say=said.append).run()
    assert not work.exists()  # no project, no workspace: nothing trained
    assert result["search"]["schedule"]["epochs"] == 4 and result["search"]["rung1"]["sakdn/a1-b1"] == 80.0
    assert result["search"]["chosen"]["sakdn"]["cell"] == "a1-b1" and result["chosen_on_validation"] == "sakdn_best"
    assert list(result["students"]) == ["baseline", "sakdn_best", "sakdn_best_shuffled"]
    best = result["students"]["sakdn_best"]
    # per seed: 75 - 25 = +50, 75 - 50 = +25; against the shuffled control +25, +50
    assert best["gain_vs_baseline"]["differences"] == [50.0, 25.0] and best["gain_vs_baseline"]["mean"] == 37.5
    assert best["gain_vs_sakdn_best_shuffled"]["mean"] == 37.5
    # pooled: sakdn_best right where the baseline is wrong on 3 recordings, never the reverse
    assert best["gain_vs_baseline"]["mcnemar"] == {"only_arm": 3, "only_reference": 0, "p_value": 0.25}
    assert "gain_vs_sakdn_best_shuffled" not in result["students"]["baseline"]
    assert result["controls"] == ["sakdn_best_shuffled"] and result["code_commits"] == ["a" * 40]
    assert result["verdict"].startswith("Target (>= 3 points over the baseline, 95 % interval above 0 and above its "
                                        "control): not met")
    assert result["seconds"] == {"median_final_run": 11.0, "finals_total": 66.0}
    assert set(result["figures"]) == {"tiny_accuracy.png", "tiny_per_class.png", "tiny_validation.png",
                                      "tiny_grid.png"} and result["figures_kept"] == []
    assert result["plots_data"] == ["tiny_accuracy.csv", "tiny_validation.csv"]
    saved = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert saved["students"] == result["students"] and saved["status"] == "done"
    table = (tmp_path / "results" / "tiny.md").read_text()
    assert table.startswith("A study from its record. Test accuracy")
    assert "| sakdn_best | validation: sakdn/a1-b1 |" in table
    assert "sakdn_best against its controls" in table and "Schedule: 4 epochs (chosen for the baseline" in table
    assert any("run record" in message for message in said)


def test_an_arm_the_spec_compares_with_another_gets_their_paired_difference(tmp_path):
    # the reference is compared with every arm already: naming it again adds nothing
    text = SPEC.replace("baseline: {{stage: baseline}}", "baseline: {{stage: baseline, compare_with: [sakdn]}}")
    text = text.replace("    final: sakdn_best\n", "    final: sakdn_best\n    compare_with: [baseline]\n")
    spec = recorded_study(tmp_path, text)
    result = Study(spec, workdir=tmp_path / "work", results=tmp_path / "results", command="c", say=print).run()
    assert result["compared"] == {"baseline": ["sakdn_best"]}
    assert result["students"]["baseline"]["gain_vs_sakdn_best"]["differences"] == [-50.0, -25.0]
    assert "baseline against the arms the spec compares it with (paired difference, 95 % CI): sakdn_best: -37.50 [" in (
        tmp_path / "results" / "tiny.md").read_text()


def test_a_missing_run_without_the_data_is_one_error_and_makes_nothing(tmp_path):
    spec = recorded_study(tmp_path)
    path = tmp_path / "results" / "tiny_runs.json"
    record = json.loads(path.read_text())
    record["finals"].popitem()
    path.write_text(json.dumps(record))
    work = tmp_path / "work"
    with pytest.raises(StudyError, match="runs are missing from .*tiny_runs.json and the dataset folder .*no_data"):
        Study(spec, workdir=work, results=tmp_path / "results").run()
    assert not work.exists()
