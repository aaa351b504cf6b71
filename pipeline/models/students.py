"""The video student of SAKDN (docs/method.md §4): a 2D backbone on T frames, fc1, a temporal head.

A clip of T frames (the TSN segments) is folded into the batch, run through an ImageNet-style
2D backbone from torchvision, pooled, and mapped per frame by ``fc1`` to the embedding space
of the teacher's semantic vectors (``H^S`` in the paper is the segment average of fc1). A
temporal head turns the per-frame vectors into class logits:

* ``tsn`` -- Temporal Segment Network (Wang et al. 2016): per-frame classifier, average
  consensus over the T frames.
* ``trn`` -- multi-scale Temporal Relation Network (Zhou et al. 2018) over the fc1 vectors.
* ``tsm`` -- Temporal Shift Module (Lin et al. 2019): part of the channels is shifted along
  time at the start of the residual branch of every residual block (every ResNet block,
  every MobileNetV2 inverted residual with a shortcut); TSN consensus on top.

The feature maps at five depths of the backbone (stride 4/4/8/16/32 for ResNet, 2/4/8/16/32
for MobileNetV2) are returned too, shallow to deep, for feature-level distillation.
"""
from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from pipeline.errors import InputError

# The names (backbones, heads, feature taps) live in a torch-free module that params reads too.
from pipeline.models.names import BACKBONES, HEADS, MOBILENET_V2_TAPS, RESNET_TAPS, TSM_BACKBONES  # noqa: F401

# Exclusive end index in ``mobilenet_v2().features`` of each stage: the last block before the
# resolution halves, so the stages end at strides 2, 4, 8, 16 and 32 (features[0], [2], [4],
# [7] and [14] are the stride-2 blocks; features[18] is the final 1x1 conv to 1280 channels).
MOBILENET_V2_STAGE_ENDS = (2, 4, 7, 14, 19)

TRN_BOTTLENECK = 256  # hidden width of each relation MLP g_k, as in Zhou et al. 2018
TRN_RELATION_SEED = 0  # seed of the one-off draw of TRN frame subsets (see TRNHead)


# --------------------------------------------------------------------------- backbones
class ResNetTrunk(nn.Module):
    """A torchvision ResNet without its pooling and ImageNet classifier, returning five taps.

    The submodules keep torchvision's attribute names, so this trunk's state dict uses the
    same keys as ``torchvision.models.resnet*().state_dict()`` minus ``fc.*``.
    """

    tap_names = RESNET_TAPS
    classifier_prefix = "fc."

    def __init__(self, network: torchvision.models.ResNet) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = (
            network.conv1, network.bn1, network.relu, network.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            network.layer1, network.layer2, network.layer3, network.layer4)
        self.out_channels: int = network.fc.in_features

    def residual_blocks(self) -> list[nn.Module]:
        """Every BasicBlock/Bottleneck, shallow to deep (where TSM inserts its shift)."""
        return [block for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
                for block in layer]

    def insert_temporal_shift(self, num_segments: int, shift_fraction: float) -> None:
        """Residual shift (Lin et al.'s ``blockres``): before ``conv1`` of every block."""
        for block in self.residual_blocks():
            block.conv1 = TemporalShift(block.conv1, num_segments, shift_fraction)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """``[B, 3, H, W]`` -> ``{tap: [B, C_l, H_l, W_l]}``; the last tap is the final map."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        taps = {"stem": x}
        for name, layer in zip(RESNET_TAPS[1:], (self.layer1, self.layer2, self.layer3, self.layer4)):
            x = layer(x)
            taps[name] = x
        return taps

    def forward_from(self, tap: str, x: Tensor) -> Tensor:
        """The rest of ``forward`` after ``tap``: its map ``[B, C, H, W]`` -> the final map."""
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4)[RESNET_TAPS.index(tap):]:
            x = layer(x)
        return x


class MobileNetV2Trunk(nn.Module):
    """torchvision's MobileNetV2 ``features`` (classifier dropped), returning five taps.

    The state dict keys are torchvision's (``features.*``) minus ``classifier.*``.
    """

    tap_names = MOBILENET_V2_TAPS
    classifier_prefix = "classifier."

    def __init__(self, network: torchvision.models.MobileNetV2) -> None:
        super().__init__()
        self.features = network.features
        self.out_channels: int = network.last_channel
        if len(self.features) != MOBILENET_V2_STAGE_ENDS[-1]:
            raise ValueError(f"unexpected MobileNetV2 layout: {len(self.features)} feature blocks")

    def residual_blocks(self) -> list[nn.Module]:
        """The inverted residual blocks with a shortcut (stride 1, as many channels out as in),
        shallow to deep: where TSM inserts its shift. 10 in torchvision's MobileNetV2."""
        return [block for block in self.features
                if isinstance(block, torchvision.models.mobilenetv2.InvertedResidual)
                and block.use_res_connect]

    def insert_temporal_shift(self, num_segments: int, shift_fraction: float) -> None:
        """Residual shift as in Lin et al.'s MobileNetV2: before the expansion conv
        (``conv[0]``) of every block with a shortcut, so the shortcut carries the unshifted
        frame. The shifting Sequential keeps the children's names: the state dict is unchanged."""
        for block in self.residual_blocks():
            block.conv[0] = TemporalShiftSequential(block.conv[0], num_segments, shift_fraction)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """``[B, 3, H, W]`` -> ``{tap: [B, C_l, H_l, W_l]}``; the last tap is the final map."""
        taps: dict[str, Tensor] = {}
        x = images
        start = 0
        for name, end in zip(MOBILENET_V2_TAPS, MOBILENET_V2_STAGE_ENDS):
            for block in self.features[start:end]:
                x = block(x)
            taps[name] = x
            start = end
        return taps

    def forward_from(self, tap: str, x: Tensor) -> Tensor:
        """The rest of ``forward`` after ``tap``: its map ``[B, C, H, W]`` -> the final map."""
        for block in self.features[MOBILENET_V2_STAGE_ENDS[MOBILENET_V2_TAPS.index(tap)]:]:
            x = block(x)
        return x


