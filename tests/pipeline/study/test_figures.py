"""pipeline/study/figures.py: figures and per-run CSV data from the runs, and figures whose
data the record lacks kept as they were."""
from __future__ import annotations

import csv

from pipeline.study.figures import draw_figures, grid_values
from pipeline.study.spec import load_spec

SPEC = """\
preset: presets/utd_mhad_depth.yaml
split: subject_specific
seeds: [0, 1]
search: {short_epochs: 3}
arms:
  baseline: {stage: baseline}
  sakdn:
    grid: {alpha: [0.1, 1], beta: [1, 10], gamma: [0.1]}
    grid_name: a{alpha}-b{beta}-g{gamma}
    cells: {t-auto: [temperature=auto]}
"""


def runs_of(curves: bool = True):
    def one(accuracy):
        return {"accuracy": accuracy, "f_measure": accuracy - 1, "validation_accuracy": 50.0,
                **({"validation_curve": [40.0, 50.0], "per_class_accuracy": {"wave": accuracy, "clap": 10.0}}
                   if curves else {})}
    return {"baseline": [one(60.0), one(62.0)], "sakdn": [one(70.0), one(64.0)]}


def study(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    spec = load_spec(path)
    rung1 = {"sakdn/a0.1-b1-g0.1": 50.0, "sakdn/a0.1-b10-g0.1": 40.0, "sakdn/a1-b1-g0.1": 55.0,
             "sakdn/a1-b10-g0.1": 41.0, "sakdn/t-auto": 45.0}
    return spec, {"chosen_on_validation": "sakdn", "search": {"rung1": rung1, "schedule": {"short_epochs": 3}}}


def test_the_grid_figure_reads_the_grid_cells_of_rung_one(tmp_path):
    spec, result = study(tmp_path)
    arm, values, grid = grid_values(spec, result["search"]["rung1"])
    assert arm == "sakdn" and grid == {"alpha": [0.1, 1], "beta": [1, 10], "gamma": [0.1]}
    assert values == {(0.1, 1, 0.1): 50.0, (0.1, 10, 0.1): 40.0, (1, 1, 0.1): 55.0, (1, 10, 0.1): 41.0}


def test_figures_and_their_per_run_data_are_written(tmp_path):
    spec, result = study(tmp_path)
    drew = []
    made = draw_figures(spec, result, runs_of(), tmp_path, gsdm=lambda path: drew.append(path) or None)
    assert made["figures"] == ["s_accuracy.png", "s_per_class.png", "s_validation.png", "s_grid.png"]
    assert made["figures_kept"] == [] and made["plots_data"] == ["s_accuracy.csv", "s_validation.csv"]
    assert drew == [tmp_path / "s_gsdm_maps.png"]  # asked, could not draw, nothing there before
    assert all((tmp_path / name).stat().st_size > 1000 for name in made["figures"])
    with open(tmp_path / "s_accuracy.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["arm"], r["seed"], float(r["accuracy"])) for r in rows] == [
        ("baseline", "0", 60.0), ("baseline", "1", 62.0), ("sakdn", "0", 70.0), ("sakdn", "1", 64.0)]
    with open(tmp_path / "s_validation.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 2 and rows[1] == {"arm": "baseline", "seed": "0", "epoch": "2", "val_accuracy": "50.0"}


def test_figures_whose_data_the_record_lacks_are_kept_as_they_were(tmp_path):
    spec, result = study(tmp_path)
    for name in ("per_class", "validation", "gsdm_maps"):
        (tmp_path / f"s_{name}.png").write_bytes(b"drawn when the runs were made")
    made = draw_figures(spec, result, runs_of(curves=False), tmp_path)
    assert made["figures"] == ["s_accuracy.png", "s_grid.png"]
    assert made["figures_kept"] == ["s_per_class.png", "s_validation.png", "s_gsdm_maps.png"]
    assert (tmp_path / "s_validation.png").read_bytes() == b"drawn when the runs were made"
    assert made["plots_data"] == ["s_accuracy.csv"] and not (tmp_path / "s_validation.csv").exists()
