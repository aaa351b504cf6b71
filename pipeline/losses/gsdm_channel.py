"""GSDM's channel importance (docs/method.md §5, "channel" mode): Ablation-CAM with a
graph-smoothed semantic score.

For a network with logits (b, K) and a semantic feature f (b, D) (a teacher branch: its
``fc2``; the student: ``H^S``), class embeddings E (K, D) and labels c (b,):

1. ``F = softmax(logits) @ E`` (readout ``soft``; ``argmax``: ``E[argmax logits]``) and
   ``Q = gaussian_graph(f)`` from the intact pass;
2. the score ``s_i = <(Q F)_i, E_{c_i}>``;
3. for channel k of the tapped layer, zero it for every sample of the batch, recompute the
   logits and ``s_i^(k) = <(Q F^(k))_i, E_{c_i}>`` with the intact Q; the weight is
   ``w_ik = (s_i - s_i^(k)) / max(|s_i|, eps)``: the fraction of the label's score lost;
4. the map ``M_i = ReLU(sum_k w_ik A_ik)`` (b, H, W); a student's (b, T, C, H, W) tap gives
   per-frame maps with the same w_ik, averaged over the T frames.

Conventions: every score tensor is sample-major, ablated scores and weights are (b, C).
Everything here runs in float32 with autocast off (the weights are differences of nearly
equal scores, which bfloat16 rounds away).

Two ways to get the ablated scores:

* ``ablated_scores_by_rerun``: exact for any network: rerun the rest of the network on
  ablated copies of the activation, a chunk of channels per call. The teacher uses it
  (``teacher_channel_maps`` over ``MultiSensorTeacher.forward_from``), and so does the student
  where there is no closed form (an inner tap, or the nonlinear trn head:
  ``student_channel_scores_by_rerun`` over ``VideoStudent.logits_from_tap``). Teacher maps are
  fixed, so the teacher-output cache computes each recording's once, scored in its own group
  (the model file's reference set, then the recording) with that group's graph
  (``teacher_group_maps``), and stores the finished maps: a distillation step computes only
  the student's side.
* the student's closed form (``VideoStudent.channel_ablated_logits``): at the last,
  globally pooled tap with an average-consensus head (tsn, tsm), zeroing a channel is an
  affine shift of the logits, so all C ablations cost one pass (``student_scores_at``
  picks it there).

Gradient: the teacher's maps are computed without gradient. The student's map carries
gradient into the student's tap activation through A; its weights are detached by default
(``detach_weights=True``): the weights are an importance read off the network, as in
Ablation-CAM, and letting the loss move them would let the student lower L_GSDM by reshaping
its score read-out (fc1, head) rather than its activations. ``detach_weights=False`` keeps
the (closed-form, differentiable) path through w as well.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from pipeline.losses.sakdn import gaussian_graph, semantic_readout

if TYPE_CHECKING:  # the models are arguments only
    from pipeline.models.students import VideoStudent
    from pipeline.models.teachers import MultiSensorTeacher

EPS = 1e-6


@contextmanager
def _float32(device: torch.device):
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def _readouts(logits: Tensor, class_embeddings: Tensor, readout: str) -> Tensor:
    """F for logits (..., K) -> (..., D), float32."""
    embeddings = class_embeddings.to(device=logits.device, dtype=torch.float32)
    flat = semantic_readout(logits.float().reshape(-1, logits.shape[-1]), embeddings, readout)
    return flat.reshape(*logits.shape[:-1], embeddings.shape[1])


def scores_from_readouts(readouts: Tensor, graph: Tensor, class_embeddings: Tensor, labels: Tensor) -> Tensor:
    """``<(Q F)_i, E_{c_i}>`` for read-outs F (..., b, D) and a graph Q (b, b) -> (..., b): one
    score per sample for each leading index (e.g. each ablated channel, (C, b, D) -> (C, b))."""
    embeddings = class_embeddings.to(device=readouts.device, dtype=torch.float32)
    smoothed = torch.matmul(graph.float(), readouts.float())  # Q F for each leading index
    return (smoothed * embeddings[labels]).sum(dim=-1)


def _scores_with_graph(logits: Tensor, graph: Tensor, class_embeddings: Tensor, labels: Tensor,
                       readout: str) -> Tensor:
    """``<(Q F)_i, E_{c_i}>`` for logits (..., b, K) -> (..., b), with a given graph (b, b)."""
    return scores_from_readouts(_readouts(logits, class_embeddings, readout), graph, class_embeddings, labels)


def semantic_scores(logits: Tensor, semantic: Tensor | None, class_embeddings: Tensor, labels: Tensor,
                    readout: str = "soft", graph: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The label's graph-smoothed semantic score ``s_i = <(Q F)_i, E_{c_i}>`` (b,) and the
    graph Q (b, b). ``Q = gaussian_graph(semantic)`` unless ``graph`` is given (then
    ``semantic`` is ignored and may be None): pass the intact pass's Q to score an ablated
    pass. float32."""
    with _float32(logits.device):
        if graph is None:
            if semantic is None:
                raise ValueError("semantic_scores needs the semantic feature or a graph")
            graph = gaussian_graph(semantic.float())
        return _scores_with_graph(logits, graph, class_embeddings, labels, readout), graph