def _build_trunk(backbone: str) -> ResNetTrunk | MobileNetV2Trunk:
    """A freshly initialised trunk (never downloads weights: ``weights=None``)."""
    if backbone == "resnet18":
        return ResNetTrunk(torchvision.models.resnet18(weights=None))
    if backbone == "resnet50":
        return ResNetTrunk(torchvision.models.resnet50(weights=None))
    return MobileNetV2Trunk(torchvision.models.mobilenet_v2(weights=None))


def load_backbone_weights(trunk: ResNetTrunk | MobileNetV2Trunk, path: str | Path) -> None:
    """Load a torchvision state dict file (e.g. ``resnet18-f37072fd.pth``) into ``trunk``.

    The ImageNet classifier's keys (``fc.*`` / ``classifier.*``) are ignored. Any other
    missing or unexpected key, or a shape mismatch, raises InputError naming the file and
    the first bad key (missing/mismatched keys in the trunk's order first, then unexpected
    keys in the file's order); so does a missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pretrained backbone weights not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # zipfile, pickle and EOF errors all mean an unusable file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"{path}: not a readable torch state dict file ({first_line})") from None
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: expected a state dict (a mapping of tensors), "
                         f"got {type(loaded).__name__}")
    weights = {key: value for key, value in loaded.items()
               if not str(key).startswith(trunk.classifier_prefix)}
    expected = trunk.state_dict()
    for key, target in expected.items():
        if key not in weights:
            raise InputError(f"{path}: missing key {key!r} for the backbone")
        value = weights[key]
        if not isinstance(value, Tensor) or value.shape != target.shape:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise InputError(f"{path}: shape mismatch at key {key!r}: file has {shape}, "
                             f"backbone expects {tuple(target.shape)}")
    for key in weights:
        if key not in expected:
            raise InputError(f"{path}: unexpected key {key!r} for the backbone")
    trunk.load_state_dict(weights, strict=True)


# --------------------------------------------------------------------------- TSM
def temporal_shift(frames: Tensor, shift_fraction: float) -> Tensor:
    """Shift channels of ``[N, T, C, H, W]`` along time, zero-padded (Lin et al. 2019).

    With ``fold = floor(C * shift_fraction)``: channels ``[0, fold)`` are shifted one step
    back in time (frame t receives frame t+1's values; the last frame gets zeros), channels
    ``[fold, 2*fold)`` one step forward (frame t receives frame t-1's; the first frame gets
    zeros); the remaining channels are unchanged. Out of place, so autograd sees it all.
    """
    batch, segments, channels, height, width = frames.shape
    fold = int(channels * shift_fraction)
    if fold == 0:
        return frames
    zeros = frames.new_zeros(batch, 1, fold, height, width)
    from_next = torch.cat([frames[:, 1:, :fold], zeros], dim=1)
    from_previous = torch.cat([zeros, frames[:, :-1, fold:2 * fold]], dim=1)
    return torch.cat([from_next, from_previous, frames[:, :, 2 * fold:]], dim=2)


def temporal_shift_folded(x: Tensor, num_segments: int, shift_fraction: float) -> Tensor:
    """``temporal_shift`` of frames folded into the batch (``[N*T, C, H, W]``, clip-major, as
    the backbone sees them): unfold with ``num_segments``, shift, fold back. Keeps a
    ``channels_last`` input channels_last (the cat would not)."""
    frames = x.unflatten(0, (-1, num_segments))
    shifted = temporal_shift(frames, shift_fraction).flatten(0, 1)
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        shifted = shifted.contiguous(memory_format=torch.channels_last)
    return shifted


class TemporalShift(nn.Module):
    """Wraps a ResNet block's ``conv1``: temporal shift of its input, then the conv.

    Placing it on the residual branch only ("residual shift") keeps the shortcut's spatial
    information intact, the variant Lin et al. recommend.
    """

    def __init__(self, conv: nn.Module, num_segments: int, shift_fraction: float) -> None:
        super().__init__()
        self.conv = conv
        self.num_segments = num_segments
        self.shift_fraction = shift_fraction

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(temporal_shift_folded(x, self.num_segments, self.shift_fraction))

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, shift_fraction={self.shift_fraction}"


class TemporalShiftSequential(nn.Sequential):
    """A Sequential (MobileNetV2's expansion Conv-BN-ReLU6) run on the temporally shifted input.

    It takes over the wrapped Sequential's children under their own names instead of nesting
    it, so the state dict keys stay torchvision's (``features.3.conv.0.0.weight``): the tsn
    and tsm students' weights and checkpoints are interchangeable.
    """

    def __init__(self, layers: nn.Sequential, num_segments: int, shift_fraction: float) -> None:
        super().__init__(OrderedDict(layers.named_children()))
        self.num_segments = num_segments
        self.shift_fraction = shift_fraction

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(temporal_shift_folded(x, self.num_segments, self.shift_fraction))

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, shift_fraction={self.shift_fraction}"


# --------------------------------------------------------------------------- heads
class TSNHead(nn.Module):
    """Per-frame classifier ``Linear(D -> C)`` and average consensus over the T frames."""

    def __init__(self, embedding_dim: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(embedding_dim, num_classes)

    def forward(self, frame_semantic: Tensor) -> Tensor:
        """``[N, T, D]`` -> ``[N, C]``."""
        return self.classifier(frame_semantic).mean(dim=1)


def select_relations(num_segments: int, scale: int, limit: int,
                     generator: torch.Generator) -> Tensor:
    """Up to ``limit`` distinct ordered ``scale``-frame index tuples out of ``num_segments``.

    All ``C(T, scale)`` tuples when there are at most ``limit`` of them (so scale T gives the
    single tuple of all frames); otherwise ``limit`` uniform draws without repetition from
    ``generator`` (rejection of duplicates, so C(T, k) is never enumerated). Returned as a
    ``[m, scale]`` int64 tensor, rows in increasing (lexicographic) order.
    """
    total = math.comb(num_segments, scale)
    if total <= limit:
        chosen = list(itertools.combinations(range(num_segments), scale))  # lexicographic
    else:
        picked: set[tuple[int, ...]] = set()
        while len(picked) < limit:
            draw = torch.randperm(num_segments, generator=generator)[:scale].sort().values
            picked.add(tuple(draw.tolist()))
        chosen = sorted(picked)
    return torch.tensor(chosen, dtype=torch.long).reshape(len(chosen), scale)


class TRNHead(nn.Module):
    """Multi-scale Temporal Relation Network (Zhou et al. 2018) over per-frame fc1 vectors.

    For each scale k = T, T-1, ..., 2 a set of ordered k-frame tuples is fixed, and a scale's
    MLP ``g_k = ReLU -> Linear(k*D -> 256) -> ReLU -> Linear(256 -> C)`` is applied to the
    concatenated fc1 vectors of each tuple; the logits are the sum over scales of the mean
    over that scale's tuples.

    Deviation from the original, on purpose: Zhou et al. redraw the subsets of each scale at
    random on every training forward. Here they are drawn ONCE, at construction, from
    ``torch.Generator().manual_seed(0)`` (independent of the global RNG, so every model with
    the same T and ``relations_per_scale`` uses the same tuples), and stored as buffers
    ``relations_<k>`` (saved in checkpoints). Evaluation is therefore deterministic and
    training and evaluation see the same relations.
    """

    def __init__(self, embedding_dim: int, num_classes: int, num_segments: int,
                 relations_per_scale: int) -> None:
        super().__init__()
        if num_segments < 2:
            raise ValueError(f"the trn head relates frames, so it needs num_segments >= 2, "
                             f"got {num_segments}")
        self.scales = tuple(range(num_segments, 1, -1))
        generator = torch.Generator().manual_seed(TRN_RELATION_SEED)
        self.relation_mlps = nn.ModuleDict()
        for scale in self.scales:
            self.register_buffer(f"relations_{scale}", select_relations(
                num_segments, scale, relations_per_scale, generator))
            self.relation_mlps[f"scale_{scale}"] = nn.Sequential(
                nn.ReLU(),
                nn.Linear(scale * embedding_dim, TRN_BOTTLENECK),
                nn.ReLU(),
                nn.Linear(TRN_BOTTLENECK, num_classes),
            )

    def relations(self, scale: int) -> Tensor:
        """The fixed ``[m, scale]`` frame-index tuples of one scale."""
        return getattr(self, f"relations_{scale}")

    def forward(self, frame_semantic: Tensor) -> Tensor:
        """``[N, T, D]`` -> ``[N, C]``."""
        logits = None
        for scale in self.scales:
            tuples = frame_semantic[:, self.relations(scale)]  # [N, m, k, D]
            scores = self.relation_mlps[f"scale_{scale}"](tuples.flatten(2))  # [N, m, C]
            scale_logits = scores.mean(dim=1)
            logits = scale_logits if logits is None else logits + scale_logits
        return logits


# --------------------------------------------------------------------------- student
class VideoStudent(nn.Module):
    """The SAKDN video student: 2D backbone on T frames, fc1, temporal head.

    ``forward(clips)`` takes ``[N, T, 3, H, W]`` (any float dtype; works under autocast and
    with a ``channels_last`` model) and returns a dict:

    * ``logits``: ``[N, C]`` after the temporal head (what logit distillation uses);
    * ``semantic``: ``[N, D]`` segment average of fc1 (``H^S``, compared with the teacher's
      semantic vectors);
    * ``frame_semantic``: ``[N, T, D]`` fc1 per frame;
    * ``features``: ``{tap: [N, T, C_l, H_l, W_l]}`` for ``tap_names`` (shallow to deep).

    fc1 is ``Dropout -> Linear(feature_dim -> D)`` with no activation, as its output lives in
    the teacher's embedding space. The tsn head accepts any T at forward (average
    consensus); trn and tsm are built for ``num_segments`` frames and require exactly that.
    """

    def __init__(self, backbone: str = "resnet18", head: str = "tsn", *, num_classes: int,
                 embedding_dim: int, num_segments: int = 8, dropout: float = 0.5,
                 pretrained_path: str | Path | None = None, trn_relations_per_scale: int = 3,
                 tsm_shift_fraction: float = 0.125) -> None:
        super().__init__()
        _check_arguments(backbone, head, num_classes, embedding_dim, num_segments, dropout,
                         trn_relations_per_scale, tsm_shift_fraction)
        self.backbone_name = backbone
        self.head_name = head
        self.num_segments = num_segments
        self.backbone = _build_trunk(backbone)
        if pretrained_path is not None:
            # Before any TSM wrapping: ResNet's TemporalShift nests conv1 (its keys gain ``.conv``).
            load_backbone_weights(self.backbone, pretrained_path)
        if head == "tsm":
            self.backbone.insert_temporal_shift(num_segments, tsm_shift_fraction)
        self.feature_dim: int = self.backbone.out_channels
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(self.feature_dim, embedding_dim)
        if head == "trn":
            self.head: nn.Module = TRNHead(embedding_dim, num_classes, num_segments,
                                           trn_relations_per_scale)
        else:
            self.head = TSNHead(embedding_dim, num_classes)

    @property
    def tap_names(self) -> tuple[str, ...]:
        """Keys of ``features`` in the output, shallow to deep."""
        return self.backbone.tap_names

    def forward(self, clips: Tensor) -> dict:
        if clips.dim() != 5 or clips.shape[2] != 3:
            raise ValueError(f"expected clips of shape [N, T, 3, H, W], got {tuple(clips.shape)}")
        batch, segments = clips.shape[0], clips.shape[1]
        if self.head_name != "tsn" and segments != self.num_segments:
            raise ValueError(f"the {self.head_name} student was built for num_segments="
                             f"{self.num_segments} frames, got clips with T={segments}")
        taps = self.backbone(clips.flatten(0, 1))
        features = {name: fmap.unflatten(0, (batch, segments)) for name, fmap in taps.items()}
        pooled = taps[self.tap_names[-1]].mean(dim=(-2, -1))  # global average pool: [N*T, F]
        frame_semantic = self.fc1(self.dropout(pooled)).unflatten(0, (batch, segments))
        return {
            "logits": self.head(frame_semantic),
            "semantic": frame_semantic.mean(dim=1),
            "frame_semantic": frame_semantic,
            "features": features,
        }

    # ------------------------------------------------------------ GSDM channel importance
    def _check_last_tap(self, last_tap_features: Tensor) -> None:
        if last_tap_features.dim() != 5 or last_tap_features.shape[2] != self.feature_dim:
            raise ValueError(f"expected the last tap {self.tap_names[-1]!r} as [N, T, "
                             f"{self.feature_dim}, H, W], got {tuple(last_tap_features.shape)}")

    def frame_semantic_from_last_tap(self, last_tap_features: Tensor) -> Tensor:
        """fc1 per frame from the last tap ``[N, T, C, H, W]`` -> ``[N, T, D]``, in eval
        semantics (no dropout, whatever ``self.training``): global average pool, then fc1."""
        self._check_last_tap(last_tap_features)
        return self.fc1(last_tap_features.mean(dim=(-2, -1)))

    def logits_from_pooled(self, pooled: Tensor) -> dict[str, Tensor]:
        """The rest of ``forward`` after the global average pool, in eval semantics (no
        dropout): pooled last-tap features ``[N, T, C]`` -> ``{"logits": [N, K], "semantic":
        [N, D]}``. Zeroing a channel of the last tap zeroes only its pooled feature, so GSDM's
        channel ablation reruns from here, H*W times less work than from the tap."""
        if pooled.dim() != 3 or pooled.shape[2] != self.feature_dim:
            raise ValueError(f"expected pooled last-tap features [N, T, {self.feature_dim}], got {tuple(pooled.shape)}")
        frame_semantic = self.fc1(pooled)
        return {"logits": self.head(frame_semantic), "semantic": frame_semantic.mean(dim=1)}

    def logits_from_last_tap(self, last_tap_features: Tensor) -> Tensor:
        """The rest of ``forward`` after the last (pooled) tap: ``[N, T, C, H, W]`` -> logits
        ``[N, K]``, in eval semantics (dropout skipped even in training mode)."""
        return self.head(self.frame_semantic_from_last_tap(last_tap_features))

    def logits_from_tap(self, tap: str, tap_features: Tensor) -> dict[str, Tensor]:
        """The rest of ``forward`` after any tap, in eval semantics (dropout skipped; BatchNorm
        as the module's mode says: put the student in eval mode for running statistics):
        ``[N, T, C, H, W]`` -> ``{"logits": [N, K], "semantic": [N, D]}``. What GSDM's
        channel ablation reruns at a tap without a closed form."""
        if tap not in self.tap_names:
            raise ValueError(f"unknown tap {tap!r}; the {self.backbone_name} student has {', '.join(self.tap_names)}")
        if tap_features.dim() != 5:
            raise ValueError(f"expected the tap {tap!r} as [N, T, C, H, W], got {tuple(tap_features.shape)}")
        last = self.backbone.forward_from(tap, tap_features.flatten(0, 1)).unflatten(0, tap_features.shape[:2])
        frame_semantic = self.frame_semantic_from_last_tap(last)
        return {"logits": self.head(frame_semantic), "semantic": frame_semantic.mean(dim=1)}

    def channel_ablated_logits(self, last_tap_features: Tensor) -> Tensor:
        """Logits with each channel of the last tap zeroed in every frame, all at once:
        ``[N, T, C, H, W]`` -> ``[N, C, K]`` (row k: channel k zeroed), eval semantics.

        Exact closed form for the average-consensus heads (``tsn``, and ``tsm`` whose shift is
        inside the backbone, before this tap): zeroing channel k lowers frame t's pooled
        feature by ``m_tk = mean_hw A_tk``, which fc1 and the per-frame classifier map
        linearly, so the logits move by ``-mean_t(m_tk) * (W_head W_fc1)[:, k]``. The ``trn``
        head is nonlinear in fc1: ValueError (zero the channel and call
        ``logits_from_last_tap`` instead)."""
        if self.head_name not in ("tsn", "tsm"):
            raise ValueError(f"channel_ablated_logits needs a linear average-consensus head "
                             f"(tsn or tsm); the {self.head_name} head is nonlinear in fc1")
        logits = self.logits_from_last_tap(last_tap_features)  # checks the shape
        channel_means = last_tap_features.mean(dim=(1, 3, 4))  # [N, C]: mean over T, H, W
        composite = self.head.classifier.weight @ self.fc1.weight  # [K, C]
        return logits.unsqueeze(1) - channel_means.unsqueeze(2) * composite.t().unsqueeze(0)


def _check_arguments(backbone: str, head: str, num_classes: int, embedding_dim: int,
                     num_segments: int, dropout: float, trn_relations_per_scale: int,
                     tsm_shift_fraction: float) -> None:
    """ValueError for any argument the student cannot be built with."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {', '.join(BACKBONES)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
    for name, value in (("num_classes", num_classes), ("embedding_dim", embedding_dim),
                        ("num_segments", num_segments),
                        ("trn_relations_per_scale", trn_relations_per_scale)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if head == "trn" and num_segments < 2:
        raise ValueError(f"the trn head relates frames, so it needs num_segments >= 2, "
                         f"got {num_segments}")
    if head == "tsm":
        if backbone not in TSM_BACKBONES:
            raise ValueError(f"the tsm head has no temporal shift for {backbone}; "
                             f"use one of: {', '.join(TSM_BACKBONES)}")
        if not 0.0 <= tsm_shift_fraction <= 0.5:
            raise ValueError(f"tsm_shift_fraction must be in [0, 0.5] (two shifted blocks), "
                             f"got {tsm_shift_fraction}")


def build_student(backbone: str = "resnet18", head: str = "tsn", *, num_classes: int,
                  embedding_dim: int, num_segments: int = 8, dropout: float = 0.5,
                  pretrained_path: str | Path | None = None, trn_relations_per_scale: int = 3,
                  tsm_shift_fraction: float = 0.125) -> VideoStudent:
    """Build a :class:`VideoStudent`; see it for the arguments' meaning and the output."""
    return VideoStudent(backbone, head, num_classes=num_classes, embedding_dim=embedding_dim,
                        num_segments=num_segments, dropout=dropout,
                        pretrained_path=pretrained_path,
                        trn_relations_per_scale=trn_relations_per_scale,
                        tsm_shift_fraction=tsm_shift_fraction)
