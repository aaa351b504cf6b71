"""The loss registry (a leaf: the loss families import it; ``pipeline.losses`` imports them so
they register). Every distillation loss has one signature over named outputs,

    loss(student: dict, teachers: list[dict], targets: dict) -> scalar tensor

``student`` is the video student's output (``logits``, ``semantic``, ``features``{tap:
(N, T, C, H, W)}, and ``ablated`` when a loss needs the ablated pass), each teacher dict is one
sensor branch's output (``logits``, ``fc2``, ``features``{tap: (N, C, H, W) or (N, D)}, and
``ablated``), ``targets`` holds ``labels`` (N,) and ``class_embeddings`` (C, D). Losses over
several teachers average over them. ``build_loss(name, **kwargs)`` makes one by name and
``WeightedSum`` combines several, returning the total and every term.

Every registered loss builds itself from the validated params with
``cls.from_params(params, **context)``: it reads its own keys (``distill.rkd.distance_weight``,
``distill.layer_pairs``, ``temperature``, ...) and takes from ``context`` what only the models
know (``student_channels`` and ``teacher_channels`` of the layer pairs, for FitNet); it ignores
the context it does not need. ``build_objective(params, method, **context)`` is the student's
whole loss for a method: ``baseline`` (CE alone), ``sakdn`` (CE + alpha L_ST + beta L_GSDM +
gamma L_SP^S) or a loss registered with ``method=True`` (CE + that loss). The values
``distill.method`` accepts are ``distill_methods()``: params reads them from here.
"""
from __future__ import annotations

from torch import Tensor, nn

from pipeline.errors import ParamsError


class Loss(nn.Module):
    """Base of the registered losses. ``method``: selectable as ``distill.method`` (set by
    ``register_loss``); ``needs_ablation``: needs the networks' ablated pass (GSDM);
    ``needs_teacher_features``: reads the teachers' tap features (feature-map losses), which the
    teacher-output cache otherwise leaves on disk."""

    loss_name: str = ""
    method: bool = False
    needs_ablation: bool = False
    needs_teacher_features: bool = False

    @classmethod
    def from_params(cls, params: dict, **context) -> "Loss":
        """This loss as the validated ``params`` configure it; ``context``: what the models
        know (``student_channels``, ``teacher_channels``), ignored unless needed."""
        return cls()


def param(params: dict, key: str):
    """The value of a dotted params key (``distill.rkd.distance_weight``); ParamsError naming
    it when absent."""
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ParamsError(f"{key}: missing (a loss needs it)")
        value = value[part]
    return value


def layer_pairs(params: dict) -> list[tuple[str, str]]:
    """``distill.layer_pairs`` as (teacher tap, student tap) tuples."""
    return [tuple(pair) for pair in param(params, "distill.layer_pairs")]


LOSSES: dict[str, type[Loss]] = {}


def register_loss(name: str, *, method: bool = False):
    """Class decorator: make a loss buildable by ``name``; ``method=True`` makes it a value of
    ``distill.method`` (the student then trains with CE + this loss)."""

    def register(cls: type[Loss]) -> type[Loss]:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        if not (isinstance(cls, type) and issubclass(cls, Loss)):
            raise TypeError(f"loss {name!r} must subclass pipeline.losses.Loss")
        LOSSES[name] = cls
        cls.loss_name, cls.method = name, method
        return cls

    return register


def build_loss(name: str, **kwargs) -> nn.Module:
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](**kwargs)


# The student's objectives made of several registered terms: term -> its weight, a number or the
# top-level params key that holds it. Any other distillation method is CE + that loss.
OBJECTIVES: dict[str, dict[str, float | str]] = {
    "baseline": {"ce": 1.0},  # the student alone, the paper's "Student (Baseline)"; not a distill.method
    "sakdn": {"ce": 1.0, "soft_target": "alpha", "gsdm": "beta", "semantic": "gamma"},
    # A control (docs/method.md §6b): CE on smoothed labels, no teacher term.
    "label_smoothing": {"label_smoothing": 1.0},
    # Labels for the unlabeled clips (docs/method.md §6d): CE + the weighted pseudo-label term.
    "pseudo_label": {"ce": 1.0, "pseudo_label": "distill.pseudo_label.weight"},
}
# Terms that join any distillation objective (not the baseline, not a control) when the params
# key holding their weight is > 0, so they compose with SAKDN's terms.
EXTRA_TERMS: dict[str, str] = {"dkd": "distill.dkd.weight", "contrastive": "distill.contrastive.weight"}
CONTROLS = ("baseline", "label_smoothing")
# Objectives with no teacher term for the extra terms to join (they label clips instead).
NO_EXTRA_TERMS = CONTROLS + ("pseudo_label",)


def distill_methods() -> tuple[str, ...]:
    """Every value of ``distill.method``: the composite objectives (sakdn) and each registered
    loss flagged ``method``."""
    composites = tuple(name for name in OBJECTIVES if name != "baseline")
    return composites + tuple(name for name, cls in LOSSES.items() if cls.method and name not in composites)


def objective_terms(params: dict, method: str) -> dict[str, float]:
    """{registered loss: weight} of the student's loss for ``method``, with the extra terms."""
    if method in OBJECTIVES:
        terms = {name: float(param(params, weight)) if isinstance(weight, str) else float(weight)
                 for name, weight in OBJECTIVES[method].items()}
    elif method in LOSSES and LOSSES[method].method:
        terms = {"ce": 1.0, method: 1.0}
    else:
        raise ParamsError(f"distill.method: unknown student objective {method!r} "
                          f"(valid: baseline, {', '.join(distill_methods())})")
    if method not in NO_EXTRA_TERMS:
        for name, key in EXTRA_TERMS.items():
            if name not in terms and float(param(params, key)) > 0:
                terms[name] = float(param(params, key))
    return terms


def build_objective(params: dict, method: str, **context) -> "WeightedSum":
    """The student's loss for ``method`` (see the module docstring), every term built by its
    class's ``from_params(params, **context)``."""
    return WeightedSum({name: (weight, LOSSES[name].from_params(params, **context))
                        for name, weight in objective_terms(params, method).items()})


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

    @property
    def needs_teacher_features(self) -> bool:
        return any(getattr(self.terms[name], "needs_teacher_features", False) for name in self.active)

    @property
    def needs_segment_positions(self) -> bool:
        return any(getattr(self.terms[name], "needs_segment_positions", False) for name in self.active)

    @property
    def channel_importance(self) -> nn.Module | None:
        """The active term that needs GSDM's per-channel weights (its ``pairs`` and
        ``readout``), or None."""
        return next((self.terms[name] for name in self.active
                     if getattr(self.terms[name], "needs_channel_weights", False)), None)

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