def channel_weights(intact_scores: Tensor, ablated_scores: Tensor, eps: float = EPS) -> Tensor:
    """``w_ik = (s_i - s_i^(k)) / max(|s_i|, eps)``: intact scores (b,), ablated scores
    **(b, C)** (row i, column k: sample i with channel k zeroed) -> weights (b, C)."""
    if ablated_scores.dim() != 2 or ablated_scores.shape[0] != intact_scores.shape[0]:
        raise ValueError(f"ablated scores must be (b, C) with b = {intact_scores.shape[0]}, "
                         f"got {tuple(ablated_scores.shape)}")
    intact = intact_scores.unsqueeze(1)
    return (intact - ablated_scores) / intact.abs().clamp_min(eps)


def channel_map(features: Tensor, weights: Tensor) -> Tensor:
    """``M_i = ReLU(sum_k w_ik A_ik)``: (b, C, H, W) -> (b, H, W); a student's (b, T, C, H, W)
    gives ReLU per frame with the same weights, then the mean over the T frames."""
    weights = weights.to(features.dtype)
    if features.dim() == 5:
        return F.relu(torch.einsum("btchw,bc->bthw", features, weights)).mean(dim=1)
    if features.dim() == 4:
        return F.relu(torch.einsum("bchw,bc->bhw", features, weights))
    raise ValueError(f"expected (b, C, H, W) or (b, T, C, H, W) features, got {tuple(features.shape)}")


def _ablated_copies(activation: Tensor, start: int, count: int, channel_dim: int) -> Tensor:
    """``count`` copies of ``activation`` stacked copy-major along the batch dim, copy j with
    channel ``start + j`` zeroed for every sample: (count * b, ...)."""
    channels = activation.shape[channel_dim]
    mask = activation.new_ones(count, channels)
    mask[torch.arange(count), torch.arange(start, start + count)] = 0
    shape = [count] + [1] * activation.dim()
    shape[channel_dim + 1] = channels
    return (activation.unsqueeze(0) * mask.reshape(shape)).flatten(0, 1)


def ablated_readouts_by_rerun(run_after_tap: Callable[[Tensor], Tensor], activation: Tensor,
                              class_embeddings: Tensor, readout: str = "soft", chunk: int = 16,
                              channel_dim: int | None = None) -> Tensor:
    """The ablated read-outs ``F^(k)_i`` (b, C, D) by rerunning the rest of the network: row
    i, column k is sample i's read-out with channel k zeroed for the whole batch. They do not
    depend on the graph, so they can be cached and scored later with any batch's Q
    (``channel_weights_from_readouts``).

    ``activation`` is the tap, (b, C, H, W) (channel dim 1) or (b, T, C, H, W) (channel dim
    2); ``channel_dim`` overrides. For each chunk of n <= ``chunk`` channels the copies of
    ``activation``, copy j with channel ``start + j`` zeroed for the whole batch, are stacked
    along the batch dim, copy-major: rows ``j*b .. (j+1)*b - 1`` are copy j. So
    ``run_after_tap(ablated) -> logits`` must accept any whole multiple ``n * b`` of the batch
    (the last chunk may be smaller) and return (n * b, K) in the same row order. A network
    whose output depends on batch-mates (a SPAMFM teacher) must relate each copy only to
    itself: run it with ``group_size = b`` (or the divisor of b that the intact pass used)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if channel_dim is None:
        channel_dim = {4: 1, 5: 2}.get(activation.dim())
        if channel_dim is None:
            raise ValueError(f"expected a (b, C, H, W) or (b, T, C, H, W) activation, got {tuple(activation.shape)}")
    batch, channels = activation.shape[0], activation.shape[channel_dim]
    readouts = []
    for start in range(0, channels, chunk):
        count = min(chunk, channels - start)
        logits = run_after_tap(_ablated_copies(activation, start, count, channel_dim))
        if logits.shape[0] != count * batch:
            raise ValueError(f"run_after_tap returned {logits.shape[0]} rows for {count * batch}")
        with _float32(logits.device):
            readouts.append(_readouts(logits.reshape(count, batch, -1), class_embeddings, readout))
    return torch.cat(readouts).transpose(0, 1)  # (C, b, D) -> (b, C, D)


def ablated_scores_by_rerun(run_after_tap: Callable[[Tensor], Tensor], activation: Tensor, semantic_graph: Tensor,
                            class_embeddings: Tensor, labels: Tensor, readout: str = "soft", chunk: int = 16,
                            channel_dim: int | None = None) -> Tensor:
    """The ablated scores ``s_i^(k) = <(Q F^(k))_i, E_{c_i}>`` **(b, C)**, by rerunning the
    rest of the network on ablated copies of ``activation`` (``ablated_readouts_by_rerun``:
    the contract of ``run_after_tap``, the batching by chunks of channels, ``group_size``),
    scored with ``semantic_graph``, the intact pass's Q (b, b)."""
    readouts = ablated_readouts_by_rerun(run_after_tap, activation, class_embeddings, readout, chunk, channel_dim)
    with _float32(readouts.device):
        return scores_from_readouts(readouts.transpose(0, 1), semantic_graph, class_embeddings, labels).t()


