"""Cost curve of the pipeline against dataset size: preprocessing time, peak memory, clips/s.

For synthetic datasets of increasing size (``--sizes``, subjects x trials of the 12 built-in
classes in the three default views: 216, 864 and 3456 videos by default) this runs the stages as dvc.yaml
gives them in a workspace per size and measures:

- ``synthesize``, ``frames`` and ``gaf`` wall time (frames: videos/s) and the peak resident
  memory of each stage (the largest of its processes, each one's VmHWM polled as it runs);
- a student training run at the UTD-MHAD depth preset's sizes (mobilenet_v2 TSN, 4 segments,
  112 px frames, batch 8, ``train.workers`` 0) over each size's frame cache, streamed
  (``train.cache_in_memory: false``) and in memory, each in its own process: its peak resident
  memory and clips/s over ``--steps`` steps (the in-memory run loads the whole cache before
  its first step, so its peak is reached whatever the number of steps).

Then: ``memory_growth_ratio`` (streamed training's peak memory, largest size over smallest;
target <= 1.2), ``streamed_over_in_memory_clips`` (clips/s at the size nearest UTD-MHAD's
861 videos; target >= 0.9), linear fits of the preprocessing times against videos with the
extrapolation to MMAct's ~36k clips. Writes ``benchmarks/results/scale.{json,png}``; resumable
(sizes already measured with the same settings are kept). JSON on the last line.

    python -m benchmarks.scale                        # about 10-15 minutes on 2 cores
    python -m benchmarks.scale --sizes 3:1 --steps 5  # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common
from benchmarks.common import REPO, dvc_command, fingerprint, make_workspace
from pipeline.params_compose import deep_update
from pipeline.project.dvc_yaml import data_paths

MMACT_CLIPS = 36_000
UTD_MHAD_VIDEOS = 861
PRESET = {"backbone": "mobilenet_v2", "segments": 4, "frame_size": 112, "batch_size": 8, "workers": 0}
STAGES = ("synthesize", "manifest", "frames", "gaf")


def peak_memory_mb(pid: int) -> float:
    """VmHWM of a live process, MB (its own high-water mark since exec; 0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measured(command: list[str], cwd: Path, log: Path) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, peak resident MB of its largest process, stdout).

    The peak is each process's VmHWM polled while it runs (the command and its descendants,
    e.g. a stage's worker pool), not ``wait4``'s ``ru_maxrss``: that one starts from the
    forking parent's resident size, so a large parent would set the floor."""
    import psutil

    start = time.perf_counter()
    peaks: dict[int, float] = {}
    with open(log, "a") as handle, tempfile.TemporaryFile("w+") as stdout:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=handle, text=True,
                                   env=dict(os.environ, PYTHONPATH=str(REPO)))
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                members = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                members = []
            for member in members:
                peaks[member.pid] = max(peaks.get(member.pid, 0.0), peak_memory_mb(member.pid))
            time.sleep(0.05)
        stdout.seek(0)
        output = stdout.read()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"error: `{' '.join(command)}` failed in {cwd} (see {log})")
    return seconds, max(peaks.values(), default=0.0), output


def size_params(subjects: int, trials: int) -> dict:
    from ruamel.yaml import YAML

    params = YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text())
    deep_update(params, {"synthetic": {"num_subjects": subjects, "trials": trials, "workers": 2},
                         "frames": {"size": PRESET["frame_size"], "workers": 2},
                         "splits": {"protocols": ["cross_subject"]}})
    return params


def train_child(args) -> None:
    """One training measurement in this process (run by the parent, which reads its peak memory)."""
    import torch

    from benchmarks.gpu import loading_run
    from pipeline.datasets import read_manifest
    from pipeline.training import start_runtime

    torch.set_num_threads(os.cpu_count() or 1)
    samples = read_manifest(args.manifest)
    result = loading_run(args.frames, samples, args.mode == "in_memory", start_runtime("cpu"),
                         backbone=PRESET["backbone"], segments=PRESET["segments"], batch_size=PRESET["batch_size"],
                         workers=PRESET["workers"], epochs=1, max_steps=args.steps)
    print(json.dumps(result))


def measure_size(subjects: int, trials: int, steps: int, work: Path) -> dict:
    root = work / f"s{subjects}_t{trials}"
    log = root.parent / f"s{subjects}_t{trials}.log"
    params = size_params(subjects, trials)
    make_workspace(root, params, {})
    result = {"subjects": subjects, "trials": trials}
    for stage in STAGES:
        argv = dvc_command(stage, None, params) + ["--no-progress"]
        seconds, peak, _ = measured(argv, root, log)
        result[f"{stage}_seconds"] = round(seconds, 2)
        result[f"{stage}_peak_rss_mb"] = round(peak, 1)
        print(f"  {stage}: {seconds:.1f} s, peak {peak:.0f} MB", file=sys.stderr)
    import csv

    paths = data_paths()
    with open(root / paths["manifest"], newline="") as handle:  # csv, not pandas: this process stays small
        rows = list(csv.DictReader(handle))
    frames = root / paths["frames"]
    result.update(videos=len(rows), recordings=len({row["recording_id"] for row in rows}),
                  frame_cache_mb=round(frames.stat().st_size / 2**20, 1))
    result["frames_videos_per_second"] = round(result["videos"] / result["frames_seconds"], 1)
    result["training"] = {}
    for mode in ("streamed", "in_memory"):
        command = [sys.executable, "-m", "benchmarks.scale", "--train-child", "--mode", mode, "--steps", str(steps),
                   "--frames", str(frames), "--manifest", str(root / paths["manifest"])]
        seconds, peak, stdout = measured(command, REPO, log)
        run = json.loads(stdout.strip().splitlines()[-1])
        result["training"][mode] = {**run, "peak_rss_mb": round(peak, 1), "process_seconds": round(seconds, 1)}
        print(f"  training {mode}: {run['steady_clips_per_second']} clips/s, peak {peak:.0f} MB", file=sys.stderr)
    return result


