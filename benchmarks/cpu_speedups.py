"""CPU speed-ups of the stages, each measured against what it replaced, in one run.

- **Memory format.** The stages put every model in ``channels_last`` on CPU too (oneDNN's
  convolutions are faster in it). Measured both ways in this run: the student's training
  step (``benchmarks.train_step``: baseline and SAKDN with cached teacher outputs, MobileNetV2,
  4 x 112 px clips) and the VGG teacher's training step and inference (two sensor branches
  with SPAMFM, batch 16, GAF 64 px: the UTD-MHAD preset's teacher).
- **Start-up.** Stage modules import torchvision and scikit-learn only where a stage needs
  them. Measured: a fresh interpreter importing a stage module that needs neither
  (``stages.teachers``), and the same with torchvision and ``sklearn.metrics`` imported first
  (what every stage process paid when the library imported them at module level); median of
  ``--repeats`` each.

Prints a JSON line last (``--output`` writes it too). Run on an otherwise idle machine.

    python -m benchmarks.cpu_speedups --output benchmarks/results/cpu_speedups.json
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from benchmarks import common
from benchmarks.common import REPO


def teacher_steps(memory_format: torch.memory_format, steps: int, gaf_size: int, batch_size: int) -> dict:
    """Median seconds of a VGG teacher's training step (forward, CE on every branch, backward,
    AdamW) and of its inference on one batch, in ``memory_format``."""
    from pipeline.models.teachers import MultiSensorTeacher

    torch.manual_seed(0)
    sensors = ["acc", "gyro"]
    teacher = MultiSensorTeacher(sensors, 27, 50, "vgg11", 0.25, reduction=4).to(memory_format=memory_format)
    images = {s: torch.rand(batch_size, 3, gaf_size, gaf_size) * 2 - 1 for s in sensors}
    labels = torch.randint(0, 27, (batch_size,))
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=1e-3)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        output = teacher(images)
        loss = sum(F.cross_entropy(branch["logits"], labels) for branch in output["branches"].values())
        loss.backward()
        optimizer.step()

    def inference():
        with torch.no_grad():
            teacher(images)

    result = {}
    for name, function, mode in (("train_step_seconds", train_step, True), ("inference_seconds", inference, False)):
        teacher.train(mode)
        for _ in range(2):  # warm-up
            function()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        result[name] = round(statistics.median(times), 4)
    return result


def import_seconds(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 2)


def main(argv: list[str] | None = None) -> dict:
    parser = common.parser("benchmarks.cpu_speedups", __doc__)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interpreter start-ups per import measurement")
    parser.add_argument("--gaf-size", type=int, default=64)
    parser.add_argument("--student", nargs=argparse.REMAINDER, default=[], metavar="OPTION",
                        help="options passed on to benchmarks.train_step (last; e.g. --size 64)")
    args = parser.parse_args(argv)
    from benchmarks import train_step

    started = time.perf_counter()
    student, teacher, first_loss = {}, {}, {}
    for layout in ("contiguous", "channels_last"):
        run = train_step.main(["--device", "cpu", "--memory-format", layout, "--steps", str(args.steps), *args.student])
        student[layout] = {name: run["median_step_seconds"][name] for name in ("baseline", "sakdn_cached")}
        first_loss[layout] = run["first_step_loss"]["sakdn_cached"]
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        teacher[layout] = teacher_steps(fmt, args.steps, args.gaf_size, 16)
    lazy = import_seconds("import stages.teachers", args.repeats)
    eager = import_seconds("import torchvision, sklearn.metrics, stages.teachers", args.repeats)
    result = {
        "benchmark": "cpu_speedups",
        "student_step_seconds": student,
        "student_speedup": {name: round(student["contiguous"][name] / student["channels_last"][name], 2)
                            for name in student["contiguous"]},
        # same weights and batch: the layout must not change what is computed (float rounding aside)
        "first_step_loss_largest_difference": max(abs(first_loss["contiguous"][term] - first_loss["channels_last"][term])
                                                  for term in first_loss["contiguous"]),
        "teacher_seconds": teacher,
        "teacher_speedup": {name: round(teacher["contiguous"][name] / teacher["channels_last"][name], 2)
                            for name in teacher["contiguous"]},
        "stage_import_seconds": {"lazy": lazy, "eager_torchvision_sklearn": eager, "saved": round(eager - lazy, 2)},
        "config": {"steps": args.steps, "repeats": args.repeats, "teacher_gaf_size": args.gaf_size,
                   "teacher_batch_size": 16, "student": run["config"]},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    return common.finish(result, "benchmarks.cpu_speedups", argv, args.output)


if __name__ == "__main__":
    main()
