"""GSDM maps as in the paper's Fig. 6, from two final runs' workspaces: for a few test
recordings, the teacher's map on its GAF image, and the student's on its sampled frames before
(the reference arm, e.g. the baseline) and after distillation, at the first layer pair's
student tap, for the true class (docs/method.md section 5).
"""
from __future__ import annotations

from pathlib import Path


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
            axis.imshow((heat / heat.max().clamp_min(1e-12)).numpy(), cmap="jet", alpha=0.45)
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
