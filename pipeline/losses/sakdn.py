"""SAKDN's loss terms (docs/method.md §5): ``L_S = CE + alpha L_ST + beta L_GSDM + gamma L_SP^S``."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pipeline.losses.common import check_pairs, kl_divergence, labeled_only, pool_to_common, tap
from pipeline.losses.registry import Loss, layer_pairs, param, register_loss

READOUTS = ("soft", "argmax")
# channel: Ablation-CAM per channel (the paper's GSDM, docs/method.md §5); norm and elementwise:
# the authors' whole-input ablation, one scalar per sample, with two ratios.
IMPORTANCES = ("channel", "norm", "elementwise")
# spatial: the maps are compared pixel by pixel (the paper); temporal: as time profiles, the
# teacher's GAF map read at the clip positions of the student's sampled frames.
ALIGNS = ("spatial", "temporal")


@register_loss("ce")
class CrossEntropy(Loss):
    """Cross-entropy on the labelled clips of the batch (0, with a gradient, when it has none)."""

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        logits, labels = labeled_only(student["logits"], targets)
        if len(labels) == 0:
            return student["logits"].sum() * 0
        return F.cross_entropy(logits, labels)


def soft_target_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T^2 KL(softmax(t / T) || softmax(s / T))``, averaged over the batch: computed in float64
    and never negative, at any temperature (``kl_divergence``); returned in float32."""
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        log_student = F.log_softmax(student_logits.double() / temperature, dim=1)
        log_teacher = F.log_softmax(teacher_logits.double() / temperature, dim=1)
        return (temperature**2 * kl_divergence(log_teacher, log_student).mean()).float()


