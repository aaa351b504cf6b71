"""Knowledge-distillation baselines from the paper's comparison tables (docs/method.md §6), each
between the student and every teacher, averaged over teachers. Student feature maps are
averaged over segments and pooled with the teacher's to the smaller spatial size."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.losses.common import check_pairs, pool_to_common, segment_average, tap
from pipeline.losses.registry import Loss, layer_pairs, param, register_loss


def _embedding_pair(student: dict, teacher: dict) -> tuple[Tensor, Tensor]:
    """The penultimate embeddings compared by relation-based losses: H^S and teacher fc2."""
    return student["semantic"], teacher["fc2"].to(student["semantic"].dtype)


@register_loss("logits", method=True)
class LogitMatching(Loss):
    """MSE between student and teacher logits (Ba & Caruana)."""

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        logits = student["logits"]
        return torch.stack([F.mse_loss(logits, t["logits"].to(logits.dtype)) for t in teachers]).mean()


@register_loss("fitnet", method=True)
class FitNet(Loss):
    """Hint regression (Romero et al.): a 1x1 convolution adapts the student's map to the
    teacher's channels; MSE after pooling to a common size. The adapters are trained with
    the student (they are parameters of this loss)."""

    needs_teacher_features = True

    @classmethod
    def from_params(cls, params: dict, *, student_channels: list[int] | None = None,
                    teacher_channels: list[int] | None = None, **context) -> "FitNet":
        """``distill.layer_pairs``; the channel counts of each pair's taps come from the models."""
        if not student_channels or not teacher_channels:
            raise ValueError("fitnet needs student_channels and teacher_channels (one per layer pair) in its context")
        return cls(layer_pairs(params), student_channels, teacher_channels)

    def __init__(self, pairs, student_channels: list[int], teacher_channels: list[int]):
        super().__init__()
        self.pairs = check_pairs(pairs)
        if not len(self.pairs) == len(student_channels) == len(teacher_channels):
            raise ValueError("fitnet needs one student and one teacher channel count per layer pair")
        self.adapters = nn.ModuleList(
            nn.Conv2d(s, t, kernel_size=1, bias=False) for s, t in zip(student_channels, teacher_channels)
        )

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        losses = []
        for adapter, (teacher_tap, student_tap) in zip(self.adapters, self.pairs):
            hint = adapter(segment_average(tap(student, student_tap, "student")))
            for teacher in teachers:
                target = tap(teacher, teacher_tap, "teacher")
                if target.shape[1] != hint.shape[1]:
                    raise ValueError(f"fitnet: teacher {teacher_tap} has {target.shape[1]} channels, the adapter "
                                     f"for {student_tap} makes {hint.shape[1]} (teacher_channels is wrong)")
                guided, target = pool_to_common(hint, target.to(hint.dtype))
                losses.append(F.mse_loss(guided, target))
        return torch.stack(losses).mean()


def attention_vector(features: Tensor, p: float = 2.0) -> Tensor:
    """Zagoruyko & Komodakis: ``normalize(mean_c |A|^p)`` flattened, (N, H*W)."""
    return F.normalize(features.abs().pow(p).mean(dim=1).flatten(1), dim=1)


@register_loss("at", method=True)
class AttentionTransfer(Loss):
    """``mean (a_S - a_T)^2`` of normalised spatial attention maps ``mean_c |A|^p``, per layer
    pair (``distill.layer_pairs``; ``p``: ``distill.at.p``)."""

    needs_teacher_features = True

    @classmethod
    def from_params(cls, params: dict, **context) -> "AttentionTransfer":
        return cls(layer_pairs(params), p=param(params, "distill.at.p"))

    def __init__(self, pairs, p: float = 2.0):
        super().__init__()
        if not p > 0:
            raise ValueError(f"at: p must be > 0, got {p}")
        self.pairs, self.p = check_pairs(pairs), p

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        losses = []
        for teacher_tap, student_tap in self.pairs:
            student_map = segment_average(tap(student, student_tap, "student")).abs().pow(self.p).mean(dim=1)
            for teacher in teachers:
                teacher_map = tap(teacher, teacher_tap, "teacher").abs().pow(self.p).mean(dim=1)
                s, t = pool_to_common(student_map, teacher_map.to(student_map.dtype))
                losses.append((F.normalize(s.flatten(1), dim=1) - F.normalize(t.flatten(1), dim=1)).pow(2).mean())
        return torch.stack(losses).mean()