def channel_weights_from_readouts(intact_readouts: Tensor, ablated_readouts: Tensor, graph: Tensor,
                                  class_embeddings: Tensor, labels: Tensor, eps: float = EPS) -> Tensor:
    """The weights (b, C) from the intact read-outs F (b, D), the ablated ones F^(k) (b, C, D)
    and the graph Q (b, b) of the batch they are scored in: ``s_i = <(Q F)_i, E_{c_i}>``,
    ``s_i^(k) = sum_j Q_ij <F^(k)_j, E_{c_i}>``. What a cache of per-sample read-outs needs:
    Q can then be the training batch's, built from the cached ``fc2``."""
    with _float32(intact_readouts.device):
        scores = scores_from_readouts(intact_readouts, graph, class_embeddings, labels)
        ablated = scores_from_readouts(ablated_readouts.transpose(0, 1), graph, class_embeddings, labels).t()
        return channel_weights(scores, ablated, eps)


def teacher_ablated_readouts(teacher: "MultiSensorTeacher", images: dict[str, Tensor], tap: str, sensor: str | int,
                             class_embeddings: Tensor, readout: str = "soft", group_size: int | None = None,
                             chunk: int = 16) -> dict[str, Tensor]:
    """One teacher branch's intact and channel-ablated read-outs at the conv tap ``tap``, by
    rerun, without gradient, in float32: ``{"readout": F (b, D), "ablated_readouts": F^(k)
    (b, C, D), "fc2": (b, D), "logits": (b, K), "features": the tap (b, C, H, W)}``. Nothing
    here depends on the labels or on Q, so it can be cached per sample (with reference-set
    groups, every row's values are its own group's).

    ``sensor``: the branch, by name or index in ``teacher.sensors``. The intact pass is
    ``teacher(images, group_size)``. Channel k of that branch's (post-fusion) tap is zeroed
    for the whole batch and the network resumes with ``forward_from`` (the other branches
    keep their intact activation there; later SPAMFM layers see the ablated branch). The
    reruns stack ``chunk`` ablated copies of the batch; a batch-dependent (SPAMFM) teacher
    reruns them with ``group_size``, or with ``group_size = b`` when it is None, so each copy
    is related to itself only, as the intact batch was. The teacher must be in eval mode
    (BatchNorm would otherwise use the statistics of the stacked copies)."""
    if teacher.training:
        raise ValueError("teacher channel ablation needs the teacher in eval mode (teacher.eval())")
    if isinstance(sensor, int):
        sensor = teacher.sensors[sensor]
    if sensor not in teacher.sensors:
        raise KeyError(f"teacher has no sensor {sensor!r} (has {', '.join(teacher.sensors)})")
    first = next(iter(images.values()))
    with torch.no_grad(), _float32(first.device):
        images = {name: value.float() for name, value in images.items()}
        output = teacher(images, group_size=group_size)
        taps = {name: output["branches"][name]["features"][tap] for name in teacher.sensors}
        branch = output["branches"][sensor]
        batch = taps[sensor].shape[0]
        rerun_groups = group_size if group_size is not None else (batch if teacher.batch_dependent else None)

        # The other branches' taps are the same in every ablated copy: their next conv block
        # (per row, before its fusion) runs once, not once per copy.
        blocks = list(teacher.branches[sensor].blocks)  # the conv taps, in order
        later = blocks[blocks.index(tap) + 1:] if tap in blocks else []
        unchanged = {name: teacher.branches[name].blocks[later[0]](value)
                     for name, value in taps.items() if name != sensor} if later else {}

        def run_after_tap(ablated: Tensor) -> Tensor:
            copies = ablated.shape[0] // batch
            features = {name: ablated if name == sensor else value.repeat(copies, 1, 1, 1)
                        for name, value in taps.items()}
            next_block = {name: value.repeat(copies, 1, 1, 1) for name, value in unchanged.items()}
            return teacher.forward_from(tap, features, group_size=rerun_groups,
                                        next_block=next_block)["branches"][sensor]["logits"]

        return {
            "readout": _readouts(branch["logits"], class_embeddings, readout),
            "ablated_readouts": ablated_readouts_by_rerun(run_after_tap, taps[sensor], class_embeddings, readout,
                                                          chunk),
            "fc2": branch["fc2"], "logits": branch["logits"], "features": taps[sensor],
        }


