"""A label-fraction study's figures, next to its results as ``<study>_<name>.png``:

- ``curve``: test accuracy against the labelled fraction (log scale), per arm, the mean over
  seeds with its 95 % t interval; the teachers' test accuracy dashed (data:
  ``<study>_curve.csv``, one row per run, for ``dvc plots show``);
- ``class_pairs``: per fraction (rows) and class pair of the spec's ``class_pairs`` (columns),
  each arm's test accuracy on the pair's two classes (mean over seeds): what separates
  classes the video alone confuses;
- ``precision``: each arm's gain over the reference against the precision of the
  pseudo-labels its students learnt from, per fraction (drawn when runs record them).

A figure whose data the record lacks (runs recorded without per-class accuracy) is not drawn
again: the file drawn before stays (``figures_kept``).
"""
from __future__ import annotations

import statistics
from pathlib import Path

from pipeline.study.figures import figure_saver, pyplot, write_csv
from pipeline.study.spec import Spec, fraction_label
from pipeline.study.statistics import interval_half_width

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
