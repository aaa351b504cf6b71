"""The study's figures, written next to its results as ``<study>_<name>.png``.

Where the data is per run, it is also written as CSV for ``dvc plots show``:

- ``accuracy``: test accuracy per arm, mean over seeds with its 95 % t interval, each seed's
  run a dot, the reference's mean a line (data: ``<study>_accuracy.csv``, one row per run);
- ``validation``: validation accuracy per epoch, mean over seeds, per arm (data:
  ``<study>_validation.csv``, one row per run and epoch);
- ``per_class``: per-class test accuracy (mean over seeds), the reference against the arm
  chosen on validation, classes sorted by the gain;
- ``grid``: rung 1 of a searched arm's grid (its first two keys as axes, a panel per value of
  the third), validation accuracy;
- ``gsdm_maps``: GSDM maps as in the paper's Fig. 6 (``pipeline.study.gsdm_maps``).

A figure whose data the record lacks (runs recorded before it kept validation curves and
per-class accuracy; final-run models no longer in the work folder) is not drawn again: the file
drawn when the runs were made stays, and the results list it under ``figures_kept``.
"""
from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Callable

from pipeline.study.spec import Spec
from pipeline.study.statistics import interval_half_width


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def accuracy_rows(runs: dict[str, list[dict]], seeds: list[int]) -> list[dict]:
    return [{"arm": arm, "seed": seed, "accuracy": run["accuracy"], "f_measure": run["f_measure"],
             "validation_accuracy": run["validation_accuracy"]}
            for arm, arm_runs in runs.items() for seed, run in zip(seeds, arm_runs)]


def validation_rows(runs: dict[str, list[dict]], seeds: list[int]) -> list[dict]:
    return [{"arm": arm, "seed": seed, "epoch": epoch, "val_accuracy": value}
            for arm, arm_runs in runs.items() for seed, run in zip(seeds, arm_runs)
            for epoch, value in enumerate(run.get("validation_curve") or [], start=1)]


def draw_accuracy(plt, runs: dict[str, list[dict]], reference: str, title: str):
    arms = list(runs)
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(arms) + 1.5))
    for row, arm in enumerate(arms):
        values = [run["accuracy"] for run in runs[arm]]
        axis.errorbar(statistics.mean(values), row, xerr=interval_half_width(values), fmt="o", color="black",
                      capsize=4)
        axis.scatter(values, [row] * len(values), color="tab:blue", alpha=0.4, s=14)
    if reference in runs:
        axis.axvline(statistics.mean(run["accuracy"] for run in runs[reference]), color="tab:red", linestyle="--",
                     label=f"{reference} mean")
        axis.legend(loc="lower right")
    axis.set_yticks(range(len(arms)), arms)
    axis.invert_yaxis()
    axis.set_xlabel("test accuracy (%): mean and 95 % interval over seeds; dots = seeds")
    axis.set_title(title)
    return figure


def draw_per_class(plt, runs: dict[str, list[dict]], reference: str, chosen: str):
    classes = list(runs[reference][0]["per_class_accuracy"])

    def mean_per_class(arm):
        return {c: statistics.mean(run["per_class_accuracy"][c] for run in runs[arm]) for c in classes}

    base, best = mean_per_class(reference), mean_per_class(chosen)
    order = sorted(classes, key=lambda c: best[c] - base[c])
    figure, axis = plt.subplots(figsize=(8, 0.28 * len(classes) + 1.5))
    rows = range(len(order))
    axis.barh([r - 0.2 for r in rows], [base[c] for c in order], height=0.4, label=reference)
    axis.barh([r + 0.2 for r in rows], [best[c] for c in order], height=0.4, label=chosen)
    axis.set_yticks(list(rows), order, fontsize=7)
    axis.set_xlabel("test accuracy (%), mean over seeds; classes sorted by the gain")
    axis.legend(loc="lower right")
    return figure


def draw_validation(plt, runs: dict[str, list[dict]]):
    figure, axis = plt.subplots(figsize=(8, 5))
    for arm, arm_runs in runs.items():
        curves = [run["validation_curve"] for run in arm_runs]
        length = min(len(c) for c in curves)
        axis.plot(range(1, length + 1), [statistics.mean(c[i] for c in curves) for i in range(length)], label=arm)
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation accuracy (%), mean over seeds")
    axis.legend(fontsize=7)
    return figure


