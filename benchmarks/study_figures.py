"""The UTD-MHAD study's figures (PNG, written next to its results JSON).

- ``<stem>_accuracy.png``: test accuracy per arm, mean over seeds with its 95 % t interval,
  each seed's run as a dot, the baseline's mean as a line;
- ``<stem>_per_class.png``: per-class test accuracy (mean over seeds), the baseline against
  the arm chosen on validation, classes sorted by the gain;
- ``<stem>_validation.png``: validation accuracy per epoch, mean over seeds, per arm;
- ``<stem>_grid.png``: the search's first rung over the Table IX grid (alpha x beta, one
  panel per gamma), validation accuracy.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path


def _interval(values: list[float]) -> float:
    from scipy.stats import t

    if len(values) < 2:
        return 0.0
    return t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def draw_figures(result: dict, runs: dict[str, list[dict]], folder: Path, stem: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(figure, name: str) -> None:
        path = Path(folder) / f"{stem}_{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path.name)

    arms = list(runs)
    # Accuracy per arm with 95 % intervals.
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(arms) + 1.5))
    for row, arm in enumerate(arms):
        values = [run["accuracy"] for run in runs[arm]]
        axis.errorbar(statistics.mean(values), row, xerr=_interval(values), fmt="o", color="black", capsize=4)
        axis.scatter(values, [row] * len(values), color="tab:blue", alpha=0.4, s=14)
    if "baseline" in runs:
        axis.axvline(statistics.mean(run["accuracy"] for run in runs["baseline"]), color="tab:red", linestyle="--",
                     label="baseline mean")
        axis.legend(loc="lower right")
    axis.set_yticks(range(len(arms)), arms)
    axis.invert_yaxis()
    axis.set_xlabel("test accuracy (%): mean and 95 % interval over seeds; dots = seeds")
    axis.set_title(f"UTD-MHAD {result['split']}: depth-video students")
    save(figure, "accuracy")

    # Per-class accuracy, baseline vs the arm chosen on validation.
    chosen = result["chosen_on_validation"]
    if "baseline" in runs and chosen in runs:
        classes = list(runs["baseline"][0]["per_class_accuracy"])
        def mean_per_class(arm):
            return {c: statistics.mean(run["per_class_accuracy"][c] for run in runs[arm]) for c in classes}
        base, best = mean_per_class("baseline"), mean_per_class(chosen)
        order = sorted(classes, key=lambda c: best[c] - base[c])
        figure, axis = plt.subplots(figsize=(8, 0.28 * len(classes) + 1.5))
        rows = range(len(order))
        axis.barh([r - 0.2 for r in rows], [base[c] for c in order], height=0.4, label="baseline")
        axis.barh([r + 0.2 for r in rows], [best[c] for c in order], height=0.4, label=chosen)
        axis.set_yticks(list(rows), order, fontsize=7)
        axis.set_xlabel("test accuracy (%), mean over seeds; classes sorted by the gain")
        axis.legend(loc="lower right")
        save(figure, "per_class")

    # Validation curves.
    figure, axis = plt.subplots(figsize=(8, 5))
    for arm in arms:
        curves = [run["validation_curve"] for run in runs[arm]]
        length = min(len(c) for c in curves)
        axis.plot(range(1, length + 1), [statistics.mean(c[i] for c in curves) for i in range(length)], label=arm)
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation accuracy (%), mean over seeds")
    axis.legend(fontsize=7)
    save(figure, "validation")

    # The Table IX grid of the search's first rung.
    rung1 = {key.split("/", 1)[1]: value for key, value in result["search"]["rung1"].items() if key.startswith("sakdn/a")}
    if rung1:
        parsed = {}
        for cell, value in rung1.items():
            a, b, g = (part[1:] for part in cell.split("-"))
            parsed[(float(a), float(b), float(g))] = value
        alphas, betas, gammas = (sorted({k[i] for k in parsed}) for i in range(3))
        figure, axes = plt.subplots(1, len(gammas), figsize=(4 * len(gammas), 3.2), squeeze=False)
        for axis, gamma in zip(axes[0], gammas):
            grid = [[parsed.get((a, b, gamma), float("nan")) for b in betas] for a in alphas]
            image = axis.imshow(grid, cmap="viridis")
            for i, row in enumerate(grid):
                for j, value in enumerate(row):
                    axis.text(j, i, f"{value:.1f}", ha="center", va="center", color="white", fontsize=9)
            axis.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
            axis.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
            axis.set_xlabel("beta (GSDM)")
            axis.set_ylabel("alpha (soft targets)")
            axis.set_title(f"gamma {gamma:g}")
            figure.colorbar(image, ax=axis, fraction=0.046)
        figure.suptitle(f"SAKDN validation accuracy (%), first rung ({result['search']['schedule']['short_epochs']} "
                        "epochs, one seed)")
        save(figure, "grid")
    return written