@register_loss("soft_target", method=True)
class SoftTarget(Loss):
    """L_ST: Hinton's soft targets at temperature ``temperature``, mean over teachers."""

    @classmethod
    def from_params(cls, params: dict, **context) -> "SoftTarget":
        return cls(temperature=param(params, "temperature"))

    def __init__(self, temperature: float = 4.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        return torch.stack([soft_target_kl(student["logits"], t["logits"], self.temperature) for t in teachers]).mean()


@register_loss("semantic")
class SemanticPreserving(Loss):
    """L_SP^S: ``mean_k MSE(H^S, fc2_k)``, the student's segment-averaged fc1 against each
    teacher's semantic layer."""

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        semantic = student["semantic"]
        return torch.stack([F.mse_loss(semantic, t["fc2"].to(semantic.dtype)) for t in teachers]).mean()


def semantic_readout(logits: Tensor, class_embeddings: Tensor, mode: str = "soft") -> Tensor:
    """F = softmax(logits) @ E (b, D); ``argmax`` looks up the predicted class's vector."""
    embeddings = class_embeddings.to(logits.dtype)
    if mode == "soft":
        return F.softmax(logits, dim=1) @ embeddings
    if mode == "argmax":
        return embeddings[logits.argmax(dim=1)]
    raise ValueError(f"readout must be one of {READOUTS}, got {mode!r}")


def gaussian_graph(semantic: Tensor) -> Tensor:
    """``W_ij = exp(-mean_d (f_id - f_jd)^2 / 2)``, ``Q = D^-1/2 W D^-1/2`` (D = row sums)."""
    difference = semantic.unsqueeze(1) - semantic.unsqueeze(0)
    weights = torch.exp(-difference.pow(2).mean(dim=2) / 2)
    inverse_root = weights.sum(dim=1).rsqrt()
    return inverse_root.unsqueeze(1) * weights * inverse_root.unsqueeze(0)


def sample_importance(q: Tensor, readout: Tensor, q_ablated: Tensor, readout_ablated: Tensor,
                      mode: str = "norm", eps: float = 1e-6) -> Tensor:
    """The fraction of each sample's graph-smoothed semantic read-out lost when its input is
    removed: ``||(QF)_i - (Q_a F_a)_i|| / ||(QF)_i||`` (b,). ``elementwise`` is the paper's
    per-dimension ratio, averaged over dimensions, guarded against division by ~0."""
    present, ablated = q @ readout, q_ablated @ readout_ablated
    if mode == "norm":
        return (present - ablated).norm(dim=1) / present.norm(dim=1).clamp_min(eps)
    if mode == "elementwise":
        denominator = present.abs().clamp_min(eps)
        return ((present - ablated).abs() / denominator).mean(dim=1)
    raise ValueError(f"importance must be one of {IMPORTANCES}, got {mode!r}")


def activation_map(features: Tensor, importance: Tensor) -> Tensor:
    """``M = ReLU(w_i * sum_c A_ic)``: (N, C, H, W) -> (N, H, W); a student's (N, T, C, H, W)
    maps are made per frame and averaged over segments."""
    if features.dim() == 5:  # (N, T, C, H, W): per-frame maps (N, T, H, W), then the segment mean
        weights = importance.reshape(-1, 1, 1, 1).to(features.dtype)
        return F.relu(weights * features.sum(dim=2)).mean(dim=1)
    return F.relu(importance.reshape(-1, 1, 1).to(features.dtype) * features.sum(dim=1))


def frame_maps(features: Tensor, weights: Tensor) -> Tensor:
    """Per-frame channel maps ``ReLU(sum_k w_ik A_tik)``: (b, T, C, H, W) -> (b, T, H, W); a
    (b, C, H, W) tap gives (b, H, W)."""
    weights = weights.to(features.dtype)
    if features.dim() == 5:
        return F.relu(torch.einsum("btchw,bc->bthw", features, weights))
    return F.relu(torch.einsum("bchw,bc->bhw", features, weights))


def time_profile_at(gaf_map: Tensor, positions: Tensor) -> Tensor:
    """A GAF image's map (b, H, W) as a time profile read at ``positions`` (b, T) in [0, 1].
    Both axes of a GAF image are time (G_ij relates instants i and j), so the profile is the
    mean of the row and column means; it is read by linear interpolation between cell
    centres (clamped at the ends)."""
    profile = (gaf_map.mean(dim=2) + gaf_map.mean(dim=1)) / 2  # (b, H)
    cells = profile.shape[1]
    x = (positions * cells - 0.5).clamp(0, cells - 1)
    low = x.floor().long().clamp(max=cells - 1)
    high = (low + 1).clamp(max=cells - 1)
    fraction = (x - low.to(x.dtype)).to(profile.dtype)
    return torch.gather(profile, 1, low) * (1 - fraction) + torch.gather(profile, 1, high) * fraction


def _to_float32(output):
    if isinstance(output, Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, dict):
        return {key: _to_float32(value) for key, value in output.items()}
    return output


@register_loss("gsdm")
class GraphSemanticMapping(Loss):
    """L_GSDM, graph-guided semantically discriminative mapping (docs/method.md §5).

    Per teacher and (teacher tap, student tap) pair: importance-weighted activation maps of
    teacher and student, pooled to the smaller size, flattened and L2-normalised per sample;
    the loss is ``mean_i ||m_T - m_S||^2`` averaged over teachers and pairs.

    ``channel`` importance (Ablation-CAM): a weight per sample and channel, the fraction of the
    sample's graph-smoothed semantic score for its label lost when the channel is zeroed
    (``pipeline/losses/gsdm_channel.py``). The student's weights come in
    ``student["gsdm_weights"][tap]`` (the ``Distiller`` computes them in closed form at the
    student's last stage, by rerun elsewhere); each teacher's finished map comes in
    ``teacher["gsdm_maps"][tap]`` (b, H, W), computed once per recording by the teacher-output
    cache with the recording's own group graph (``TeacherPredictor.gsdm_maps``).
    ``norm`` / ``elementwise``: the authors' black-input ablation, one positive scalar per
    sample that the per-sample normalisation divides out (only a zero importance changes a
    map); needs ``ablated`` outputs. The student's map is
    built from its live activations, so the gradient reaches the student's parameters.
    """

    @classmethod
    def from_params(cls, params: dict, **context) -> "GraphSemanticMapping":
        return cls(layer_pairs(params), readout=param(params, "distill.readout"),
                   importance=param(params, "distill.importance"), align=param(params, "distill.align"))

    def __init__(self, pairs, readout: str = "soft", importance: str = "channel", align: str = "spatial"):
        super().__init__()
        self.pairs = check_pairs(pairs)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if importance not in IMPORTANCES:
            raise ValueError(f"importance must be one of {IMPORTANCES}, got {importance!r}")
        if align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
        self.readout, self.importance, self.align = readout, importance, align

    @property
    def needs_segment_positions(self) -> bool:
        return self.align == "temporal"

    @property
    def needs_ablation(self) -> bool:
        return self.importance != "channel"

    @property
    def needs_channel_weights(self) -> bool:
        return self.importance == "channel"

    @property
    def needs_teacher_features(self) -> bool:  # channel importance reads the cached maps instead
        return self.importance != "channel"

    def importance_of(self, output: dict, semantic_key: str, embeddings: Tensor) -> Tensor:
        ablated = output.get("ablated")
        if ablated is None:
            raise KeyError("gsdm needs the ablated pass ('ablated' in the outputs): use the Distiller")
        readout = semantic_readout(output["logits"], embeddings, self.readout)
        readout_ablated = semantic_readout(ablated["logits"], embeddings, self.readout)
        q = gaussian_graph(output[semantic_key])
        q_ablated = gaussian_graph(ablated[semantic_key].to(q.dtype))
        return sample_importance(q, readout, q_ablated, readout_ablated.to(readout.dtype), self.importance)

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> Tensor:
        # float32 whatever the autocast: the importance is a small difference of nearly equal
        # read-outs, which bfloat16 (3 significant digits) rounds to 0.
        with torch.autocast(device_type=student["logits"].device.type, enabled=False):
            positions = targets.get("segment_positions")
            return self._float32_forward(_to_float32(student), [_to_float32(t) for t in teachers],
                                         targets["class_embeddings"].float(), targets["labels"],
                                         None if positions is None else positions.float())

    def _maps(self, student: dict, teacher: dict, embeddings: Tensor, labels: Tensor):
        """(teacher map, student map) per layer pair."""
        if self.importance == "channel":
            if "gsdm_weights" not in student or "gsdm_maps" not in teacher:
                raise KeyError("gsdm with channel importance needs the student's gsdm_weights and the teachers' "
                               "gsdm_maps: use the Distiller and the teacher-output cache")
            for teacher_tap, student_tap in self.pairs:
                if teacher_tap not in teacher["gsdm_maps"]:
                    raise KeyError(f"no cached teacher GSDM map at {teacher_tap!r} (has "
                                   f"{', '.join(teacher['gsdm_maps']) or 'none'}): rerun the teacher_outputs stage")
                yield (teacher["gsdm_maps"][teacher_tap].detach(),
                       frame_maps(tap(student, student_tap, "student"), student["gsdm_weights"][student_tap]))
            return
        student_importance = self.importance_of(student, "semantic", embeddings)
        teacher_importance = self.importance_of(teacher, "fc2", embeddings).detach()
        for teacher_tap, student_tap in self.pairs:
            features = tap(student, student_tap, "student")
            student_map = (F.relu(student_importance.reshape(-1, 1, 1, 1) * features.sum(dim=2))
                           if features.dim() == 5 else activation_map(features, student_importance))
            yield activation_map(tap(teacher, teacher_tap, "teacher").detach(), teacher_importance), student_map

    def _float32_forward(self, student: dict, teachers: list[dict], embeddings: Tensor, labels: Tensor,
                         positions: Tensor | None = None) -> Tensor:
        if self.align == "temporal" and positions is None:
            raise KeyError("gsdm with distill.align temporal needs the sampled frames' positions "
                           "(targets['segment_positions']): use the Distiller with segment_positions")
        losses = []
        for teacher in teachers:
            for teacher_map, student_map in self._maps(student, teacher, embeddings, labels):
                if self.align == "temporal":
                    student_vector = F.normalize(student_map.mean(dim=(-2, -1)), dim=1)  # (b, T)
                    teacher_vector = F.normalize(time_profile_at(teacher_map, positions).to(student_vector.dtype), dim=1)
                    losses.append((teacher_vector - student_vector).pow(2).sum(dim=1).mean())
                    continue
                if student_map.dim() == 4:  # per-frame maps: the segment mean
                    student_map = student_map.mean(dim=1)
                student_map, teacher_map = pool_to_common(student_map, teacher_map)
                student_vector = F.normalize(student_map.flatten(1), dim=1)
                teacher_vector = F.normalize(teacher_map.flatten(1).to(student_vector.dtype), dim=1)
                losses.append((teacher_vector - student_vector).pow(2).sum(dim=1).mean())
        return torch.stack(losses).mean()