def grid_values(spec: Spec, rung1: dict[str, float]) -> tuple[str, dict[tuple, float], dict[str, list]] | None:
    """The first searched arm with a grid of two or three keys: its name, {grid point: rung-1
    validation} and its grid."""
    for arm in spec.searched_arms.values():
        if 2 <= len(arm.grid) <= 3:
            values = {point: rung1[f"{arm.name}/{cell}"] for cell, point in arm.grid_points.items()
                      if f"{arm.name}/{cell}" in rung1}
            if values:
                return arm.name, values, arm.grid
    return None


def draw_grid(plt, arm: str, values: dict[tuple, float], grid: dict[str, list], short_epochs):
    keys = list(grid)
    if len(keys) == 2:
        values, keys, grid = {(*k, None): v for k, v in values.items()}, [*keys, None], {**grid, None: [None]}
    rows, columns, panels = (grid[key] for key in keys)
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        cells = [[values.get((r, c, panel), float("nan")) for c in columns] for r in rows]
        image = axis.imshow(cells, cmap="viridis")
        for i, row in enumerate(cells):
            for j, value in enumerate(row):
                axis.text(j, i, f"{value:.1f}", ha="center", va="center", color="white", fontsize=9)
        axis.set_xticks(range(len(columns)), [f"{c}" for c in columns])
        axis.set_yticks(range(len(rows)), [f"{r}" for r in rows])
        axis.set_xlabel(keys[1])
        axis.set_ylabel(keys[0])
        if keys[2] is not None:
            axis.set_title(f"{keys[2]} {panel}")
        figure.colorbar(image, ax=axis, fraction=0.046)
    figure.suptitle(f"{arm}: validation accuracy (%), first rung ({short_epochs} epochs, one seed)")
    return figure


def draw_figures(spec: Spec, result: dict, runs: dict[str, list[dict]], folder: Path,
                 gsdm: Callable[[Path], str | None] | None = None) -> dict[str, list[str]]:
    """Draw what the runs hold; {"figures": drawn now, "figures_kept": drawn before, kept,
    "plots_data": CSV files}. ``gsdm(path)`` draws the GSDM maps when it can (None if not)."""
    plt = pyplot()
    folder, stem = Path(folder), spec.name
    drawn, kept, data = [], [], []
    reference, chosen = spec.arms[spec.reference].final, result.get("chosen_on_validation")

    save = figure_saver(plt, folder, stem, drawn, kept)

    if runs:
        write_csv(folder / f"{stem}_accuracy.csv", accuracy_rows(runs, spec.seeds))
        data.append(f"{stem}_accuracy.csv")
        save("accuracy", draw_accuracy(plt, runs, reference, spec.title or f"{stem}: test accuracy per arm"))
    every = [run for arm_runs in runs.values() for run in arm_runs]
    has_classes = bool(every) and all(run.get("per_class_accuracy") for run in every)
    pair = reference in runs and chosen in runs and chosen != reference
    save("per_class", draw_per_class(plt, runs, reference, chosen) if has_classes and pair else None)
    if every and all(run.get("validation_curve") for run in every):
        write_csv(folder / f"{stem}_validation.csv", validation_rows(runs, spec.seeds))
        data.append(f"{stem}_validation.csv")
        save("validation", draw_validation(plt, runs))
    else:
        save("validation", None)
    found = grid_values(spec, result.get("search", {}).get("rung1", {}))
    save("grid", draw_grid(plt, *found, result["search"]["schedule"]["short_epochs"]) if found else None)
    path = folder / f"{stem}_gsdm_maps.png"
    if gsdm is not None and gsdm(path):
        drawn.append(path.name)
    elif path.exists():
        kept.append(path.name)
    return {"figures": drawn, "figures_kept": kept, "plots_data": data}


def figure_saver(plt, folder: Path, stem: str, drawn: list[str], kept: list[str]):
    """``save(name, figure)``: write ``<stem>_<name>.png`` and list it in ``drawn``; a None
    figure (nothing to draw now) keeps an earlier file, listed in ``kept``."""
    def save(name: str, figure) -> None:
        path = folder / f"{stem}_{name}.png"
        if figure is None:
            if path.exists():
                kept.append(path.name)
            return
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        drawn.append(path.name)

    return save