def linear_fit(x: list[float], y: list[float]) -> dict:
    import numpy as np

    slope, intercept = np.polyfit(x, y, 1)
    predicted = slope * np.asarray(x) + intercept
    total = float(((np.asarray(y) - np.mean(y)) ** 2).sum())
    r2 = 1 - float(((np.asarray(y) - predicted) ** 2).sum()) / total if total > 0 else 1.0
    return {"seconds_per_video": round(float(slope), 5), "intercept_seconds": round(float(intercept), 2),
            "r2": round(r2, 4), "mmact_36k_minutes": round((slope * MMACT_CLIPS + intercept) / 60, 1)}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    videos = [s["videos"] for s in sizes]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for stage, marker in (("synthesize", "s"), ("frames", "o"), ("gaf", "^")):
        axes[0].plot(videos, [s[f"{stage}_seconds"] for s in sizes], marker=marker, label=stage)
    axes[0].set(xlabel="videos", ylabel="wall time (s)", title="Preprocessing time (2 cores)")
    axes[0].legend()
    axes[1].plot(videos, [s["frames_peak_rss_mb"] for s in sizes], "o-", label="frames stage")
    for mode, marker in (("streamed", "s"), ("in_memory", "^")):
        axes[1].plot(videos, [s["training"][mode]["peak_rss_mb"] for s in sizes], marker=marker,
                     label=f"training, {mode.replace('_', ' ')}")
    axes[1].plot(videos, [s["frame_cache_mb"] for s in sizes], ":", color="grey", label="frame cache size")
    axes[1].set(xlabel="videos", ylabel="peak resident memory (MB)", title="Memory")
    axes[1].legend()
    width = 0.35
    positions = range(len(sizes))
    for offset, mode in ((-width / 2, "streamed"), (width / 2, "in_memory")):
        axes[2].bar([p + offset for p in positions], [s["training"][mode]["steady_clips_per_second"] for s in sizes],
                    width, label=mode.replace("_", " "))
    axes[2].set_xticks(list(positions), [str(v) for v in videos])
    axes[2].set(xlabel="videos", ylabel="clips/s", title="Student training (UTD-MHAD preset sizes, CPU)")
    axes[2].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse_args(argv=None) -> argparse.Namespace:
    parser = common.parser("benchmarks.scale", __doc__, REPO / "benchmarks/results/scale.json")
    parser.add_argument("--sizes", nargs="+", default=["3:2", "6:4", "12:8"], metavar="SUBJECTS:TRIALS",
                        help="synthetic sizes (12 classes x 3 views x subjects x trials videos)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per measurement")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/.work/scale")
    parser.add_argument("--train-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("streamed", "in_memory"), help=argparse.SUPPRESS)
    parser.add_argument("--frames", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.train_child:
        train_child(args)
        return None
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in size.split(":")) for size in args.sizes]
    done_path = args.work / "sizes.json"
    done = json.loads(done_path.read_text()) if done_path.is_file() else {}
    started = time.perf_counter()
    results = []
    for subjects, trials in sizes:
        key = fingerprint(subjects, trials, args.steps, PRESET, size_params(subjects, trials))
        if key not in done:
            print(f"size {subjects} subjects x {trials} trials", file=sys.stderr)
            done[key] = measure_size(subjects, trials, args.steps, args.work)
            done_path.write_text(json.dumps(done, indent=1))
        results.append(done[key])
    results.sort(key=lambda s: s["videos"])
    videos = [s["videos"] for s in results]
    streamed_peaks = [s["training"]["streamed"]["peak_rss_mb"] for s in results]
    nearest_utd = min(results, key=lambda s: abs(s["videos"] - UTD_MHAD_VIDEOS))
    result = {
        "benchmark": "scale",
        "memory_growth_ratio": round(streamed_peaks[-1] / streamed_peaks[0], 3),
        "in_memory_growth_ratio": round(results[-1]["training"]["in_memory"]["peak_rss_mb"]
                                        / results[0]["training"]["in_memory"]["peak_rss_mb"], 3),
        "streamed_over_in_memory_clips": round(nearest_utd["training"]["streamed"]["steady_clips_per_second"]
                                               / nearest_utd["training"]["in_memory"]["steady_clips_per_second"], 3),
        "streamed_over_in_memory_clips_at_videos": nearest_utd["videos"],
        "fits": {stage: linear_fit(videos, [s[f"{stage}_seconds"] for s in results]) for stage in
                 ("synthesize", "frames", "gaf")} if len(results) > 1 else {},
        "sizes": results,
        "preset": PRESET, "steps": args.steps,
        "wall_seconds_this_invocation": round(time.perf_counter() - started, 1),
    }
    result = common.finish(result, "benchmarks.scale", argv, args.output)
    plot(result, args.output.with_suffix(".png"))
    return result


if __name__ == "__main__":
    main()
