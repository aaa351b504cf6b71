"""Training-step time: video baseline vs SAKDN distillation, with and without cached teachers.

One fixed batch, one process, the library's own ``Distiller`` and losses, three students
with identical initial weights, each step = forward + backward + AdamW update:

- ``baseline``: the student with CE alone (``stages.student --method baseline``);
- ``sakdn_cached``: CE + soft targets + GSDM + semantic with the teachers' outputs given, as
  the ``teacher_outputs`` stage caches them (what ``--method distill`` runs);
- ``sakdn_uncached``: the same loss with the teachers run on the GAF images every step.

Reports the median step time of each after warm-up, ``distill_over_baseline`` (cached /
baseline; target <= 1.15), and the cost of the pieces SAKDN adds (teacher forward, the
student's ablated pass, which runs once per step on a single black clip). Models are
channels_last as in the stages (``--memory-format contiguous`` to compare); on CUDA it runs
in bf16. Prints a JSON line last.

What each configuration really ran is reported too, counted by hooks, not assumed:
``steps_run`` (warm-up + timed) and ``timed_steps``, ``clips_trained`` (clips through the
student's training forward), ``loss_terms`` (the terms its loss returned), ``first_step_loss``
(their values at the first step, from identical weights and dropout seed, so the three agree
where they share terms), ``teacher_forward_calls`` (0 for the cached configuration) and
``student_ablated_passes`` (one per step where GSDM runs, none for CE alone).

    python -m benchmarks.train_step                 # the CPU default (params.yaml sizes)
    python -m benchmarks.train_step --paper         # resnet50, 8 x 224 px, VGG16 teachers (GPU)
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from benchmarks import common
from pipeline.distill import Distiller, sakdn_loss
from pipeline.losses import WeightedSum, build_loss
from pipeline.models.students import build_student
from pipeline.models.teachers import MultiSensorTeacher
from pipeline.training import start_runtime

PAPER = {"backbone": "resnet50", "segments": 8, "size": 224, "batch_size": 32, "teacher_architecture": "vgg16",
         "teacher_width": 1.0, "gaf_size": 224, "pair": ["conv5", "layer4"]}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, steps: int, warmup: int, device: torch.device) -> list[float]:
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.parser("benchmarks.train_step", __doc__)
    parser.add_argument("--backbone", default="mobilenet_v2", choices=("resnet18", "resnet50", "mobilenet_v2"))
    parser.add_argument("--head", default="tsn", choices=("tsn", "trn", "tsm"))
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--size", type=int, default=112, help="frame size")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--teacher-architecture", default="vgg11", choices=("vgg11", "vgg16"))
    parser.add_argument("--teacher-width", type=float, default=0.25)
    parser.add_argument("--gaf-size", type=int, default=64)
    parser.add_argument("--sensors", type=int, default=2, help="teacher branches")
    parser.add_argument("--classes", type=int, default=27)
    parser.add_argument("--pair", nargs=2, default=None, metavar=("TEACHER_TAP", "STUDENT_TAP"),
                        help="GSDM layer pair (default conv4 stage5 for mobilenet_v2, conv5 layer4 for resnets)")
    parser.add_argument("--importance", default="channel", choices=("channel", "norm", "elementwise"),
                        help="GSDM's importance (distill.importance); channel needs the student's last stage")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--memory-format", default="channels_last", choices=("channels_last", "contiguous"),
                        help="the models' memory format (the stages use channels_last on every device)")
    parser.add_argument("--paper", action="store_true",
                        help="defaults of the paper-size configuration (options given explicitly still win): "
                             + json.dumps(PAPER))
    if parser.parse_known_args(argv)[0].paper:
        parser.set_defaults(**PAPER)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    pair = tuple(args.pair or (("conv4", "stage5") if args.backbone == "mobilenet_v2" else ("conv5", "layer4")))
    runtime = start_runtime(args.device, bf16=True)
    device = runtime.device
    torch.manual_seed(0)

    embedding_dim = 50
    embeddings = torch.randn(args.classes, embedding_dim, device=device)
    student = build_student(args.backbone, args.head, num_classes=args.classes, embedding_dim=embedding_dim,
                            num_segments=args.segments)
    sensors = [f"sensor{i}" for i in range(args.sensors)]
    teacher = MultiSensorTeacher(sensors, args.classes, embedding_dim, args.teacher_architecture,
                                 args.teacher_width, reduction=4).to(device).eval()
    clips = torch.randn(args.batch_size, args.segments, 3, args.size, args.size, device=device)
    labels = torch.randint(0, args.classes, (args.batch_size,), device=device)
    gaf_images = {s: torch.rand(args.batch_size, 3, args.gaf_size, args.gaf_size, device=device) * 2 - 1
                  for s in sensors}
    memory_format = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    teacher = teacher.to(memory_format=memory_format)  # as the stages do

    def distiller(loss: WeightedSum, with_teacher: bool) -> tuple[Distiller, torch.optim.Optimizer]:
        model = Distiller(copy.deepcopy(student), loss, embeddings.cpu(),
                          teacher=teacher if with_teacher else None).to(device, memory_format=memory_format)
        model.train()
        return model, torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)

    names = ("baseline", "sakdn_cached", "sakdn_uncached")
    running = {"name": None}  # the configuration whose step is running (None: setup, pieces)
    steps_run = dict.fromkeys(names, 0)
    clips_trained = dict.fromkeys(names, 0)
    teacher_calls = dict.fromkeys(names, 0)
    ablated_passes = dict.fromkeys(names, 0)
    loss_terms = {name: set() for name in names}
    first_step_loss: dict[str, dict[str, torch.Tensor]] = {}

    def count_teacher(module, inputs, output):
        if running["name"] is not None:
            teacher_calls[running["name"]] += 1

    def count_student(module, inputs, output):
        if running["name"] is None:
            return
        if module.training:
            clips_trained[running["name"]] += inputs[0].shape[0]
        else:  # the Distiller's ablated pass on the black clip (eval mode)
            ablated_passes[running["name"]] += 1

    teacher.register_forward_hook(count_teacher)

    def step_of(name: str, model: Distiller, optimizer, **teachers):
        model.student.register_forward_hook(count_student)

        def step():
            if steps_run[name] == 0:  # same dropout masks at every configuration's first step
                torch.manual_seed(1)
            running["name"] = name
            optimizer.zero_grad(set_to_none=True)
            with runtime.autocast():
                _, total, terms = model(clips, labels, **teachers)
            total.backward()
            optimizer.step()
            running["name"] = None
            if steps_run[name] == 0:
                first_step_loss[name] = {term: value.detach() for term, value in terms.items()}
            steps_run[name] += 1
            loss_terms[name].update(terms)
        return step

    loss = lambda: sakdn_loss(0.1, 1.0, 1.0, 4.0, (pair,), importance=args.importance)  # noqa: E731  the paper's UTD-MHAD weights
    baseline, baseline_opt = distiller(WeightedSum({"ce": (1.0, build_loss("ce"))}), with_teacher=False)
    cached, cached_opt = distiller(loss(), with_teacher=True)
    uncached, uncached_opt = distiller(loss(), with_teacher=True)
    # What the teacher_outputs stage caches: the branches' outputs, their finished GSDM maps
    # (channel mode) and their ablated pass (input mode).
    with torch.no_grad(), runtime.autocast():
        outputs = cached.teacher_outputs(gaf_images, labels)
        ablated = cached.ablated_teacher_outputs(args.batch_size, gaf_images)
    cached_outputs = [{**output, "ablated": ablation} for output, ablation in zip(outputs, ablated)]

    configurations = {
        "baseline": step_of("baseline", baseline, baseline_opt, teacher_outputs=[]),  # as train_student passes it
        "sakdn_cached": step_of("sakdn_cached", cached, cached_opt, teacher_outputs=cached_outputs),
        "sakdn_uncached": step_of("sakdn_uncached", uncached, uncached_opt, teacher_inputs=gaf_images),
    }
    # Interleave rounds so drifting machine load hits every configuration alike.
    times = {name: [] for name in configurations}
    for name, step in configurations.items():
        timed(step, 0, args.warmup, device)
    rounds = 2 if args.steps >= 4 else 1
    for round_index in range(rounds):  # all --steps of them, the remainder in the first rounds
        count = args.steps // rounds + (round_index < args.steps % rounds)
        for name, step in configurations.items():
            times[name] += timed(step, count, 0, device)
    median = {name: statistics.median(values) for name, values in times.items()}

    def pieces():
        with torch.no_grad(), runtime.autocast():
            teacher_forward = timed(lambda: cached.teacher_outputs(gaf_images, labels), max(args.steps // 2, 1), 1, device)
            ablated_pass = timed(lambda: cached.ablated_student_output(clips), max(args.steps // 2, 1), 1, device)
        return {"teacher_forward_seconds": round(statistics.median(teacher_forward), 4),
                "student_ablated_pass_seconds": round(statistics.median(ablated_pass), 4)}

    result = {
        "benchmark": "train_step", "device": str(device), "bf16": runtime.bf16,
        "config": {"backbone": args.backbone, "head": args.head, "segments": args.segments, "size": args.size,
                   "batch_size": args.batch_size, "teacher": f"{args.teacher_architecture} x{args.teacher_width}",
                   "gaf_size": args.gaf_size, "sensors": args.sensors, "gsdm_pair": list(pair),
                   "gsdm_importance": args.importance, "memory_format": args.memory_format,
                   "steps": args.steps, "warmup": args.warmup},
        "median_step_seconds": {name: round(value, 4) for name, value in median.items()},
        "clips_per_second": {name: round(args.batch_size / value, 1) for name, value in median.items()},
        "distill_over_baseline": round(median["sakdn_cached"] / median["baseline"], 3),
        "uncached_over_baseline": round(median["sakdn_uncached"] / median["baseline"], 3),
        "steps_run": dict(steps_run),
        "timed_steps": {name: len(values) for name, values in times.items()},
        "clips_trained": dict(clips_trained),
        "loss_terms": {name: sorted(terms) for name, terms in loss_terms.items()},
        "first_step_loss": {name: {term: float(value) for term, value in terms.items()}
                            for name, terms in first_step_loss.items()},
        "teacher_forward_calls": dict(teacher_calls),
        "student_ablated_passes": dict(ablated_passes),
        **pieces(),
    }
    return common.finish(result, "benchmarks.train_step", argv, args.output)


if __name__ == "__main__":
    main()
