"""The test split, read once per run: the teachers (fused and per sensor) and each student
model file, with per-sample predictions for paired comparisons. Students skipped for want
of video are reported as such."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from pipeline.data import SensorImages, VideoClips
from pipeline.errors import InputError
from pipeline.frames import frame_cache_has_video
from pipeline.io import atomic_output
from pipeline.metrics import accuracy_of, classification_metrics, confusion_table
from pipeline.pseudo_labels import quality
from pipeline.training import Runtime
from pipeline.workflow.inputs import SplitData, cache_settings, check_gaf_settings
from pipeline.workflow.model_files import check_made_with, load_model_file
from pipeline.workflow.teacher_inference import class_sorted_order, load_teacher_predictor, teacher_predict_in_batches


def load_student(path: str | Path, runtime: Runtime) -> nn.Module:
    from pipeline.workflow.student_inference import student_from  # torchvision: for students only

    return student_from(load_model_file(path, "student"), runtime)


def skipped_students(models: dict[str, str], frames: str | Path) -> dict[str, str]:
    """{name: path} of the student model files whose training was skipped for want of video.
    Such a file while the frame cache holds videos is out of date: an error."""
    skipped = {}
    for name, path in models.items():
        saved = load_model_file(path, "student", allow_skipped=True)
        if saved.get("skipped"):
            if frame_cache_has_video(frames):
                raise InputError(f"{path}: its training was skipped ({saved['reason']}), but {frames} holds videos; "
                                 "rerun its stage (`dvc repro`)")
            skipped[name] = path
    return skipped


def evaluate(params: dict, data: SplitData, models: dict[str, str], runtime: Runtime,
             skipped: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Test-set metrics of the teachers (fused and per sensor) and each student model, with
    each student's validation summary (the epoch its model file keeps and that epoch's
    validation accuracy, read from the file, not recomputed). Returns (metrics, predictions)
    with predictions[name] = (labels, predicted). The ``skipped`` students' files
    (``skipped_students``) give ``{"skipped": reason}`` and no prediction."""
    metrics, predictions = {}, {}
    # read (and checked against the split) before the teachers run
    reasons = {name: load_model_file(path, "student", data, allow_skipped=True)["reason"]
               for name, path in (skipped or {}).items()}
    check_gaf_settings(params, data)
    predictor = load_teacher_predictor(models.pop("teachers"), runtime, data)
    in_memory, workers = params["train"]["cache_in_memory"], params["train"]["workers"]
    recordings = SensorImages(data.inputs.need("gaf"), predictor.teacher.sensors, data.recordings("test"), in_memory)
    predicted = predictor.predict(recordings)
    labels = recordings.labels.numpy()
    teacher_metrics = {}
    for name, logits in [("fused", predicted["logits"])] + [(s, b["logits"]) for s, b in predicted["branches"].items()]:
        teacher_metrics[name] = classification_metrics(labels, logits.argmax(1).numpy(), data.class_names)
        predictions[f"teachers_{name}"] = (labels, logits.argmax(1).numpy())
    if predictor.teacher.batch_dependent:
        # Diagnostic only: the authors' protocol, fixed batches in class-sorted order, where
        # SPAMFM's similarity can carry the label (docs/method.md §3).
        sorted_logits = teacher_predict_in_batches(predictor.teacher, recordings, params["teacher"]["batch_size"],
                                                   runtime, class_sorted_order(recordings))["logits"]
        teacher_metrics["fused"]["class_sorted_accuracy"] = round(accuracy_of(sorted_logits, recordings.labels), 2)
    metrics["teachers"] = teacher_metrics
    # How many training recordings kept their label (splits.labeled_fraction): the teachers and
    # the baseline learnt from those, a distilled student from all of them.
    metrics["training"] = {"labeled_recordings": len(data.recordings("train")),
                           "unlabeled_recordings": len(data.recordings("unlabeled"))}
    metrics.update({name: {"skipped": reason} for name, reason in reasons.items()})
    if not models:
        return metrics, predictions  # the teachers alone (and skipped students): no video is read
    from pipeline.workflow.student_inference import student_from, student_predict  # torchvision: for students only

    clips = VideoClips(data.inputs.need("frames"), data.samples("test"), params["student"]["num_segments"], "centre",
                       in_memory=in_memory, normalize=False)
    frames = data.inputs.need("frames")
    current = {"student.num_segments": params["student"]["num_segments"], **cache_settings(frames, "frames")}
    for name, path in models.items():
        saved = load_model_file(path, "student", data)
        check_made_with(saved, current, path, f"params.yaml or {frames}")
        logits = student_predict(student_from(saved, runtime), clips, params["student"]["batch_size"], runtime, workers)
        metrics[name] = classification_metrics(clips.labels.numpy(), logits.argmax(1).numpy(), data.class_names)
        metrics[name].update(validation_summary(saved))
        if "training_clips" in saved:
            metrics[name]["training_clips"] = saved["training_clips"]
        if saved.get("temperature") is not None:
            metrics[name]["temperature"] = saved["temperature"]
        if "pseudo_labels" in saved:
            metrics[name]["pseudo_labels"] = pseudo_label_quality(saved["pseudo_labels"], data)
        # Per test sample, so two models can be compared recording by recording (McNemar).
        metrics[name]["per_sample"] = {"sample_id": list(clips.sample_ids), "label": clips.labels.tolist(),
                                       "predicted": logits.argmax(1).tolist()}
        predictions[name] = (clips.labels.numpy(), logits.argmax(1).numpy())
    return metrics, predictions