def teacher_channel_maps(teacher: "MultiSensorTeacher", images: dict[str, Tensor], tap: str, sensor: str | int,
                         class_embeddings: Tensor, labels: Tensor, readout: str = "soft",
                         group_size: int | None = None, chunk: int = 16) -> tuple[Tensor, Tensor]:
    """One teacher branch's GSDM channel weights (b, C) and maps (b, H, W) at the conv tap
    ``tap``, by rerun (``teacher_ablated_readouts``: the branch, the groups, eval mode),
    without gradient, in float32. Q is built from the branch's ``fc2`` over the whole batch
    of ``images``."""
    parts = teacher_ablated_readouts(teacher, images, tap, sensor, class_embeddings, readout, group_size, chunk)
    with torch.no_grad(), _float32(parts["fc2"].device):
        graph = gaussian_graph(parts["fc2"])
        weights = channel_weights_from_readouts(parts["readout"], parts["ablated_readouts"], graph,
                                                class_embeddings, labels)
        return weights, channel_map(parts["features"], weights)


def teacher_group_maps(teacher: "MultiSensorTeacher", images: dict[str, Tensor], tap: str, sensor: str | int,
                       class_embeddings: Tensor, labels: Tensor, group: int, readout: str = "soft",
                       chunk: int = 16) -> tuple[Tensor, Tensor]:
    """GSDM's finished teacher maps for samples that each run in a group of their own (the
    teacher-output cache): ``images`` hold n groups of ``group`` rows, the sample last after
    its fixed batch-mates (the model file's reference set); ``labels`` (n,) are the samples'.
    Each sample is scored with its own group's graph, ``s = sum_j Q_gj <F_j, E_c>`` (g its
    row), so its weights (n, C) and map (n, H, W) depend on no other sample and can be stored
    (docs/method.md §5). A batch-dependent (SPAMFM) teacher reruns each group as one, as
    ``TeacherPredictor`` predicts; a batch-independent one only borrows the group's graph."""
    rerun_group = group if teacher.batch_dependent else None
    parts = teacher_ablated_readouts(teacher, images, tap, sensor, class_embeddings, readout, rerun_group, chunk)
    rows = parts["fc2"].shape[0]
    if rows % group:
        raise ValueError(f"{rows} rows are not whole groups of {group}")
    count = rows // group
    with torch.no_grad(), _float32(parts["fc2"].device):
        fc2 = parts["fc2"].float().reshape(count, group, -1)
        own_row = torch.stack([gaussian_graph(members)[-1] for members in fc2])  # (n, g): Q's sample row
        label_embeddings = class_embeddings.to(device=fc2.device, dtype=torch.float32)[labels.to(fc2.device)]
        intact = parts["readout"].reshape(count, group, -1)
        ablated = parts["ablated_readouts"].reshape(count, group, *parts["ablated_readouts"].shape[1:])
        scores = torch.einsum("ng,ngd,nd->n", own_row, intact, label_embeddings)
        ablated_scores = torch.einsum("ng,ngcd,nd->nc", own_row, ablated, label_embeddings)
        weights = channel_weights(scores, ablated_scores)
        features = parts["features"].float().reshape(count, group, *parts["features"].shape[1:])[:, -1]
        return weights, channel_map(features, weights)


