"""The UTD-MHAD study's figures (PNG, written next to its results JSON).

- ``<stem>_accuracy.png``: test accuracy per arm, mean over seeds with its 95 % t interval,
  each seed's run as a dot, the baseline's mean as a line;
- ``<stem>_per_class.png``: per-class test accuracy (mean over seeds), the baseline against
  the arm chosen on validation, classes sorted by the gain;
- ``<stem>_validation.png``: validation accuracy per epoch, mean over seeds, per arm;
- ``<stem>_grid.png``: the search's first rung over the Table IX grid (alpha x beta, one
  panel per gamma), validation accuracy;
- ``<stem>_gsdm_maps.png``: GSDM maps as in the paper's Fig. 6, for a few test recordings: the
  teacher's on its GAF image, the student's on its sampled depth frames before (baseline) and
  after distillation (the best SAKDN setting when it ran, else the arm chosen on validation),
  first seed.
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


def draw_figures(result: dict, runs: dict[str, list[dict]], folder: Path, stem: str,
                 finals: Path | None = None) -> list[str]:
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

    # GSDM maps before and after distillation (the paper's Fig. 6), first seed's models: of the
    # best SAKDN setting, the arm that distils GSDM maps (else the chosen arm, whatever it is).
    arm = "sakdn_best" if "sakdn_best" in runs else chosen
    seed = result["seeds"][0]
    if finals is not None and arm in runs and "baseline" in runs:
        path = Path(folder) / f"{stem}_gsdm_maps.png"
        written.append(draw_gsdm_maps(finals / f"{arm}-seed{seed}", finals / f"baseline-seed{seed}",
                                      result["split"], path))
    return written


def gsdm_map_panels(arm_folder: Path, baseline_folder: Path, split: str, count: int = 4) -> dict:
    """What the GSDM figure shows, for ``count`` test recordings spread over the classes: each
    one's GAF image (the first teacher sensor) with the teacher's cached GSDM map, its sampled
    depth frames, and the per-frame channel-importance maps of the baseline student (before
    distillation) and of the arm's student (after), at the first layer pair's student tap,
    for its true class (docs/method.md §5)."""
    import h5py
    import torch
    import torch.nn.functional as F
    from ruamel.yaml import YAML

    from pipeline.data import SensorImages, VideoClips, normalize_clips
    from pipeline.workflow.evaluation import load_student
    from pipeline.workflow.inputs import Inputs, SplitData
    from pipeline.losses.gsdm_channel import channel_weights, student_scores_at
    from pipeline.training import Runtime

    params = YAML(typ="safe", pure=True).load((arm_folder / "params.yaml").read_text())
    teacher_tap, student_tap = params["distill"]["layer_pairs"][0]
    data_dir = arm_folder / "data"
    inputs = Inputs(data_dir / "manifest.csv", data_dir / "splits.csv", data_dir / "class_embeddings.h5",
                    gaf=data_dir / "gaf.h5", frames=data_dir / "frames.h5")
    data = SplitData(split, inputs)
    test = data.samples("test").sort_values(["label", "sample_id"])
    chosen = test.groupby("label").head(1)
    chosen = chosen.iloc[:: max(1, len(chosen) // count)].head(count)
    clips = VideoClips(inputs.need("frames"), chosen, params["student"]["num_segments"], "centre", normalize=False)
    frames = torch.stack([clips[i][0] for i in range(len(chosen))])  # uint8 (n, T, 3, S, S)
    batch = normalize_clips(frames)
    labels = torch.tensor(chosen["label"].to_numpy())
    cache_path = data_dir / split / "teacher_outputs.h5"
    with h5py.File(cache_path, "r") as cache:
        sensor = list(cache.attrs["sensors"])[0]
        rows = {rid.decode(): i for i, rid in enumerate(cache["recording_id"][()])}
        key = f"{sensor}/gsdm_maps/{teacher_tap}"
        teacher_maps = (torch.from_numpy(cache[key][()][[rows[r] for r in chosen["recording_id"]]])
                        if key in cache else None)
    gaf = SensorImages(inputs.need("gaf"), [sensor], chosen.drop_duplicates("recording_id")).images[sensor]
    runtime = Runtime(torch.device("cpu"))
    student_maps = {}
    for name, folder, model in (("before (baseline)", baseline_folder, "baseline"), ("after", arm_folder, "student")):
        student = load_student(folder / "models" / split / f"{model}.pt", runtime)
        with torch.no_grad():
            output = student(batch)
            features = output["features"][student_tap].float()
            scores, ablated = student_scores_at(student, student_tap, features, data.embeddings, labels,
                                                params["distill"]["readout"])
            weights = channel_weights(scores, ablated)
            student_maps[name] = F.relu(torch.einsum("btchw,bc->bthw", features, weights))
    return {"frames": frames.float() / 255, "gaf": gaf, "teacher_maps": teacher_maps,
            "student_maps": student_maps, "classes": [data.class_names[int(c)] for c in labels],
            "sensor": sensor, "taps": (teacher_tap, student_tap)}


def draw_gsdm_maps(arm_folder: Path, baseline_folder: Path, split: str, path: Path, count: int = 4) -> str:
    """The paper's Fig. 6 for this study: ``gsdm_map_panels`` drawn as one row per recording."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch.nn.functional as F

    panels = gsdm_map_panels(arm_folder, baseline_folder, split, count)
    frames = panels["frames"]
    rows, segments = frames.shape[0], frames.shape[1]
    columns = 1 + 2 * segments
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.7 * rows + 0.6), squeeze=False)

    def overlay(axis, image, heat):
        axis.imshow(image)
        if heat is not None:
            heat = F.interpolate(heat[None, None].float(), size=image.shape[:2], mode="bilinear",
                                 align_corners=False)[0, 0]
            axis.imshow(heat / heat.max().clamp_min(1e-12), cmap="jet", alpha=0.45)
        axis.set_xticks([])
        axis.set_yticks([])

    for row in range(rows):
        gaf = ((panels["gaf"][row].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy()
        teacher = None if panels["teacher_maps"] is None else panels["teacher_maps"][row]
        overlay(axes[row][0], gaf, teacher)
        axes[row][0].set_ylabel(panels["classes"][row], fontsize=7)
        for offset, (name, maps) in enumerate(panels["student_maps"].items()):
            for t in range(segments):
                axis = axes[row][1 + offset * segments + t]
                overlay(axis, frames[row, t].permute(1, 2, 0).numpy(), maps[row, t])
                if row == 0:
                    axis.set_title(f"{name}, frame {t + 1}", fontsize=6)
    axes[0][0].set_title(f"teacher {panels['sensor']} GAF, {panels['taps'][0]}", fontsize=6)
    figure.suptitle(f"GSDM channel-importance maps for the true class: teacher on its GAF image, student at "
                    f"{panels['taps'][1]} before and after distillation", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path).name