def pairwise_distances(embeddings: Tensor) -> Tensor:
    squared = embeddings.pow(2).sum(dim=1)
    return (squared.unsqueeze(1) + squared.unsqueeze(0) - 2 * embeddings @ embeddings.t()).clamp_min(1e-12).sqrt()


@register_loss("rkd", method=True)
class RelationalKD(Loss):
    """Relational KD (Park et al. 2019): distance-wise (pairwise distances normalised by
    their mean) and angle-wise (cosines of the angles of every triplet) Huber losses on the
    embeddings, weighted ``distill.rkd.distance_weight`` and ``distill.rkd.angle_weight``
    (25 and 50 as in the paper). Both are invariant to a global scaling."""

    @classmethod
    def from_params(cls, params: dict, **context) -> "RelationalKD":
        return cls(distance_weight=param(params, "distill.rkd.distance_weight"),
                   angle_weight=param(params, "distill.rkd.angle_weight"))

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0):
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    @staticmethod
    def normalised_distances(embeddings: Tensor) -> Tensor:
        distances = pairwise_distances(embeddings)
        off_diagonal = ~torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
        return distances / distances[off_diagonal].mean().clamp_min(1e-12)

    @staticmethod
    def angles(embeddings: Tensor) -> Tensor:
        directions = F.normalize(embeddings.unsqueeze(0) - embeddings.unsqueeze(1), p=2, dim=2)
        return torch.bmm(directions, directions.transpose(1, 2)).flatten()

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        losses = []
        for teacher in teachers:
            s, t = _embedding_pair(student, teacher)
            t = t.detach()
            distance = F.smooth_l1_loss(self.normalised_distances(s), self.normalised_distances(t))
            angle = F.smooth_l1_loss(self.angles(s), self.angles(t))
            losses.append(self.distance_weight * distance + self.angle_weight * angle)
        return torch.stack(losses).mean()


@register_loss("sp", method=True)
class SimilarityPreserving(Loss):
    """Tung & Mori 2019: ``||G_S - G_T||_F^2 / b^2`` with G the row-normalised batch Gram
    matrix of a layer's flattened activations, per layer pair (``distill.layer_pairs``)."""

    needs_teacher_features = True

    @classmethod
    def from_params(cls, params: dict, **context) -> "SimilarityPreserving":
        return cls(layer_pairs(params))

    def __init__(self, pairs):
        super().__init__()
        self.pairs = check_pairs(pairs)

    @staticmethod
    def gram(features: Tensor) -> Tensor:
        flat = features.flatten(1)
        return F.normalize(flat @ flat.t(), p=2, dim=1)

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        losses = []
        for teacher_tap, student_tap in self.pairs:
            student_gram = self.gram(segment_average(tap(student, student_tap, "student")))
            for teacher in teachers:
                teacher_gram = self.gram(tap(teacher, teacher_tap, "teacher")).to(student_gram.dtype)
                losses.append((student_gram - teacher_gram).pow(2).sum() / len(student_gram) ** 2)
        return torch.stack(losses).mean()


@register_loss("cc", method=True)
class CorrelationCongruence(Loss):
    """Correlation congruence (Peng et al. 2019): match the batch correlation matrices of the
    L2-normalised embeddings, ``||C_S - C_T||^2 / b^2``, with the Gaussian RBF kernel
    ``C_ij = exp(-gamma ||e_i - e_j||^2)`` (``gamma``: ``distill.cc.gamma``) computed exactly
    (the paper approximates it with a Taylor series)."""

    @classmethod
    def from_params(cls, params: dict, **context) -> "CorrelationCongruence":
        return cls(gamma=param(params, "distill.cc.gamma"))

    def __init__(self, gamma: float = 0.4):
        super().__init__()
        self.gamma = gamma

    def correlation(self, embeddings: Tensor) -> Tensor:
        normalised = F.normalize(embeddings, dim=1)
        return torch.exp(-self.gamma * pairwise_distances(normalised).pow(2))

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        losses = []
        for teacher in teachers:
            s, t = _embedding_pair(student, teacher)
            losses.append((self.correlation(s) - self.correlation(t)).pow(2).sum() / len(s) ** 2)
        return torch.stack(losses).mean()
