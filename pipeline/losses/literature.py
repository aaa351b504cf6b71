"""Terms from the literature's measured winners (docs/method.md §6b): decoupled KD (``dkd``),
a paired InfoNCE between the student's ``H^S`` and each teacher's ``fc2`` (``contrastive``),
and a label-smoothing control (``label_smoothing``) whose mass can match the teachers'."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.losses.common import kl_divergence, labeled_only
from pipeline.losses.registry import Loss, param, register_loss


def _float32(tensor: Tensor) -> Tensor:
    return tensor.float() if tensor.is_floating_point() else tensor


def _no_autocast(tensor: Tensor):
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _split_target(scaled: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(b,) log p_target and (b, C-1) the non-target logits, the target column removed (so
    that the non-target softmax is exact, with no -inf or -1000 stand-in)."""
    log_target = F.log_softmax(scaled, dim=1).gather(1, labels.unsqueeze(1)).squeeze(1)
    keep = torch.arange(scaled.shape[1], device=scaled.device) != labels.unsqueeze(1)
    return log_target, scaled[keep].view(len(scaled), -1)


def _binary_log_probs(scaled: Tensor, log_target: Tensor, non_target: Tensor) -> Tensor:
    """log [p_t, 1 - p_t] (b, 2); ``1 - p_t`` in log space (logsumexp of the others minus
    that of all) so that a confident p_t ~ 1 does not round it to log 0."""
    log_rest = torch.logsumexp(non_target, dim=1) - torch.logsumexp(scaled, dim=1)
    return torch.stack([log_target, log_rest], dim=1)


def dkd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float,
             target_weight: float = 1.0, non_target_weight: float = 8.0) -> Tensor:
    """Decoupled KD (Zhao et al., CVPR 2022): ``T^2 (target_weight TCKD + non_target_weight
    NCKD)``, batch mean. TCKD = KL(b^T || b^S) of the binary [p_target, 1 - p_target];
    NCKD = KL(p̂^T || p̂^S) of the softmax over the non-target classes; both at ``T``."""
    # float64: log(1 - p_t) and small KLs vanish in bfloat16, and T^2 times float32 rounding can
    # be negative at a large fitted T (``kl_divergence``)
    with _no_autocast(student_logits):
        student = student_logits.double() / temperature
        teacher = teacher_logits.double().detach() / temperature
        student_target, student_rest = _split_target(student, labels)
        teacher_target, teacher_rest = _split_target(teacher, labels)
        tckd = kl_divergence(_binary_log_probs(teacher, teacher_target, teacher_rest),
                             _binary_log_probs(student, student_target, student_rest)).mean()
        nckd = kl_divergence(F.log_softmax(teacher_rest, dim=1), F.log_softmax(student_rest, dim=1)).mean()
        return (temperature**2 * (target_weight * tckd + non_target_weight * nckd)).float()


@register_loss("dkd", method=True)
class DecoupledKD(Loss):
    """DKD between the student and every teacher (``dkd_loss``), mean over teachers."""

    @classmethod
    def from_params(cls, params: dict, **context) -> "DecoupledKD":
        return cls(temperature=param(params, "temperature"),
                   target_weight=param(params, "distill.dkd.target_weight"),
                   non_target_weight=param(params, "distill.dkd.non_target_weight"))

    def __init__(self, temperature: float = 4.0, target_weight: float = 1.0, non_target_weight: float = 8.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"dkd: temperature must be > 0, got {temperature}")
        self.temperature, self.target_weight, self.non_target_weight = temperature, target_weight, non_target_weight

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        return torch.stack([dkd_loss(student["logits"], t["logits"], targets["labels"], self.temperature,
                                     self.target_weight, self.non_target_weight) for t in teachers]).mean()


