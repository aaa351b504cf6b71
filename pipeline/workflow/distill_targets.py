"""What a distilled student learns from, clip by clip (``distill.targets``, docs/method.md §6c):
the teachers' cached outputs of its recording (the method, with the pairing controls of
``TeacherOutputCache``), or a control's: the teachers' argmax as a one-hot distribution
(``teacher_labels``), or the frozen baseline student's outputs (``baseline``: self-training,
video only). Also the training clips themselves: labelled ones, and the unlabeled ones with
their label hidden."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from pipeline.data import VideoClips
from pipeline.errors import InputError
from pipeline.training import Runtime
from pipeline.workflow.inputs import SplitData, cache_settings
from pipeline.workflow.model_files import check_made_with, load_model_file
from pipeline.workflow.student_inference import student_from, student_predict
from pipeline.workflow.teacher_outputs import TeacherOutputCache

# A logit this far above the rest is a one-hot distribution at any temperature the params allow
# (softmax(1e4 / 100) leaves e^-100 off the argmax), and finite, so no loss meets 0 * log 0.
HARD_LOGIT = 1e4
HIDDEN = -1  # the label of an unlabeled clip, as the student's loader sees it


def student_training_samples(data: SplitData) -> pd.DataFrame:
    """The distilled student's training samples: the labelled ones, and the unlabeled ones
    (``splits.labeled_fraction`` < 1) with ``label`` -1 and no class name, so that nothing the
    training loop reads holds their label."""
    labeled, unlabeled = data.samples("train"), data.samples("unlabeled")
    if unlabeled.empty:
        return labeled
    unlabeled = unlabeled.assign(label=HIDDEN)
    if "class_name" in unlabeled.columns:
        unlabeled = unlabeled.assign(class_name="")
    return pd.concat([labeled, unlabeled]).sort_values("sample_id").reset_index(drop=True)


def pseudo_labels(outputs: list[dict]) -> torch.Tensor:
    """The targets' own class per row: the fused teacher's prediction, the argmax of the mean of
    the branches' logits (the rule the teachers are scored by, and their cached GSDM maps)."""
    return torch.stack([o["logits"].float() for o in outputs]).mean(0).argmax(1)


def baseline_logits(path: str | Path, clips: VideoClips, data: SplitData, runtime: Runtime, batch_size: int,
                    workers: int = 0) -> dict[str, torch.Tensor]:
    """{recording id: the frozen baseline student's logits}, from each of its training clips at
    centre sampling (averaged over a recording's clips, e.g. its views)."""
    saved = load_model_file(path, "student", data)
    check_made_with(saved, {"student.num_segments": clips.num_segments, **cache_settings(clips.cache.path, "frames")},
                    path, f"the distilled student's clips ({clips.cache.path})")
    if saved.get("method") != "baseline":
        raise InputError(f"{path}: a {saved.get('method')!r} student; distill.targets: baseline needs the baseline's")
    centred = VideoClips(clips.cache.path, pd.DataFrame({"sample_id": clips.sample_ids, "recording_id": clips.recording_ids,
                                                        "label": clips.labels.numpy()}),
                         clips.num_segments, "centre", in_memory=clips.frames is not None, normalize=False)
    logits = student_predict(student_from(saved, runtime), centred, batch_size, runtime, workers)
    by_recording = pd.Series(range(len(centred.recording_ids))).groupby(centred.recording_ids).apply(list)
    return {rid: logits[rows].mean(0) for rid, rows in by_recording.items()}


def frozen_baseline_logits(needed_by: str, path: str | Path | None, clips: VideoClips, data: SplitData,
                           runtime: Runtime, batch_size: int, workers: int = 0) -> dict[str, torch.Tensor]:
    """``baseline_logits`` of the baseline model file at ``path``; an error naming the setting
    that ``needed_by`` it when the file is missing."""
    if path is None or not Path(path).is_file():
        raise InputError(f"{needed_by} needs the baseline student's model file "
                         f"({path or 'none given'}: run the baseline stage first)")
    return baseline_logits(path, clips, data, runtime, batch_size, workers)


class DistillTargets:
    """``batch(indices, epoch)``: the target outputs (one dict per teacher) of the training
    clips at ``indices`` of ``recording_ids``."""

    def __init__(self, source: str, cache: TeacherOutputCache, recording_ids: list[str],
                 baseline: dict[str, torch.Tensor] | None = None):
        if source == "baseline" and baseline is None:
            raise ValueError("distill.targets: baseline needs the baseline's logits")
        self.source, self.cache, self.recording_ids, self.baseline = source, cache, recording_ids, baseline

    @classmethod
    def of(cls, params: dict, cache: TeacherOutputCache, clips: VideoClips, baseline_path: str | Path | None,
           data: SplitData, runtime: Runtime, workers: int = 0) -> "DistillTargets":
        source = params["distill"]["targets"]
        baseline = None
        if source == "baseline":
            baseline = frozen_baseline_logits("distill.targets: baseline", baseline_path, clips, data, runtime,
                                              params["student"]["batch_size"], workers)
        return cls(source, cache, clips.recording_ids, baseline)

    def decisions(self, recording_ids: list[str]) -> dict[str, int] | None:
        """{recording: the class its targets put first} (the first epoch's pairing) for the
        hard-label and self-training controls, whose targets are pseudo-labels of a kind; None
        for the teachers' soft outputs."""
        if self.source == "teachers" or not recording_ids:
            return None if self.source == "teachers" else {}
        if self.source == "baseline":
            classes = torch.stack([self.baseline[rid] for rid in recording_ids]).argmax(1)
        else:
            classes = pseudo_labels([{"logits": branch} for branch in self.cache.logits(list(recording_ids), 0)])
        return {rid: int(label) for rid, label in zip(recording_ids, classes.tolist())}

    def batch(self, indices: list[int], epoch: int = 0) -> list[dict]:
        ids = [self.recording_ids[i] for i in indices]
        if self.source == "baseline":
            return [{"logits": torch.stack([self.baseline[rid] for rid in ids])}]
        outputs = self.cache.batch(ids, epoch)
        if self.source == "teacher_labels":
            hard = F.one_hot(pseudo_labels(outputs), outputs[0]["logits"].shape[1]).float() * HARD_LOGIT
            outputs = [{**output, "logits": hard.to(output["logits"].dtype)} for output in outputs]
        return outputs