def pseudo_label_quality(assigned: dict[str, int], data: SplitData) -> dict:
    """The coverage and precision of a student's pseudo-labels over the split's unlabeled
    training recordings, against the manifest's labels (read here, for the report, after
    training: no model and no choice reads them)."""
    unlabeled = data.recordings("unlabeled")
    truth = dict(zip(unlabeled["recording_id"], unlabeled["label"].astype(int)))
    try:
        result = quality(assigned, truth)
    except ValueError as error:
        raise InputError(f"pseudo-labels made for other unlabeled recordings than the split's: {error}") from None
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}


def validation_summary(saved: dict) -> dict:
    """``best_epoch`` of a model file and ``best_val_accuracy``, the validation accuracy of that
    epoch (absent when the split has no validation part)."""
    kept = next((record for record in saved.get("history", []) if record["epoch"] == saved.get("best_epoch")), None)
    if kept is None or kept.get("val_accuracy") is None:
        return {}
    return {"best_epoch": saved["best_epoch"], "best_val_accuracy": round(kept["val_accuracy"], 2)}


# What `dvc metrics show` shows of each student: one row per split, one column per number.
STUDENT_SUMMARY = ("skipped", "samples", "accuracy", "f_measure", "best_val_accuracy", "best_epoch", "training_clips",
                   "temperature", "pseudo_labels")


def metrics_summary(metrics: dict, students) -> dict:
    """The metrics file of a split, keyed by model: the teachers (each test recording with the
    reference set: the result; the fused teacher in class-sorted batches too, labelled as the
    diagnostic it is, docs/method.md §3), each student's numbers and the training recordings."""
    summary = {"teachers": {name: {k: m[k] for k in ("accuracy", "f_measure", "class_sorted_accuracy") if k in m}
                            for name, m in metrics["teachers"].items()}}
    summary["teachers"]["fused"]["samples"] = metrics["teachers"]["fused"]["samples"]  # test recordings scored
    for name in students:
        summary[name] = {k: metrics[name][k] for k in STUDENT_SUMMARY if k in metrics[name]}
    summary["training"] = metrics["training"]  # labelled and unlabeled recordings (splits.labeled_fraction)
    return summary


def write_confusion_tables(folder: str | Path, predictions: dict, class_names: list[str], skipped) -> None:
    """``confusion_<model>.csv`` per model (DVC plots); a skipped student's holds the header only."""
    predictions = {**predictions, **{name: ([], []) for name in skipped}}
    for name, (labels, predicted) in predictions.items():
        with atomic_output(Path(folder) / f"confusion_{name}.csv") as temporary:
            confusion_table(labels, predicted, class_names).to_csv(temporary, index=False)


def evaluation_line(split: str, summary: dict, metrics: dict, trained, skipped) -> str:
    """One line: each model's test accuracy, and why a student was skipped (once per reason)."""
    skipped_for = {}  # reason -> models: one mention of "no video" for both students
    for name in skipped:
        skipped_for.setdefault(metrics[name]["skipped"], []).append(name)
    return (f"{split}: " + ", ".join([f"teachers {summary['teachers']['fused']['accuracy']:.2f}%"]
                                     + [f"{name} {summary[name]['accuracy']:.2f}%" for name in trained])
            + "".join(f"; {' and '.join(names)} skipped ({reason})" for reason, names in skipped_for.items()))
