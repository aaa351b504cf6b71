"""Loss registry: every distillation loss has one signature over named outputs,

    loss(student: dict, teachers: list[dict], targets: dict) -> scalar tensor

``student`` is the video student's output (``logits``, ``semantic``, ``features``{tap:
(N, T, C, H, W)}, and ``ablated`` when a loss needs the ablated pass), each teacher dict is one
sensor branch's output (``logits``, ``fc2``, ``features``{tap: (N, C, H, W) or (N, D)}, and
``ablated``), ``targets`` holds ``labels`` (N,) and ``class_embeddings`` (C, D). Losses over
several teachers average over them. ``build_loss(name, **kwargs)`` makes one by name and
``WeightedSum`` combines several, returning the total and every term.
"""
from __future__ import annotations

from torch import Tensor, nn

LOSSES: dict[str, type[nn.Module]] = {}


def register_loss(name: str):
    """Class decorator: make a loss buildable by ``name``."""

    def register(cls: type[nn.Module]) -> type[nn.Module]:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        LOSSES[name] = cls
        cls.loss_name = name
        return cls

    return register


def build_loss(name: str, **kwargs) -> nn.Module:
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](**kwargs)


class WeightedSum(nn.Module):
    """``total = sum_i weight_i * loss_i``; ``forward`` returns (total, {name: term}). Terms
    with weight 0 are not computed at all (so their ablated passes are not run either)."""

    def __init__(self, terms: dict[str, tuple[float, nn.Module]]):
        super().__init__()
        self.weights = {name: float(weight) for name, (weight, _) in terms.items()}
        self.terms = nn.ModuleDict({name: loss for name, (_, loss) in terms.items()})

    @property
    def active(self) -> list[str]:
        return [name for name, weight in self.weights.items() if weight != 0]

    @property
    def needs_ablation(self) -> bool:
        return any(getattr(self.terms[name], "needs_ablation", False) for name in self.active)

    def forward(self, student: dict, teachers: list[dict], targets: dict) -> tuple[Tensor, dict[str, Tensor]]:
        values = {name: self.terms[name](student, teachers, targets) for name in self.active}
        if not values:
            raise ValueError("every loss weight is 0: nothing to optimise")
        total = sum(self.weights[name] * value for name, value in values.items())
        return total, values

    def formula(self) -> str:
        return " + ".join(f"{weight:g} * {name}" for name, weight in self.weights.items() if weight != 0)

    def extra_repr(self) -> str:
        return f"L = {self.formula()}"


from pipeline.losses import baselines, sakdn  # noqa: E402,F401  (register the losses)
