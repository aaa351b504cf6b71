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

A label-fraction study's figures (``draw_fraction_figures``), next to its combined results:

- ``curve``: test accuracy against the labelled fraction (log scale), per arm, the mean over
  seeds with its 95 % t interval; the teachers' test accuracy dashed (data:
  ``<study>_curve.csv``, one row per run, for ``dvc plots show``);
- ``class_pairs``: per fraction (rows) and class pair of the spec's ``class_pairs`` (columns),
  each arm's test accuracy on the pair's two classes (mean over seeds): what separates
  classes the video alone confuses;
- ``precision``: each arm's gain over the reference against the precision of the
  pseudo-labels its students learnt from, per fraction (drawn when runs record them).

A figure whose data the record lacks (runs recorded before it kept validation curves and
per-class accuracy; final-run models no longer in the work folder) is not drawn again: the file
drawn when the runs were made stays, and the results list it under ``figures_kept``.
"""
from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Callable

from pipeline.study.spec import Spec, fraction_label
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


Runs = dict[float, dict[str, list[dict]]]


def curve_rows(spec: Spec, runs: Runs) -> list[dict]:
    return [{"fraction": fraction, "arm": arm, "seed": seed, "accuracy": run["accuracy"]}
            for fraction, arms in runs.items() for arm, arm_runs in arms.items()
            for seed, run in zip(spec.at_fraction(fraction).seeds, arm_runs)]


def draw_curve(plt, result: dict, runs: Runs, title: str):
    fractions = list(runs)
    arms = list(dict.fromkeys(arm for arms in runs.values() for arm in arms))
    figure, axis = plt.subplots(figsize=(8, 5.5))
    for index, arm in enumerate(arms):
        shift = 1.04 ** (index - (len(arms) - 1) / 2)  # side by side, not on top of each other
        points = [(f * shift, [r["accuracy"] for r in runs[f][arm]]) for f in fractions if runs[f].get(arm)]
        axis.errorbar([x for x, _ in points], [statistics.mean(v) for _, v in points],
                      yerr=[interval_half_width(v) for _, v in points], marker="o", capsize=3, label=arm)
    teachers = [(f, (result["fractions"][fraction_label(f)]["teachers"] or {}).get("fused")) for f in fractions]
    teachers = [(f, t["accuracy"]["mean"]) for f, t in teachers if t]
    if teachers:
        axis.plot(*zip(*teachers), linestyle="--", color="grey", marker="x", label="teachers (fused)")
    low, high = axis.get_ylim()
    axis.set_ylim(max(low, 0.0), min(high, 100.0))  # an interval past 0 or 100 % says nothing more
    axis.set_xscale("log")
    axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
    axis.minorticks_off()
    axis.set_xlabel("labelled fraction of the training recordings (log scale)")
    axis.set_ylabel("test accuracy (%): mean and 95 % interval over seeds")
    axis.set_title(title)
    axis.legend(fontsize=7)
    return figure


def pair_accuracy(arm_runs: list[dict], pair: tuple[str, str]) -> list[float] | None:
    """The mean over seeds of each class's test accuracy; None when a run lacks it."""
    if not arm_runs or not all(pair[0] in (r.get("per_class_accuracy") or {}) and
                               pair[1] in r["per_class_accuracy"] for r in arm_runs):
        return None
    return [statistics.mean(r["per_class_accuracy"][name] for r in arm_runs) for name in pair]


def draw_class_pairs(plt, spec: Spec, runs: Runs):
    """None when a run lacks the pairs' per-class accuracy."""
    fractions, pairs = list(runs), spec.class_pairs
    values = {(f, arm, pair): pair_accuracy(arm_runs, pair)
              for f in fractions for arm, arm_runs in runs[f].items() for pair in pairs}
    if not values or any(v is None for v in values.values()):
        return None
    width = max(len(arms) for arms in runs.values())
    figure, axes = plt.subplots(len(fractions), len(pairs), squeeze=False,
                                figsize=(max(4.0, 0.55 * width + 1.5) * len(pairs), 3.2 * len(fractions)))
    for row, fraction in enumerate(fractions):
        arms = list(runs[fraction])
        for column, pair in enumerate(pairs):
            axis = axes[row][column]
            for side, name in enumerate(pair):
                axis.bar([i + (side - 0.5) * 0.4 for i in range(len(arms))],
                         [values[(fraction, arm, pair)][side] for arm in arms], width=0.4, label=name)
            axis.set_xticks(range(len(arms)), arms, rotation=45, ha="right", fontsize=7)
            axis.set_ylim(0, 125)  # the top band holds the legend, clear of the bars
            axis.set_yticks(range(0, 101, 20))
            axis.set_title(f"f = {fraction:g}", fontsize=8)
            if column == 0:
                axis.set_ylabel("test accuracy (%), mean over seeds", fontsize=7)
            axis.legend(fontsize=6, loc="upper center", ncol=2, frameon=False)
    return figure


def precision_points(result: dict) -> list[tuple[str, str, float, dict]]:
    """(fraction, arm, pseudo-label precision %, gain over the reference) of every arm whose
    runs record their pseudo-labels' precision and that has a gain."""
    reference = result["reference"]
    points = []
    for label, fraction in result["fractions"].items():
        for arm, row in fraction["students"].items():
            precision = (row.get("pseudo_labels") or {}).get("precision")
            gain = row.get(f"gain_vs_{reference}")
            if precision and gain and gain.get("ci95"):
                points.append((label, arm, precision["mean"], gain))
    return points


def draw_precision(plt, result: dict, title: str):
    """Each arm's mean gain over the reference (95 % interval) against the precision of the
    pseudo-labels its students learnt from; None when no run records them."""
    points = precision_points(result)
    if not points:
        return None
    figure, axis = plt.subplots(figsize=(7, 5))
    for index, arm in enumerate(dict.fromkeys(arm for _, arm, _, _ in points)):
        mine = [(label, x, gain) for label, name, x, gain in points if name == arm]
        axis.errorbar([x for _, x, _ in mine], [g["mean"] for _, _, g in mine],
                      yerr=[[g["mean"] - g["ci95"][0] for _, _, g in mine], [g["ci95"][1] - g["mean"] for _, _, g in mine]],
                      marker="o", linestyle="none", capsize=3, label=arm, color=f"C{index}")
        for label, x, gain in mine:
            axis.annotate(f"f = {label}", (x, gain["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_xlabel("precision of the pseudo-labels on the unlabeled training recordings (%)")
    axis.set_ylabel(f"test accuracy gain over the {result['reference']} (points, 95 % interval)")
    axis.set_title(title)
    axis.legend(fontsize=7)
    return figure


def draw_fraction_figures(spec: Spec, result: dict, runs: Runs, folder: Path) -> dict[str, list[str]]:
    """{"figures": drawn now, "figures_kept": drawn before and kept, "plots_data": CSV files}."""
    plt = pyplot()
    drawn, kept, data = [], [], []

    save = figure_saver(plt, folder, spec.name, drawn, kept)

    rows = curve_rows(spec, runs)
    if rows:
        write_csv(folder / f"{spec.name}_curve.csv", rows)
        data.append(f"{spec.name}_curve.csv")
        save("curve", draw_curve(plt, result, runs, spec.title or f"{spec.name}: test accuracy per labelled fraction"))
    if rows:
        save("precision", draw_precision(plt, result, f"{spec.name}: gain against pseudo-label precision"))
    if spec.class_pairs:
        save("class_pairs", draw_class_pairs(plt, spec, runs) if rows else None)
    return {"figures": drawn, "figures_kept": kept, "plots_data": data}
