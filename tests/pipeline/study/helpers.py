"""Recorded studies and runs shared by the study engine's tests: no training, no data."""
from __future__ import annotations

from pipeline.study.finals import final_arms, final_key
from pipeline.study.record import Record
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


def scored_run(correct: list[int], key: str = "k") -> dict:
    """A recorded final run of 4 test samples (label 0), right where ``correct`` is 1."""
    return {"key": key, "accuracy": 100 * sum(correct) / 4, "f_measure": 0.0, "validation_accuracy": 0.0,
            "best_epoch": 1, "seconds": {}, "per_sample": {"sample_id": ["a", "b", "c", "d"], "label": [0, 0, 0, 0],
                                                           "predicted": [0 if c else 1 for c in correct]}}
