"""Training the video student, baseline or distilled, on the split's training clips paired
with their recordings' cached teacher outputs; the epoch is chosen on validation."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from pipeline.data import VideoClips, normalize_clips, student_black
from pipeline.distill import Distiller
from pipeline.errors import InputError
from pipeline.losses import build_objective
from pipeline.losses.gsdm_channel import evaluation_mode
from pipeline.metrics import accuracy_of
from pipeline.models.students import build_student
from pipeline.models.teachers import MultiSensorTeacher
from pipeline.models.weights import resolve_weights
from pipeline.params_rules import labels_with_baseline
from pipeline.training import Runtime, fit, input_digests, loader, params_subset, seed_everything
from pipeline.video_augment import strong_augment
from pipeline.workflow.inputs import SplitData, cache_settings, check_made_for
from pipeline.workflow.model_files import load_model_file
from pipeline.workflow.student_inference import student_predict
from pipeline.workflow.distill_targets import (
    DistillTargets, frozen_baseline_logits, pseudo_labels, student_training_samples,
)
from pipeline.workflow.pseudo_labeller import PseudoLabeller
from pipeline.workflow.teacher_outputs import TeacherOutputCache

log = logging.getLogger(__name__)

BASELINE_PARAMS = ("seed", "student", "train.device", "train.bf16")

DISTILL_PARAMS = BASELINE_PARAMS + ("alpha", "beta", "gamma", "temperature", "distill")


def student_config(params: dict, num_classes: int, dimension: int) -> dict:
    student = params["student"]
    return {"backbone": student["backbone"], "head": student["head"], "num_classes": num_classes,
            "embedding_dim": dimension, "num_segments": student["num_segments"], "dropout": student["dropout"]}


def tap_channels(student: nn.Module, teacher_config_: dict, pairs: list) -> tuple[list[int], list[int]]:
    """Channel counts of each pair's student and teacher taps (for FitNet's adapters)."""
    with torch.no_grad():
        probe = student.eval()(torch.zeros(1, student.num_segments, 3, 64, 64))["features"]
    teacher = MultiSensorTeacher(**teacher_config_)
    branch = teacher.branches[teacher.sensors[0]]
    return [probe[s].shape[2] for _, s in pairs], [branch.channels(t) for t, _ in pairs]


def reads_teacher_outputs(params: dict, method: str) -> bool:
    """Whether the student learns from the teachers' cached outputs: every distilled student
    but one whose pseudo-labels come from a video model (the video-only controls)."""
    if method == "baseline":
        return False
    return method != "pseudo_label" or params["distill"]["pseudo_label"]["labeller"] == "teachers"


def student_seed(params: dict) -> int:
    """``student.seed``, or the top-level seed when it is null: students vary over their own
    seeds while the teachers (and the folds, splits, data) keep the top-level one."""
    seed = params["student"].get("seed")
    return params["seed"] if seed is None else seed


def train_student(params: dict, data: SplitData, method: str, runtime: Runtime, checkpoint: str | Path,
                  teacher_outputs: str | Path | None = None, teacher_path: str | Path | None = None,
                  progress: bool = True, baseline_path: str | Path | None = None) -> dict:
    """Train the video student with ``method`` ('baseline', 'sakdn' or a KD baseline) on the
    split's training videos, paired with their recordings' cached teacher outputs; select the
    epoch on validation accuracy. A distilled student also learns from the unlabeled training
    clips (``splits.labeled_fraction`` < 1) through its teacher terms. ``baseline_path``: the
    frozen baseline whose outputs replace the teachers' under ``distill.targets: baseline``.
    Returns the model file's content."""
    settings = params["student"]
    seed = student_seed(params)
    seed_everything(seed)
    config = student_config(params, len(data.class_names), data.embeddings.shape[1])
    student = build_student(**config, pretrained_path=resolve_weights(settings["weights"], settings["backbone"]))
    pairs = [tuple(p) for p in params["distill"]["layer_pairs"]]
    gradient_tap = shared_tap(student.tap_names, [student_tap for _, student_tap in pairs])
    channels = ([], [])
    if method == "fitnet":
        saved = load_model_file(teacher_path, "teachers", data)
        channels = tap_channels(student, saved["config"], pairs)
    cache = None
    # The baseline learns from labelled clips; a distilled student from every training clip,
    # the unlabeled ones with their label hidden (-1): only teacher terms reach them.
    training_samples = data.samples("train") if method == "baseline" else student_training_samples(data)
    if reads_teacher_outputs(params, method):
        pool = training_samples.drop_duplicates("recording_id")
        cache = TeacherOutputCache(teacher_outputs, pool, params["distill"]["pairing"], seed, features=False)
        check_made_for(cache.made_for, data, teacher_outputs)
        params = with_resolved_temperature(params, cache)
    context = {"embedding_dim": data.embeddings.shape[1], "num_teachers": len(cache.sensors) if cache else 0}
    if params["distill"]["label_smoothing"]["epsilon"] == "auto" and cache is not None:
        context["non_target_mass"] = cache.non_target_mass(params["temperature"])
    loss = build_objective(params, method, student_channels=channels[0], teacher_channels=channels[1], **context)
    if cache is not None and loss.needs_teacher_features:
        cache.load_features()
    distiller = Distiller(student, loss, data.embeddings, student_black=student_black()).to(
        runtime.device, memory_format=torch.channels_last)
    # DDP wraps the whole Distiller, so checkpoints hold the same keys as single-process runs.
    trainer = nn.parallel.DistributedDataParallel(distiller) if runtime.distributed else distiller
    if cache is not None and method != "pseudo_label" and cache.batch_size != settings["batch_size"]:
        raise InputError(f"{teacher_outputs}: ablated outputs cached for batch size {cache.batch_size}, "
                         f"student.batch_size is {settings['batch_size']} (rerun teacher_outputs)")
    frames = data.inputs.need("frames")
    in_memory, workers = params["train"]["cache_in_memory"], params["train"]["workers"]
    train = VideoClips(frames, training_samples, settings["num_segments"], "random", seed, in_memory,
                       normalize=False)
    targets, labeller = None, None
    if method == "pseudo_label":
        baseline = None
        if labels_with_baseline(params):
            baseline = frozen_baseline_logits("distill.pseudo_label.labeller: baseline", baseline_path, train, data,
                                              runtime, settings["batch_size"], workers)
        unlabeled_ids = [rid for rid, label in zip(train.recording_ids, train.labels.tolist()) if label < 0]
        labeller = PseudoLabeller(params["distill"]["pseudo_label"], len(data.class_names), train.recording_ids,
                                  cache, baseline, unlabeled_ids)
    elif cache is not None:
        targets = DistillTargets.of(params, cache, train, baseline_path, data, runtime, workers)
    strong = labeller is not None and params["distill"]["pseudo_label"]["strong_augment"]
    validation = VideoClips(frames, data.samples("val"), settings["num_segments"], "centre", in_memory=in_memory,
                            normalize=False)

    def step(batch):
        clips, labels, indices = batch
        teachers, labeled, pseudo, weights = [], None, None, None
        inputs = normalize_clips(runtime.to_device(clips))
        if targets is not None:
            teachers = targets.batch(indices.tolist(), train.epoch)
            labeled = labels >= 0
            if not labeled.all():  # label-dependent teacher terms use the targets' own class
                labels = torch.where(labeled, labels, pseudo_labels(teachers))
            else:
                labeled = None
        if labeller is not None:
            inputs, pseudo, weights = label_batch(labeller, student, inputs, labels, indices.tolist(), train.epoch,
                                                  runtime, strong)
            labeled = None if bool((labels >= 0).all()) else labels >= 0
        positions = train.segment_positions(indices.tolist()) if loss.needs_segment_positions else None
        with runtime.autocast():
            output, total, terms = trainer(inputs, runtime.to_device(labels),
                                      teacher_outputs=runtime.to_device(teachers),
                                      segment_positions=runtime.to_device(positions),
                                      labeled=runtime.to_device(labeled), pseudo_labels=runtime.to_device(pseudo),
                                      pseudo_weights=runtime.to_device(weights))
        logged = {name: value.detach() for name, value in terms.items()}
        if pseudo is not None:  # the share of the batch's clips with a pseudo-label (every batch: an exact mean)
            logged["pseudo_labelled"] = (pseudo >= 0).float().mean()
        if not runtime.distributed and len(terms) > 1:
            logged.update(term_gradient_norms(terms, loss.weights, tap_activation(output, gradient_tap)))
        return total, logged

    def validate():
        if len(validation) == 0:
            return None
        logits = student_predict(student, validation, settings["batch_size"], runtime, workers)
        return accuracy_of(logits, validation.labels)

    weights = resolve_weights(settings["weights"], settings["backbone"])
    read = [data.inputs.manifest, data.inputs.splits, frames, data.inputs.class_embeddings, weights]
    if cache is not None:
        read += [teacher_outputs, teacher_path]
    if method != "baseline" and labels_with_baseline(params):
        read += [baseline_path]
    fingerprint_config = {"student": config, "method": method, "split": data.split, "loss": loss.formula(),
                          "params": params_subset(params, BASELINE_PARAMS if method == "baseline" else DISTILL_PARAMS),
                          "inputs": input_digests(read)}
    result = fit(name=f"{method}[{data.split}]", model=distiller, parameters=distiller.trainable_parameters(),
                 train_data=loader(train, settings["batch_size"], runtime, seed, shuffle=True, drop_last=True,
                                   batch_key="student.batch_size", workers=workers),
                 step=step, validate=validate, epochs=settings["epochs"], lr=settings["lr"],
                 weight_decay=settings["weight_decay"], checkpoint_path=checkpoint, config=fingerprint_config,
                 runtime=runtime, progress=progress)
    best = {k[len("student."):]: v for k, v in result["best_state"].items() if k.startswith("student.")}
    extra = {}  # the pseudo-labels of the unlabeled recordings, where there are any
    unlabeled = not data.recordings("unlabeled").empty
    if unlabeled and labeller is not None:
        student.load_state_dict(best)
        extra = {"pseudo_labels": unlabeled_decisions(labeller, student, data, frames, settings, runtime, in_memory,
                                                      workers)}
    elif unlabeled and targets is not None and targets.source != "teachers":
        extra = {"pseudo_labels": targets.decisions(list(data.recordings("unlabeled")["recording_id"]))}
    return {**extra, "kind": "student", "method": method, "config": config, "state": best, "class_names": data.class_names,
            "best_epoch": result["best_epoch"], "history": result["history"], "split": data.split,
            "made_for": data.made_for, "loss": loss.formula(),
            "made_with": {"student.num_segments": settings["num_segments"], **cache_settings(frames, "frames")},
            "training_clips": {"labeled": int((train.labels >= 0).sum()), "unlabeled": int((train.labels < 0).sum())},
            "targets": targets.source if targets else (f"pseudo_label:{labeller.labeller}" if labeller else None),
            # the temperature the soft terms used (auto resolved; None where nothing read it)
            "temperature": params["temperature"] if targets is not None and params["temperature"] != "auto" else None}


