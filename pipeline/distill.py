"""The Distiller: frozen sensor teachers + the video student + a weighted loss, one step.

Teachers are frozen, so their outputs for a batch can be computed once and cached (the
``teacher_outputs`` stage does that); ``forward`` takes either cached teacher outputs or the
teachers' inputs. Losses that need the ablated pass (GSDM) get it here:

- the student's ablated input is one black clip, identical for every sample, so it is run
  once per step (not per sample), without gradients and in eval mode (batch statistics of
  identical black frames would be degenerate, and must not pollute the running ones);
- the teachers' ablated input is a batch of black GAF images; with SPAMFM its output depends
  on the batch size only, so it is computed once per batch size and kept.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from pipeline.losses import WeightedSum
from pipeline.losses.gsdm_channel import evaluation_mode

# A GAF image lives in [-1, 1]; rendered as a picture, -1 is black.
TEACHER_BLACK = -1.0


def detach_output(output):
    """Detach every tensor of a (nested) output dict."""
    if isinstance(output, Tensor):
        return output.detach()
    if isinstance(output, dict):
        return {key: detach_output(value) for key, value in output.items()}
    return output


class Distiller(nn.Module):
    """``forward(clips, labels, teacher_outputs=... | teacher_inputs=...)`` ->
    ``(logits, total_loss, {term: value})``.

    ``student_black``: the black frame in the student's input space, shape (3,) per channel
    (e.g. ``-mean / std`` under ImageNet normalisation); zeros when inputs are not normalised.
    Only the student and the loss's own parameters (FitNet adapters) are trainable.
    """

    def __init__(self, student: nn.Module, loss: WeightedSum, class_embeddings: Tensor,
                 teacher: nn.Module | None = None, student_black: Tensor | None = None,
                 teacher_black: float = TEACHER_BLACK):
        super().__init__()
        self.student, self.loss, self.teacher = student, loss, teacher
        self.register_buffer("class_embeddings", class_embeddings.detach().clone())
        self.register_buffer("student_black", torch.zeros(3) if student_black is None else student_black.detach().clone())
        self.teacher_black = teacher_black
        self._teacher_ablated: dict[tuple, list[dict]] = {}
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen teachers always run in eval mode
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # -- teachers -------------------------------------------------------------------------
    @torch.no_grad()
    def teacher_outputs(self, teacher_inputs: dict[str, Tensor], labels: Tensor | None = None) -> list[dict]:
        """One output dict per sensor branch, in the teacher's sensor order (no gradients);
        with GSDM's channel importance and ``labels``, each branch's ``gsdm_maps`` too, scored
        with the batch as one graph, as the teachers see it here (the cache scores each
        recording in its own reference group instead: ``TeacherPredictor.gsdm_maps``)."""
        if self.teacher is None:
            raise ValueError("this Distiller has no teacher network: pass cached teacher_outputs")
        self.teacher.eval()
        branches = self.teacher(teacher_inputs)["branches"]
        outputs = [detach_output(branches[sensor]) for sensor in self.teacher.sensors]
        term = self.loss.channel_importance
        if term is not None and labels is not None:
            from pipeline.losses.gsdm_channel import teacher_channel_maps

            for sensor, output in zip(self.teacher.sensors, outputs):
                output["gsdm_maps"] = {
                    teacher_tap: teacher_channel_maps(self.teacher, teacher_inputs, teacher_tap, sensor,
                                                      self.class_embeddings, labels, term.readout)[1]
                    for teacher_tap in sorted({pair[0] for pair in term.pairs})}
        return outputs

    def student_channel_weights(self, student: dict, labels: Tensor) -> dict[str, Tensor]:
        """GSDM's per-channel weights of the student at each paired student tap (closed form
        at its last stage, rerun elsewhere; docs/method.md §5), detached."""
        from pipeline.losses.gsdm_channel import channel_weights, student_scores_at

        term = self.loss.channel_importance
        weights = {}
        for student_tap in sorted({pair[1] for pair in term.pairs}):
            scores, ablated = student_scores_at(self.student, student_tap, student["features"][student_tap].detach(),
                                                self.class_embeddings, labels, term.readout)
            weights[student_tap] = channel_weights(scores, ablated).detach()
        return weights

    def ablated_teacher_outputs(self, batch_size: int, like: dict[str, Tensor]) -> list[dict]:
        """The teachers on a batch of black GAF images, cached per batch size."""
        reference = next(iter(like.values()))
        key = (batch_size, tuple(reference.shape[1:]), reference.device, reference.dtype)
        if key not in self._teacher_ablated:
            black = {sensor: torch.full((batch_size, *x.shape[1:]), self.teacher_black, dtype=x.dtype, device=x.device)
                     for sensor, x in like.items()}
            self._teacher_ablated[key] = self.teacher_outputs(black)
        return self._teacher_ablated[key]

    # -- student --------------------------------------------------------------------------
    @torch.no_grad()
    def ablated_student_output(self, clips: Tensor) -> dict:
        """The student on ONE black clip, broadcast to the batch."""
        black = self.student_black.to(clips.dtype).reshape(1, 1, -1, 1, 1).expand(1, *clips.shape[1:])
        with evaluation_mode(self.student):
            output = self.student(black.contiguous())
        return {key: output[key].expand(len(clips), *output[key].shape[1:]) for key in ("logits", "semantic")}

    # -- one step ---------------------------------------------------------------------------
    def forward(self, clips: Tensor, labels: Tensor, teacher_outputs: list[dict] | None = None,
                teacher_inputs: dict[str, Tensor] | None = None,
                segment_positions: Tensor | None = None,
                labeled: Tensor | None = None, pseudo_labels: Tensor | None = None,
                pseudo_weights: Tensor | None = None) -> tuple[dict, Tensor, dict[str, Tensor]]:
        """(the student's output, the total loss, its terms). ``segment_positions`` (N, T): where each sampled frame lies in its video, as a
        fraction of its length (GSDM's temporal alignment needs it). ``labeled`` (N,) bool:
        which clips have a real label (None: all); the others' ``labels`` are pseudo-labels,
        which terms on the label (cross-entropy) leave out. ``pseudo_labels`` and
        ``pseudo_weights`` (N,): a labeller's labels of the unlabeled clips (-1: none) and their
        weights, for the pseudo-label term."""
        if teacher_outputs is None:
            if teacher_inputs is None:
                raise ValueError("pass teacher_outputs (cached) or teacher_inputs")
            teacher_outputs = self.teacher_outputs(teacher_inputs, labels)
        student = self.student(clips)
        if self.loss.channel_importance is not None:
            student = {**student, "gsdm_weights": self.student_channel_weights(student, labels)}
        if self.loss.needs_ablation:
            student = {**student, "ablated": self.ablated_student_output(clips)}
            if any("ablated" not in t for t in teacher_outputs):
                if teacher_inputs is None:
                    raise ValueError("GSDM needs the teachers' ablated pass: cache it with the outputs or pass teacher_inputs")
                ablated = self.ablated_teacher_outputs(len(clips), teacher_inputs)
                teacher_outputs = [{**t, "ablated": a} for t, a in zip(teacher_outputs, ablated)]
        targets = {"labels": labels, "class_embeddings": self.class_embeddings}
        if segment_positions is not None:
            targets["segment_positions"] = segment_positions
        if labeled is not None:
            targets["labeled"] = labeled
        if pseudo_labels is not None:
            targets["pseudo_labels"], targets["pseudo_weights"] = pseudo_labels, pseudo_weights
        total, terms = self.loss(student, teacher_outputs, targets)
        return student, total, terms


def sakdn_loss(alpha: float, beta: float, gamma: float, temperature: float,
               gsdm_pairs, readout: str = "soft", importance: str = "channel", align: str = "spatial") -> WeightedSum:
    """``L_S = CE + alpha L_ST + beta L_GSDM + gamma L_SP^S``: the registry's ``sakdn``
    objective with these values in place of the params keys of the same names
    (``gsdm_pairs``: ``distill.layer_pairs``, [(teacher tap, student tap)], no default)."""
    from pipeline.losses import build_objective

    params = {"alpha": alpha, "beta": beta, "gamma": gamma, "temperature": temperature,
              "distill": {"layer_pairs": list(gsdm_pairs), "readout": readout, "importance": importance,
                          "align": align, "dkd": {"weight": 0.0}, "contrastive": {"weight": 0.0}}}
    return build_objective(params, "sakdn")
