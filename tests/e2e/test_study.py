"""`python -m pipeline.study` end to end on a tiny UTD-MHAD tree: the schedule, a two-rung
search as queued DVC experiments, paired final runs with statistics and figures; a second
invocation that reruns nothing; and a third, with no work folder and no data, that rebuilds
the same results from the run record alone."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat

from tests.conftest import REPO


@pytest.fixture
def small_utd_tree(tmp_path):
    """UTD-MHAD's native layout: 3 actions x 2 subjects x 4 trials, inertial and depth."""
    rng = np.random.default_rng(0)
    root = tmp_path / "utd"
    for folder in ("Inertial", "Depth"):
        (root / folder).mkdir(parents=True)
    for action in (1, 2, 3):
        for subject in (1, 2):
            for trial in (1, 2, 3, 4):
                name = f"a{action}_s{subject}_t{trial}"
                time = np.linspace(0, 2 * np.pi, 100)[:, None]
                signal = np.sin(action * time + rng.normal(0, 0.1, (1, 6))) + rng.normal(0, 0.05, (100, 6))
                savemat(root / "Inertial" / f"{name}_inertial.mat", {"d_iner": signal})
                depth = np.zeros((240, 320, 6), dtype=np.uint16)
                depth[60:200, 100 + 20 * action: 140 + 20 * action] = 2500
                savemat(root / "Depth" / f"{name}_depth.mat", {"d_depth": depth})
    return root


SPEC = """\
preset: {preset}
data_root: {root}
split: subject_specific
params: [frames.per_video=4, frames.size=16, gaf.image_size=32, teacher.width_mult=0.125,
         teacher.spamfm_reduction=2, teacher.epochs=1, teacher.batch_size=4, student.batch_size=4,
         student.num_segments=2, student.weights=null, 'distill.layer_pairs=[[conv3, stage5]]']
seeds: [0, 1]
selection_seeds: [0]
schedule: [1]
search: {{short_epochs: 1}}
description: A tiny UTD-MHAD tree.
arms:
  baseline: {{stage: baseline}}
  sakdn:
    final: sakdn_best
    base: [distill.method=sakdn, gamma=1, temperature=4]
    grid: {{alpha: [0.1, 1], beta: [1]}}
    grid_name: a{{alpha}}-b{{beta}}
"""


@pytest.mark.slow
def test_study_searches_as_dvc_experiments_runs_paired_finals_and_reuses_its_record(small_utd_tree, tmp_path):
    from pipeline.study.__main__ import main
    from pipeline.study.project import cell_name

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(preset=REPO / "presets" / "utd_mhad_depth.yaml", root=small_utd_tree))
    results, work = tmp_path / "results", tmp_path / "work"
    argv = [str(spec), "--workdir", str(work), "--results", str(results)]
    result = main(argv)

    saved = json.loads((results / "tiny.json").read_text())
    search = saved["search"]
    assert search["schedule"]["epochs"] == 1 and set(search["rung1"]) == {"sakdn/a0.1-b1", "sakdn/a1-b1"}
    # the best third of each arm (at least one cell) goes on to the second rung
    best = max(search["rung1"], key=lambda cell: (search["rung1"][cell], cell == "sakdn/a0.1-b1"))
    assert set(search["rung2"]) == {f"sakdn/{search['chosen']['sakdn']['cell']}"}
    assert search["rung1"][f"sakdn/{search['chosen']['sakdn']['cell']}"] == search["rung1"][best]
    table = (results / search["experiments_table"]).read_text()
    assert "best_val_accuracy" in table and "r1-sakdn-a0p1-b1-e1-s0" in table
    students = saved["students"]
    assert saved["status"] == "done" and set(students) == {"baseline", "sakdn_best"}
    for arm, row in students.items():
        assert len(row["accuracy"]["runs"]) == 2 and 0 <= row["accuracy"]["mean"] <= 100
        if arm != "baseline":
            gain = row["gain_vs_baseline"]
            runs = [a - b for a, b in zip(row["accuracy"]["runs"], students["baseline"]["accuracy"]["runs"])]
            assert gain["mean"] == round(sum(runs) / 2, 2) and len(gain["ci95"]) == 2
            assert 0 <= gain["mcnemar"]["p_value"] <= 1 and "recorded" not in gain["mcnemar"]
    assert saved["chosen_on_validation"] == "sakdn_best"  # the one arm searched
    figures = {"tiny_accuracy.png", "tiny_validation.png", "tiny_grid.png", "tiny_gsdm_maps.png", "tiny_per_class.png"}
    assert figures <= set(saved["figures"]) and saved["figures_kept"] == []
    assert all((results / name).stat().st_size > 1000 for name in saved["figures"])
    accuracy = (results / "tiny_accuracy.csv").read_text().splitlines()
    assert accuracy[0] == "arm,seed,accuracy,f_measure,validation_accuracy" and len(accuracy) == 1 + 2 * 2
    assert (results / "tiny_validation.csv").read_text().startswith("arm,seed,epoch,val_accuracy")
    assert "| sakdn_best |" in (results / "tiny.md").read_text()

    # Seed 0 is the selection seed: the search trained baseline seed 0 (schedule) and sakdn_best
    # seed 0 (rung 2, here the same params as rung 1). The first is trained again and found
    # identical to the experiment's model; the second is then taken from the search and only evaluated.
    record = json.loads((results / "tiny_runs.json").read_text())
    check = saved["finals_from_search"]["check"]
    assert (check["arm"], check["seed"], check["experiment"], check["identical"]) == (
        "baseline", 0, "schedule-e1-s0", True)
    reused = next(run for run in record["finals"].values() if (run["arm"], run["seed"]) == ("sakdn_best", 0))
    chosen_cell = cell_name(f"sakdn-{search['chosen']['sakdn']['cell']}-e1-s0")
    assert reused["trained_in"] in (f"r1-{chosen_cell}", f"r2-{chosen_cell}")
    assert set(reused["seconds"]) == {"evaluate"} and saved["finals_from_search"]["runs"] == 1
    assert len(record["search"]) == 3  # the schedule, two cells; rung 2 repeats a rung-1 run's params
    assert len(record["finals"]) == 4 and all(len(run["predicted"]) == len(record["test_samples"]["label"])
                                              for run in record["finals"].values())
    log = work / "study.log"
    assert sum(line.startswith("$ -m stages.student") for line in log.read_text().splitlines()) == 3

    def work_done() -> list[str]:  # queued experiments and stages run by the final runs
        return [line for line in log.read_text().splitlines()
                if line.startswith("$ dvc exp run --queue") or line.startswith("$ -m stages.")]

    before = work_done()
    assert any(line.startswith("$ -m stages.evaluate") for line in before)
    again = main(argv)
    assert work_done() == before
    assert again["students"] == result["students"]

    # The record alone: no work folder, no data; nothing is cloned or trained, same numbers.
    elsewhere = tmp_path / "nowhere"
    alone = main([str(spec), "--workdir", str(elsewhere), "--results", str(results), "--root", str(tmp_path / "no")])
    assert not elsewhere.exists()
    assert alone["students"] == result["students"] and alone["search"] == result["search"]
    assert "tiny_gsdm_maps.png" in alone["figures_kept"]  # its models are in the other work folder
