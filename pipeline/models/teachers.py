"""Sensor teachers: one VGG-style branch per sensor, fused by SPAMFM (docs/method.md §3).

Each branch sees one sensor's ``3 x S x S`` GAF image (one channel per axis). The branches
run block by block in lockstep so that ``SemanticFusion`` (SPAMFM) can exchange information
between modalities after every layer listed in ``fusion_layers``; with no fusion layers the
branches are independent (the paper's SKDN ablation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Convolutions per block of each VGG layout (5 blocks, max-pool after each), the taps and the
# SPAMFM gates: names in a torch-free module that params reads too.
from pipeline.models.names import SPAMFM_GATES as GATES
from pipeline.models.names import SPAMFM_RELATIONS as RELATIONS
from pipeline.models.names import TEACHER_CONV_TAPS as CONV_TAPS
from pipeline.models.names import TEACHER_TAPS as TAPS
from pipeline.models.names import VGG_LAYOUTS

# The base widths of VGG.
VGG_WIDTHS = (64, 128, 256, 512, 512)


def batch_similarity(features: Tensor, relation: str = "gram", temperature: float = 0.1) -> Tensor:
    """The similarity G over the rows of ``features`` (..., b, C, [H, W] flattened per row to
    (..., b, n)): (..., b, b).

    ``gram`` (the paper): row-L2-normalised R R^T. With ReLU features every entry is positive
    and the rows are nearly equal, so G S is close to the batch mean for every sample and the
    gates hardly depend on the sample (benchmarks/results/spamfm_probe.json).
    ``softmax``: row softmax of the cosine similarities of the batch-centred rows over
    ``temperature``; a sample weighs itself and the batch-mates most like it.
    """
    if relation == "gram":
        return F.normalize(features @ features.transpose(-1, -2), p=2, dim=-1)
    if relation == "softmax":
        centred = F.normalize(features - features.mean(dim=-2, keepdim=True), p=2, dim=-1)
        return torch.softmax(centred @ centred.transpose(-1, -2) / temperature, dim=-1)
    raise ValueError(f"relation must be gram or softmax, got {relation!r}")


def batch_relation(features: Tensor, pooled: Tensor, group_size: int | None = None, relation: str = "gram",
                   temperature: float = 0.1) -> Tensor:
    """U = G S over the batch, or over each group of ``group_size`` consecutive rows (a batch
    of independent batches: what reference-set inference runs, docs/method.md §3). ``self``
    relates a sample to itself only: U = S."""
    if relation == "self":
        return pooled
    if group_size is None:
        return batch_similarity(features.flatten(1), relation, temperature) @ pooled
    if features.shape[0] % group_size:
        raise ValueError(f"batch of {features.shape[0]} is not a whole number of groups of {group_size}")
    flat = features.flatten(1).reshape(-1, group_size, features[0].numel())
    similarity = batch_similarity(flat, relation, temperature)
    return (similarity @ pooled.reshape(-1, group_size, pooled.shape[1])).reshape(pooled.shape)


class SemanticFusion(nn.Module):
    """SPAMFM: similarity-preserving adaptive multi-modal fusion at one layer.

    For modality k with features A_k (b, C, H, W) or (b, C):
    ``U_k = G_k S_k`` with ``G_k`` the batch similarity of A_k and ``S_k`` its global average
    pool; three joint representations of the U's (concatenation, sum, Hadamard product) each
    excite every modality through ``Linear -> ReLU -> Linear -> gate`` (bottleneck C / r);
    ``A_k <- (g_con + g_sum + g_had) * A_k`` channel-wise. ``relation`` chooses G (see
    ``batch_similarity``; ``self``: G = I, a batch-independent multimodal excitation).

    G depends on the batch, so the output for a sample depends on its batch-mates: at
    inference each sample runs with a fixed reference set (``group_size`` rows per group;
    docs/method.md §3).
    """

    def __init__(self, num_modalities: int, channels: int, reduction: int = 16, gate: str = "sigmoid",
                 relation: str = "gram", temperature: float = 0.1):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        if relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
        if num_modalities < 1 or channels < 1 or reduction < 1 or not temperature > 0:
            raise ValueError("num_modalities, channels, reduction and temperature must be > 0")
        self.num_modalities, self.channels, self.gate = num_modalities, channels, gate
        self.relation, self.temperature = relation, temperature
        hidden = max(channels // reduction, 1)

        def excitation(inputs: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

        joint_widths = {"concatenation": num_modalities * channels, "sum": channels, "hadamard": channels}
        self.excitations = nn.ModuleDict({
            kind: nn.ModuleList(excitation(width) for _ in range(num_modalities))
            for kind, width in joint_widths.items()
        })

    def joint_representations(self, features: list[Tensor], group_size: int | None = None) -> dict[str, Tensor]:
        pooled = [a.mean(dim=(2, 3)) if a.dim() == 4 else a for a in features]
        relation = [batch_relation(a, s, group_size, self.relation, self.temperature)
                    for a, s in zip(features, pooled)]  # U_k, (b, C)
        product = relation[0]
        for u in relation[1:]:
            product = product * u
        return {"concatenation": torch.cat(relation, dim=1), "sum": torch.stack(relation).sum(0),
                "hadamard": product}

    def gates(self, features: list[Tensor], group_size: int | None = None) -> list[Tensor]:
        """Per modality, the summed channel gates (b, C)."""
        joint = self.joint_representations(features, group_size)
        activation = torch.sigmoid if self.gate == "sigmoid" else F.relu
        return [
            sum(activation(self.excitations[kind][k](joint[kind])) for kind in self.excitations)
            for k in range(self.num_modalities)
        ]

    def forward(self, features: list[Tensor], group_size: int | None = None) -> list[Tensor]:
        if len(features) != self.num_modalities:
            raise ValueError(f"expected {self.num_modalities} modalities, got {len(features)}")
        out = []
        for a, gate in zip(features, self.gates(features, group_size)):
            out.append(a * gate.reshape(*gate.shape, *([1] * (a.dim() - 2))).to(a.dtype))
        return out


def conv_block(in_channels: int, out_channels: int, convolutions: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(convolutions):
        layers += [
            nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SensorBranch(nn.Module):
    """A VGG-style CNN for one sensor: five conv blocks, then ``fc1 = Linear -> BN -> ReLU``
    (to D), ``fc2 = Linear(D -> D)`` (the semantic layer) and a classifier (D -> C).

    conv5 is globally average-pooled before fc1 (rather than flattened as in VGG's 224 px
    ImageNet head) so the branch works at any GAF image size."""

    def __init__(self, num_classes: int, embedding_dim: int, architecture: str = "vgg16",
                 width_mult: float = 1.0, in_channels: int = 3):
        super().__init__()
        if architecture not in VGG_LAYOUTS:
            raise ValueError(f"architecture must be one of {list(VGG_LAYOUTS)}, got {architecture!r}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        widths = [max(int(round(width * width_mult)), 1) for width in VGG_WIDTHS]
        self.widths = dict(zip(CONV_TAPS, widths))
        blocks, previous = [], in_channels
        for width, convolutions in zip(widths, VGG_LAYOUTS[architecture]):
            blocks.append(conv_block(previous, width, convolutions))
            previous = width
        self.blocks = nn.ModuleDict(zip(CONV_TAPS, blocks))
        self.fc1 = nn.Sequential(nn.Linear(previous, embedding_dim), nn.BatchNorm1d(embedding_dim), nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(embedding_dim, embedding_dim)
        self.classifier = nn.Linear(embedding_dim, num_classes)

    def channels(self, tap: str) -> int:
        return self.widths[tap] if tap in self.widths else self.fc2.out_features


class MultiSensorTeacher(nn.Module):
    """One ``SensorBranch`` per sensor with ``SemanticFusion`` after the taps in
    ``fusion_layers``. ``forward({sensor: (N, 3, S, S)})`` returns::

        {"branches": {sensor: {"logits": (N, C), "fc2": (N, D),
                               "features": {"conv1".."conv5": (N, C_l, H_l, W_l), "fc1", "fc2"}}},
         "logits": mean of the branch logits (the fused multi-teacher prediction)}

    Features are recorded after fusion, i.e. what the next layer sees.
    """

    def __init__(self, sensors: list[str], num_classes: int, embedding_dim: int, architecture: str = "vgg16",
                 width_mult: float = 1.0, fusion_layers: list[str] | tuple = TAPS, reduction: int = 16,
                 gate: str = "sigmoid", relation: str = "gram", temperature: float = 0.1):
        super().__init__()
        if not sensors:
            raise ValueError("a teacher needs at least one sensor")
        unknown = [tap for tap in fusion_layers if tap not in TAPS]
        if unknown:
            raise ValueError(f"unknown fusion layer {unknown[0]!r}; valid: {', '.join(TAPS)}")
        self.sensors = list(sensors)
        self.branches = nn.ModuleDict({
            sensor: SensorBranch(num_classes, embedding_dim, architecture, width_mult) for sensor in self.sensors
        })
        reference = self.branches[self.sensors[0]]
        # One sensor has no other modality to relate to: SPAMFM would only rescale it.
        self.fusion_layers = [tap for tap in TAPS if tap in fusion_layers] if len(self.sensors) > 1 else []
        self.fusions = nn.ModuleDict({
            tap: SemanticFusion(len(self.sensors), reference.channels(tap), reduction, gate, relation, temperature)
            for tap in self.fusion_layers
        })
        self.relation = relation

    @property
    def batch_dependent(self) -> bool:
        """Whether a sample's output depends on its batch-mates (SPAMFM's similarity)."""
        return bool(self.fusions) and self.relation != "self"

    def _fuse(self, tap: str, values: list[Tensor], group_size: int | None) -> list[Tensor]:
        return self.fusions[tap](values, group_size) if tap in self.fusions else values

    def forward(self, images: dict[str, Tensor], group_size: int | None = None) -> dict:
        """``group_size``: SPAMFM relates each group of that many consecutive rows only (a
        batch of independent batches); None relates the whole batch."""
        missing = [sensor for sensor in self.sensors if sensor not in images]
        if missing:
            raise KeyError(f"teacher input lacks sensor {missing[0]!r} (has {', '.join(images)})")
        first = CONV_TAPS[0]
        values = self._fuse(first, [self.branches[s].blocks[first](images[s]) for s in self.sensors], group_size)
        return self.forward_from(first, dict(zip(self.sensors, values)), group_size)

    def forward_from(self, tap: str, features: dict[str, Tensor], group_size: int | None = None,
                     next_block: dict[str, Tensor] | None = None) -> dict:
        """The rest of ``forward`` after the conv tap ``tap``, given every branch's activation
        there as ``forward`` records it (after that tap's fusion, which is not applied again):
        ``forward_from(tap, {s: forward(x)["branches"][s]["features"][tap]})`` equals
        ``forward(x)``. Same output dict, except that each branch's ``features`` hold ``tap``
        (as given) and the taps after it only. Used by GSDM's channel ablation
        (``pipeline/losses/gsdm_channel.py``).

        ``next_block``: for some sensors, the output of the conv block after ``tap`` (before
        its fusion), already computed: used instead of running that block (a branch whose tap
        the caller did not change need not rerun it for every ablated copy)."""
        if tap not in CONV_TAPS:
            raise ValueError(f"forward_from resumes after a conv tap ({', '.join(CONV_TAPS)}), got {tap!r}")
        missing = [sensor for sensor in self.sensors if sensor not in features]
        if missing:
            raise KeyError(f"forward_from lacks sensor {missing[0]!r} (has {', '.join(features)})")
        later_taps = CONV_TAPS[CONV_TAPS.index(tap) + 1:]
        next_block = next_block or {}
        if next_block and not later_taps:
            raise ValueError(f"next_block given, but no conv block follows {tap!r}")
        branches = [self.branches[sensor] for sensor in self.sensors]
        values = [features[sensor] for sensor in self.sensors]
        records: list[dict[str, Tensor]] = [{tap: x} for x in values]
        for index, later in enumerate(later_taps):
            values = self._fuse(later, [next_block[sensor] if index == 0 and sensor in next_block
                                        else branch.blocks[later](x)
                                        for sensor, branch, x in zip(self.sensors, branches, values)], group_size)
            for record, x in zip(records, values):
                record[later] = x
        values = [x.mean(dim=(2, 3)) for x in values]
        for later in ("fc1", "fc2"):
            values = self._fuse(later, [getattr(branch, later)(x) for branch, x in zip(branches, values)], group_size)
            for record, x in zip(records, values):
                record[later] = x
        outputs = {}
        for sensor, branch, record, x in zip(self.sensors, branches, records, values):
            outputs[sensor] = {"logits": branch.classifier(x), "fc2": x, "features": record}
        fused = torch.stack([out["logits"] for out in outputs.values()]).mean(0)
        return {"branches": outputs, "logits": fused}


def teacher_loss(output: dict, labels: Tensor, class_embeddings: Tensor, sp_weight: float) -> tuple[Tensor, dict]:
    """``mean_k CE(logits_k, y) + sp_weight * mean_k MSE(fc2_k, E[y])`` (L_SP^T). Returns the
    total and its terms."""
    branches = list(output["branches"].values())
    cross_entropy = torch.stack([F.cross_entropy(b["logits"], labels) for b in branches]).mean()
    targets = class_embeddings[labels]
    semantic = torch.stack([F.mse_loss(b["fc2"], targets.to(b["fc2"].dtype)) for b in branches]).mean()
    total = cross_entropy + sp_weight * semantic
    return total, {"ce": cross_entropy.detach(), "semantic": semantic.detach()}
