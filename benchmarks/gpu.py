"""GPU readiness: the paper-size student's training steps, streamed loading, a torchrun smoke run.

Three parts, one JSON line last (and ``--output``):

1. ``train_step``: ``benchmarks.train_step --paper`` (resnet50 TSN, 8 x 224^2 clips, batch 32,
   bf16, channels_last; VGG16 teachers on 224^2 GAF images): baseline and cached-distillation
   step times, clips/s and ``distill_over_baseline``.
2. ``streamed_loading``: the baseline student trained from a frame cache streamed from HDF5
   (``train.cache_in_memory: false``) through ``train.workers`` DataLoader workers, the same
   ``VideoClips``/``loader``/``Distiller`` the student stage uses: clips/s end to end and the
   fraction of wall time the training loop waits for its next batch; then the same run with
   the cache in memory, and the ratio of their clips/s. The cache is random
   uint8 frames written first (``--clips`` x 16 frames at 224 px); once written it sits in the
   page cache, so this measures decoding, normalisation and transfer, not disk reads.
3. ``torchrun_smoke``: the distill stage, exactly as dvc.yaml gives it, under
   ``torchrun --nproc_per_node=1`` on the test suite's tiny configuration with
   ``train.device: cuda``; the model file and curves must be written and finite.
   ``--device cpu`` runs every part small, on the CPU, to check this script.

The tiny project's inputs (synthetic videos, caches, teachers, teacher outputs) need decord,
pyts and gensim; ``--prepare DIR`` builds them on any machine, so a GPU machine without those
packages can run part 3 on a prepared copy (``--project DIR``).

    python -m benchmarks.gpu --prepare benchmarks/.work/gpu_tiny     # once, anywhere
    bash benchmarks/gpu.sh                                           # on the GPU machine
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common
from benchmarks.common import REPO, dvc_command, make_workspace, run_stage
from pipeline.params_compose import deep_update
from pipeline.project.tiny import TINY

SMOKE_SPLIT = "cross_subject"
PREPARED = [("synthesize", None), ("manifest", None), ("frames", None), ("gaf", None), ("embed", None),
            ("teachers", SMOKE_SPLIT), ("fold_teachers", SMOKE_SPLIT), ("teacher_outputs", SMOKE_SPLIT)]


def tiny_params() -> dict:
    from ruamel.yaml import YAML

    params = YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text())
    deep_update(params, json.loads(json.dumps(TINY)))
    params["splits"]["protocols"] = [SMOKE_SPLIT]
    return params


def link_code(root: Path) -> None:
    """``pipeline`` and ``stages`` of this checkout (the links a copied workspace carries point
    to wherever it was prepared)."""
    for name in ("pipeline", "stages"):
        target = root / name
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(REPO / name)


def prepare(root: Path) -> None:
    """The tiny project's stages up to the split's teacher outputs, run on this machine's CPU."""
    params = tiny_params()
    params["train"]["device"] = "cpu"
    shutil.rmtree(root, ignore_errors=True)
    make_workspace(root, params, {})
    link_code(root)
    for stage, item in PREPARED:
        seconds = run_stage(root, stage, item=item, log=root / "prepare.log")
        print(f"prepared {stage}{'@' + item if item else ''} in {seconds:.1f} s", file=sys.stderr)
    shutil.rmtree(root / "checkpoints")  # the teachers' resumable state: not an input of distill


def torchrun_smoke(root: Path, device: str) -> dict:
    import torch
    from ruamel.yaml import YAML

    link_code(root)
    params = YAML(typ="safe", pure=True).load((root / "params.yaml").read_text())
    params["train"]["device"] = device
    with open(root / "gpu.yaml", "w") as handle:
        YAML().dump(params, handle)
    (root / "models" / SMOKE_SPLIT / "student.pt").unlink(missing_ok=True)
    (root / "checkpoints" / SMOKE_SPLIT / "student.pt").unlink(missing_ok=True)
    shutil.rmtree(root / "dvclive" / SMOKE_SPLIT / "student", ignore_errors=True)
    argv = dvc_command("distill", SMOKE_SPLIT, params)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", *argv[1:],
               "--params", "gpu.yaml", "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: torchrun smoke run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    saved = torch.load(root / "models" / SMOKE_SPLIT / "student.pt", weights_only=False)
    finite = all(torch.isfinite(value).all() for value in saved["state"].values() if value.is_floating_point())
    curves = root / "dvclive" / SMOKE_SPLIT / "student" / "metrics.json"
    if not finite or not curves.is_file():
        raise SystemExit("error: torchrun smoke run wrote a non-finite model or no curves")
    return {"command": " ".join(["torchrun --standalone --nproc_per_node=1", *argv[1:], "--params gpu.yaml"]),
            "wall_seconds": round(seconds, 1), "epochs": len(saved["history"]), "best_epoch": saved["best_epoch"],
            "loss": saved["loss"], "history": saved["history"], "stdout_tail": done.stdout[-500:]}


def write_frame_cache(path: Path, clips: int, frames: int, size: int) -> None:
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as cache:
        stored = cache.create_dataset("frames", shape=(clips, frames, size, size, 3), dtype=np.uint8)
        for start in range(0, clips, 64):
            count = min(64, clips - start)
            stored[start : start + count] = rng.integers(0, 256, size=(count, frames, size, size, 3), dtype=np.uint8)
        cache.create_dataset("sample_id", data=np.array([f"clip{i:05d}" for i in range(clips)], dtype=object),
                             dtype=h5py.string_dtype())