@register_loss("contrastive", method=True)
class PairedContrastive(Loss):
    """Paired InfoNCE: ``z_s = normalize(P_s(H^S))`` must pick its own recording's projected
    teacher ``fc2`` among the candidates, ``CE(z_s z_c^T / tau, positive)``, mean over
    teachers. The candidates are the teacher's cached ``fc2_bank`` of every training recording
    (positive ``bank_index``) when the teacher dict has one, else the batch's own teacher
    ``fc2`` (positive: the same row). The heads ``P_s`` and ``P_k`` (one per teacher) train
    with the student; the teacher rows are constants."""

    @classmethod
    def from_params(cls, params: dict, *, embedding_dim: int | None = None, num_teachers: int | None = None,
                    **context) -> "PairedContrastive":
        """``distill.contrastive.*``; ``embedding_dim`` (of H^S and fc2) and ``num_teachers``
        come from the models."""
        if embedding_dim is None or num_teachers is None:
            raise ValueError("contrastive needs embedding_dim and num_teachers in its context")
        return cls(embedding_dim, embedding_dim, num_teachers,
                   dimension=param(params, "distill.contrastive.dimension"),
                   temperature=param(params, "distill.contrastive.temperature"))

    def __init__(self, student_dim: int, teacher_dim: int, num_teachers: int, dimension: int = 128,
                 temperature: float = 0.07):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"contrastive: temperature must be > 0, got {temperature}")
        if num_teachers < 1:
            raise ValueError(f"contrastive: needs at least one teacher, got {num_teachers}")
        self.temperature = temperature
        self.student_projection = nn.Linear(student_dim, dimension)
        self.teacher_projections = nn.ModuleList(nn.Linear(teacher_dim, dimension) for _ in range(num_teachers))

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        if len(teachers) != len(self.teacher_projections):
            raise ValueError(f"contrastive: built for {len(self.teacher_projections)} teachers, got {len(teachers)}")
        semantic = student["semantic"]
        # float32: logits scaled by 1/0.07 over a bank of hundreds of rows lose the positive's
        # margin in bfloat16.
        with _no_autocast(semantic):
            z_student = F.normalize(self.student_projection(_float32(semantic)), dim=1)
            losses = []
            for projection, teacher in zip(self.teacher_projections, teachers):
                if "fc2_bank" in teacher and "bank_index" in teacher:
                    candidates, positive = teacher["fc2_bank"], teacher["bank_index"]
                else:
                    candidates = teacher["fc2"]
                    positive = torch.arange(len(semantic), device=semantic.device)
                z_candidates = F.normalize(projection(_float32(candidates).detach()), dim=1)
                losses.append(F.cross_entropy(z_student @ z_candidates.t() / self.temperature, positive))
            return torch.stack(losses).mean()


def mean_non_target_mass(teacher_logits: Tensor, labels: Tensor, temperature: float) -> float:
    """``mean_i 1 - softmax(logits_i / T)[y_i]``: the probability a teacher spreads off the
    label at ``T`` (label smoothing's epsilon for ``epsilon: auto``)."""
    with torch.no_grad():
        probabilities = F.softmax(_float32(teacher_logits) / temperature, dim=1)
        return float((1 - probabilities.gather(1, labels.unsqueeze(1))).mean())


@register_loss("label_smoothing")
class LabelSmoothing(Loss):
    """Cross-entropy against ``q = 1 - eps`` on the label and ``eps / (C - 1)`` on each other
    class: the teachers' non-target mass without their per-recording shape (a control for KD).
    Unlike torch's ``label_smoothing``, which spreads eps over all C classes (the label keeps
    ``1 - eps + eps / C``), the label gets exactly ``1 - eps``, as a teacher's p_target."""

    @classmethod
    def from_params(cls, params: dict, *, non_target_mass: float | None = None, **context) -> "LabelSmoothing":
        """``distill.label_smoothing.epsilon``; ``auto``: the context's ``non_target_mass``
        (``mean_non_target_mass`` of the teachers' training outputs)."""
        epsilon = param(params, "distill.label_smoothing.epsilon")
        if epsilon == "auto":
            if non_target_mass is None:
                raise ValueError("label_smoothing: epsilon auto needs the teachers' outputs "
                                 "(non_target_mass in its context)")
            epsilon = non_target_mass
        return cls(epsilon=float(epsilon))

    def __init__(self, epsilon: float = 0.1):
        super().__init__()
        if not 0 <= epsilon < 1:
            raise ValueError(f"label_smoothing: epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = epsilon

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        logits, labels = labeled_only(student["logits"], targets)
        if len(labels) == 0:
            return student["logits"].sum() * 0
        with _no_autocast(logits):
            log_probabilities = F.log_softmax(_float32(logits), dim=1)
            classes = log_probabilities.shape[1]
            q = torch.full_like(log_probabilities, self.epsilon / max(classes - 1, 1))
            q.scatter_(1, labels.unsqueeze(1), 1 - self.epsilon)
            return -(q * log_probabilities).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon:g}"
