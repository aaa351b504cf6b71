"""`python -m pipeline.study` with a labelled fraction, end to end through DVC on a tiny UTD-MHAD
tree: the schedule and a one-cell search as DVC experiments, the paired finals with a
self-training control labelled by the same seed's baseline and SAKDN's GSDM maps; a second
invocation that trains nothing and a third, with no work folder and no data, that rebuilds the
same results from the record. One fraction: each fraction is its own DVC project, and several
fractions put together, the teachers' and the head's choices are tested on recorded runs and
fake projects (tests/pipeline/study/test_fractions.py, test_search.py), where they cost no training."""
from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import REPO
from tests.fake_datasets import write_utd_mhad

PAIR = ["right arm swipe to the left", "right arm swipe to the right"]
SPEC = """\
preset: {preset}
data_root: {root}
split: subject_specific
params: [frames.per_video=4, frames.size=16, gaf.image_size=32, teacher.width_mult=0.125,
         teacher.spamfm_reduction=2, teacher.epochs=1, teacher.batch_size=4, student.batch_size=4,
         student.num_segments=2, student.weights=null, 'distill.layer_pairs=[[conv3, stage5]]']
selection_seeds: [0]
schedule: [1]
search: {{short_epochs: 1}}
fractions:
  0.5: {{seeds: [0, 1]}}
class_pairs: [[{pair}]]
description: A tiny UTD-MHAD tree with half of its labels.
arms:
  baseline: {{stage: baseline}}
  soft_target: {{cells: {{t4: [distill.method=soft_target]}}}}
  self_training:
    cell_of: soft_target
    overrides: [distill.targets=baseline]
  sakdn: {{overrides: [distill.method=sakdn, gamma=1, temperature=4]}}
"""


@pytest.fixture
def small_utd_tree(tmp_path):
    """UTD-MHAD's native layout: 3 actions x 2 subjects x 4 trials, inertial and depth."""
    return write_utd_mhad(tmp_path / "utd")


@pytest.mark.slow
def test_a_fraction_study_chooses_on_validation_pairs_self_training_with_its_baseline_and_reruns_nothing(
        small_utd_tree, tmp_path):
    from pipeline.study.__main__ import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(preset=REPO / "presets" / "utd_mhad_depth.yaml", root=small_utd_tree,
                                pair=", ".join(PAIR)))
    results, work = tmp_path / "results", tmp_path / "work"
    argv = [str(spec), "--workdir", str(work), "--results", str(results)]
    result = main(argv)

    saved = json.loads((results / "tiny.json").read_text())
    assert saved["status"] == "done" and list(saved["fractions"]) == ["0.5"]
    half = saved["fractions"]["0.5"]
    assert list(half["students"]) == ["baseline", "soft_target", "self_training", "sakdn"]
    distilled = half["students"]["soft_target"]
    assert len(distilled["accuracy"]["runs"]) == 2 and {"mean", "std", "runs"} <= set(distilled["accuracy"])
    assert {"mean", "ci95", "mcnemar"} <= set(distilled["gain_vs_baseline"])
    assert {key for key in distilled if key.startswith("gain_vs_")} == {"gain_vs_baseline", "gain_vs_self_training"}
    assert len(distilled["gain_vs_self_training"]["ci95"]) == 2
    assert 0 <= half["teachers"]["fused"]["accuracy"]["mean"] <= 100
    chosen = saved["chosen_on_validation"]["0.5"]
    assert chosen["head"] is None and chosen["teachers"] is None
    assert chosen["epochs"] == 1 and chosen["distilled"] == {"arm": "soft_target", "cell": "t4"}
    # self-training's students learnt from the baseline's labels of the unlabeled recordings: scored after training
    quality = half["students"]["self_training"]["pseudo_labels"]
    assert quality["coverage"]["mean"] == 100.0 and 0 <= quality["precision"]["mean"] <= 100
    assert "pseudo_labels" not in half["students"]["soft_target"]  # soft targets are no pseudo-labels
    assert set(saved["figures"]) == {"tiny_curve.png", "tiny_class_pairs.png", "tiny_precision.png"}
    assert all((results / name).stat().st_size > 1000 for name in saved["figures"])
    assert (results / "tiny_curve.csv").read_text().splitlines()[0] == "fraction,arm,seed,accuracy"
    table = (results / "tiny.md").read_text()
    assert "| self_training |" in table and "| teachers (fused) |" in table and "| 0.5 | soft_target | self_training |" in table
    assert (results / "tiny_f0.5.md").exists()
    assert "tiny_f0.5_gsdm_maps.png" in json.loads((results / "tiny_f0.5.json").read_text())["figures"]
    search = json.loads((results / "tiny_f0.5.json").read_text())["search"]
    table = (results / search["experiments_table"]).read_text()
    assert "schedule-e1-s0" in table and "baseline.best_val_accuracy" in table

    # Self-training read the frozen baseline of its own seed: the baseline's final run, linked.
    record = json.loads((results / "tiny_runs.json").read_text())
    for seed in (0, 1):
        folder = work / "f0.5" / "finals" / f"self_training-seed{seed}"
        student = torch.load(folder / "models/subject_specific/student.pt", map_location="cpu", weights_only=False)
        assert student["targets"] == "baseline" and student["training_clips"]["unlabeled"] > 0
        labeller = (folder / "models/subject_specific/baseline.pt").resolve()
        assert labeller == (work / "f0.5" / "finals" / f"baseline-seed{seed}" / "models/subject_specific/baseline.pt")
        assert torch.load(labeller, map_location="cpu", weights_only=False)["training_clips"]["unlabeled"] == 0
        entry = next(run for run in record["finals"].values() if (run["arm"], run["seed"]) == ("self_training", seed))
        baseline = record["finals"][entry["labeller"]["key"]]
        assert (baseline["arm"], baseline["seed"]) == ("baseline", seed) and "linked" in entry["labeller"]["model"]
        assert baseline["accuracy"] == half["students"]["baseline"]["accuracy"]["runs"][seed]

    def work_done() -> list[str]:  # queued experiments and stages run by the final runs
        return [line for line in (work / "f0.5" / "study.log").read_text().splitlines()
                if line.startswith("$ dvc exp run --queue") or line.startswith("$ -m stages.")]

    before = work_done()
    again = main(argv)
    assert work_done() == before
    assert again["fractions"] == result["fractions"]

    # The record alone: no work folder, no data; nothing is cloned or trained, same numbers.
    elsewhere = tmp_path / "nowhere"
    alone = main([str(spec), "--workdir", str(elsewhere), "--results", str(results), "--root", str(tmp_path / "no")])
    assert not elsewhere.exists()
    assert alone["fractions"] == result["fractions"]
    assert alone["chosen_on_validation"] == result["chosen_on_validation"]