def loading_run(path: Path, samples, in_memory: bool, runtime, *, backbone: str, segments: int, batch_size: int,
                workers: int, epochs: int, max_steps: int | None = None) -> dict:
    """The baseline student trained from the frame cache at ``path`` as the student stage
    does (``VideoClips``, ``loader``, ``Distiller``): ``epochs`` epochs, each cut at
    ``max_steps`` steps when given. Clips/s and the time spent waiting for batches."""
    import torch

    from pipeline.data import VideoClips, normalize_clips
    from pipeline.distill import Distiller
    from pipeline.losses import WeightedSum, build_loss
    from pipeline.models.students import build_student
    from pipeline.training import loader, set_epoch

    device = runtime.device
    dataset = VideoClips(path, samples, segments, "random", seed=0, in_memory=in_memory, normalize=False)
    torch.manual_seed(0)
    student = build_student(backbone, "tsn", num_classes=27, embedding_dim=50, num_segments=segments)
    model = Distiller(student, WeightedSum({"ce": (1.0, build_loss("ce"))}), torch.randn(27, 50)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
    data = loader(dataset, batch_size, runtime, seed=0, shuffle=True, drop_last=True, workers=workers)
    waits, steps = [], []
    model.train()
    for epoch in range(epochs):
        set_epoch(data, epoch)
        ready = time.perf_counter()
        for number, (clips, labels, _) in enumerate(data):
            if max_steps is not None and number == max_steps:
                break
            fetched = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with runtime.autocast():
                _, total, _ = model(normalize_clips(runtime.to_device(clips)), runtime.to_device(labels),
                                    teacher_outputs=[])
            total.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            done = time.perf_counter()
            waits.append(fetched - ready)
            steps.append(done - fetched)
            ready = done
    # The first batch of each epoch waits for the workers to start (and the first epoch for
    # cuDNN's autotuning): counted, and also left out ("steady"), as a long run amortises them.
    per_epoch = len(waits) // epochs
    steady = [i for i in range(per_epoch, len(waits)) if i % per_epoch != 0] or list(range(1, len(waits)))
    total_time = sum(waits) + sum(steps)
    steady_time = sum(waits[i] + steps[i] for i in steady)
    return {"steps": len(steps), "clips_per_second": round(len(steps) * batch_size / total_time, 2),
            "steady_clips_per_second": round(len(steady) * batch_size / steady_time, 2),
            "data_wait_fraction": round(sum(waits) / total_time, 3),
            "steady_data_wait_fraction": round(sum(waits[i] for i in steady) / steady_time, 3),
            "median_step_seconds": round(statistics.median(steps), 4),
            "median_wait_seconds": round(statistics.median(waits), 4)}


def streamed_loading(args) -> dict:
    import pandas as pd

    from pipeline.training import start_runtime

    runtime = start_runtime(args.device, bf16=True)
    folder = Path(tempfile.mkdtemp(prefix="gpu_frames_"))
    try:
        path = folder / "frames.h5"
        start = time.perf_counter()
        write_frame_cache(path, args.clips, 16, args.size)
        written = time.perf_counter() - start
        ids = [f"clip{i:05d}" for i in range(args.clips)]
        samples = pd.DataFrame({"sample_id": ids, "recording_id": ids, "label": [i % 27 for i in range(args.clips)]})
        runs = {mode: loading_run(path, samples, mode == "in_memory", runtime, backbone=args.backbone,
                                  segments=args.segments, batch_size=args.batch_size, workers=args.workers,
                                  epochs=args.epochs)
                for mode in ("streamed", "in_memory")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"device": str(runtime.device), "backbone": args.backbone, "segments": args.segments, "size": args.size,
            "batch_size": args.batch_size, "workers": args.workers, "clips_in_cache": args.clips,
            "epochs": args.epochs, "cache_write_seconds": round(written, 1), **runs,
            "streamed_over_in_memory_clips": round(runs["streamed"]["steady_clips_per_second"]
                                                   / runs["in_memory"]["steady_clips_per_second"], 3)}


def train_step(args) -> dict:
    from benchmarks import train_step as benchmark

    argv = ["--device", args.device, "--steps", str(args.steps)]
    if args.device != "cpu":
        argv.append("--paper")
    else:  # a CPU check of this script only: the defaults' small student
        argv += ["--backbone", "resnet18", "--segments", str(args.segments), "--size", str(args.size),
                 "--batch-size", str(args.batch_size)]
    return benchmark.main(argv)


def parse_args(argv=None) -> argparse.Namespace:
    parser = common.parser("benchmarks.gpu", __doc__)
    parser.add_argument("--prepare", type=Path, metavar="DIR", help="build the tiny project's inputs in DIR and exit")
    parser.add_argument("--project", type=Path, default=REPO / "benchmarks/.work/gpu_tiny",
                        help="the prepared tiny project (default %(default)s)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: check this script only")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=min(12, os.cpu_count() or 1), help="train.workers")
    parser.add_argument("--clips", type=int, default=640, help="clips in the streamed frame cache")
    parser.add_argument("--epochs", type=int, default=3, help="epochs over the streamed cache")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of the train_step part")
    parser.add_argument("--parts", nargs="+", default=["train_step", "streamed_loading", "torchrun_smoke"],
                        choices=["train_step", "streamed_loading", "torchrun_smoke"])
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.prepare:
        prepare(args.prepare.resolve())
        return {}
    started = time.perf_counter()
    result = {"benchmark": "gpu"}  # the commit is empty where the copy has no .git
    for part in args.parts:
        part_start = time.perf_counter()
        if part == "train_step":
            result[part] = train_step(args)
        elif part == "streamed_loading":
            result[part] = streamed_loading(args)
        else:
            result[part] = torchrun_smoke(args.project.resolve(), args.device)
        print(f"{part}: {time.perf_counter() - part_start:.1f} s", file=sys.stderr)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return common.finish(result, "benchmarks.gpu", argv, args.output)


if __name__ == "__main__":
    main()