def label_batch(labeller: PseudoLabeller, student: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                indices: list[int], epoch: int, runtime: Runtime,
                strong: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the batch's inputs, its pseudo-labels, their weights): the labeller's labels of its
    unlabeled clips (the student's view from the clip as loaded, in eval mode, no gradient),
    and those clips strongly augmented when ``strong``, so the term learns from another view
    than the one labelled."""
    unlabeled = labels < 0
    view = None
    if labeller.needs_student and unlabeled.any():
        with torch.no_grad(), evaluation_mode(student), runtime.autocast():
            view = student(inputs[unlabeled.to(inputs.device)])["logits"].float().softmax(1).cpu()
    pseudo, weights = labeller.batch(indices, epoch, unlabeled, view)
    if strong and unlabeled.any():
        rows = unlabeled.to(inputs.device)
        inputs = inputs.clone()
        inputs[rows] = strong_augment(inputs[rows])
    return inputs, pseudo, weights


def unlabeled_decisions(labeller: PseudoLabeller, student: nn.Module, data: SplitData, frames, settings: dict,
                        runtime: Runtime, in_memory, workers: int) -> dict[str, int]:
    """{unlabeled recording: its pseudo-label or -1} by the labeller's rules with the kept
    student (centre sampling, averaged over a recording's clips): the model file's record of
    what it was taught, for the reports' coverage and precision. No label is read."""
    samples = student_training_samples(data)
    samples = samples[samples["label"] < 0]
    if samples.empty:
        return {}
    ids = list(dict.fromkeys(samples["recording_id"]))
    view = None
    if labeller.needs_student:
        clips = VideoClips(frames, samples, settings["num_segments"], "centre", in_memory=in_memory, normalize=False)
        logits = student_predict(student, clips, settings["batch_size"], runtime, workers)
        rows = {rid: [i for i, r in enumerate(clips.recording_ids) if r == rid] for rid in ids}
        view = torch.stack([logits[rows[rid]].mean(0) for rid in ids]).softmax(1)
    return labeller.decisions(ids, view)


def with_resolved_temperature(params: dict, cache: TeacherOutputCache) -> dict:
    """``temperature: auto`` -> the temperature fitted on held-out teacher logits (cross-fitted
    or validation), stored in the teacher-output cache; a number stays as it is."""
    if params["temperature"] != "auto":
        return params
    if cache.fitted_temperature is None:
        raise InputError(f"{cache.path}: written before teacher outputs had a fitted temperature "
                         "(temperature: auto); rerun the teacher_outputs stage")
    if cache.temperature_at_grid_edge:
        log.warning("%s: temperature: auto uses %.4g, a bound at the edge of its search grid rather than a fit "
                    "(see teacher_outputs.json)", cache.path, cache.fitted_temperature)
    return {**params, "temperature": cache.fitted_temperature}


def shared_tap(tap_names: tuple[str, ...], paired_taps: list[str]) -> str:
    """The student tap every loss term's gradient passes through: the shallowest paired tap
    (a term on a deeper tap, or on the logits, flows back through it), else the last tap."""
    paired = [tap_names.index(tap) for tap in paired_taps if tap in tap_names]
    return tap_names[min(paired)] if paired else tap_names[-1]


def tap_activation(output: dict, tap: str) -> torch.Tensor:
    """The backbone's map at ``tap`` that the later layers read: ``output["features"][tap]``
    is a (N, T, ...) view of it, which only the losses on features read."""
    view = output["features"][tap]
    return view if view._base is None else view._base


def term_gradient_norms(terms: dict[str, torch.Tensor], weights: dict[str, float],
                        parameter: torch.Tensor) -> dict[str, torch.Tensor]:
    """``grad_<term>``: the norm of the gradient each weighted term puts on ``parameter`` (in
    training, the student's activation at ``shared_tap``, which every term reaches: fc1 is
    not, GSDM's maps are read before it), so a term that does nothing is visible in the
    training curves. A term that does not reach it gets 0."""
    norms = {}
    for name, value in terms.items():
        if not value.requires_grad:
            norms[f"grad_{name}"] = torch.zeros(())
            continue
        (gradient,) = torch.autograd.grad(weights[name] * value, parameter, retain_graph=True, allow_unused=True)
        norms[f"grad_{name}"] = torch.zeros(()) if gradient is None else gradient.detach().float().norm()
    return norms