def student_channel_scores(student: "VideoStudent", last_tap: Tensor, class_embeddings: Tensor, labels: Tensor,
                           readout: str = "soft") -> tuple[Tensor, Tensor]:
    """The student's intact scores (b,) and closed-form ablated scores (b, C) at its last
    tap (b, T, C, H, W), float32, in eval semantics (no dropout): logits, ``H^S`` and Q are
    recomputed from the tap by ``logits_from_last_tap`` / ``frame_semantic_from_last_tap``
    (equal to the forward pass's when dropout is 0 or the student is in eval mode)."""
    with _float32(last_tap.device):
        features = last_tap.float()
        frame_semantic = student.frame_semantic_from_last_tap(features)
        logits = student.head(frame_semantic)
        scores, graph = semantic_scores(logits, frame_semantic.mean(dim=1), class_embeddings, labels, readout)
        ablated_logits = student.channel_ablated_logits(features).transpose(0, 1)  # (C, b, K)
        ablated = _scores_with_graph(ablated_logits, graph, class_embeddings, labels, readout).t()
        return scores, ablated


@contextmanager
def evaluation_mode(module: torch.nn.Module):
    """``module`` in eval mode inside the block, its own mode given back after."""
    training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(training)


def student_channel_scores_by_rerun(student: "VideoStudent", tap: str, tap_features: Tensor,
                                    class_embeddings: Tensor, labels: Tensor, readout: str = "soft",
                                    chunk: int = 16) -> tuple[Tensor, Tensor]:
    """The student's intact scores (b,) and ablated scores (b, C) at any tap (b, T, C, H, W),
    by rerunning the layers after it (``VideoStudent.logits_from_tap``) on ablated copies,
    ``chunk`` channels at a time, without gradient, in float32 and in eval mode (BatchNorm's
    running statistics, no dropout; the intact score is recomputed the same way, so intact
    and ablated compare like with like). Exact for every head (trn too), but it costs C / chunk
    passes of the rest of the network per step. At the last tap the copies are of the pooled
    features (b, T, C), not of the maps: a zeroed channel's pooled feature is exactly 0 and the
    others are unchanged, so the numbers are the same at 1 / (H W) of the cost."""
    with torch.no_grad(), _float32(tap_features.device), evaluation_mode(student):
        features = tap_features.detach().float()
        if tap == student.tap_names[-1]:
            features, run_after = features.mean(dim=(-2, -1)), student.logits_from_pooled
        else:
            def run_after(copies: Tensor) -> dict[str, Tensor]:
                return student.logits_from_tap(tap, copies)
        intact = run_after(features)
        scores, graph = semantic_scores(intact["logits"], intact["semantic"], class_embeddings, labels, readout)
        ablated = ablated_scores_by_rerun(lambda copies: run_after(copies)["logits"], features,
                                          graph, class_embeddings, labels, readout, chunk, channel_dim=2)
        return scores, ablated


def student_scores_at(student: "VideoStudent", tap: str, tap_features: Tensor, class_embeddings: Tensor,
                      labels: Tensor, readout: str = "soft", chunk: int = 16) -> tuple[Tensor, Tensor]:
    """The student's intact (b,) and ablated (b, C) scores at ``tap``: the closed form at the
    last, globally pooled tap of an average-consensus head (tsn, tsm), the rerun elsewhere."""
    if tap == student.tap_names[-1] and student.head_name in ("tsn", "tsm"):
        return student_channel_scores(student, tap_features, class_embeddings, labels, readout)
    return student_channel_scores_by_rerun(student, tap, tap_features, class_embeddings, labels, readout, chunk)


def student_channel_maps(student_output: dict, student: "VideoStudent", tap: str, class_embeddings: Tensor,
                         labels: Tensor, readout: str = "soft", detach_weights: bool = True) -> tuple[Tensor, Tensor]:
    """The student's GSDM channel weights (b, C) and map (b, H, W) at ``tap`` (closed form at
    the last tap of tsn/tsm, rerun elsewhere: ``student_scores_at``). The map keeps gradient
    into ``student_output["features"][tap]``; the weights are detached unless
    ``detach_weights=False`` (module docstring; only the closed form is differentiable).
    float32."""
    features = student_output["features"][tap]
    with _float32(features.device):
        if detach_weights:
            scores, ablated = student_scores_at(student, tap, features.detach(), class_embeddings, labels, readout)
        else:
            scores, ablated = student_channel_scores(student, features, class_embeddings, labels, readout)
        weights = channel_weights(scores, ablated)
        if detach_weights:
            weights = weights.detach()
        return weights, channel_map(features.float(), weights)
