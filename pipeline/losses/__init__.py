"""Distillation losses, one family per module, each registered by name in
``pipeline.losses.registry`` (see its docstring for the common signature). Importing this
package registers every family, so ``distill_methods()`` and ``build_objective`` see them all."""
from __future__ import annotations

from pipeline.losses import baselines, literature, pseudo_label, sakdn  # noqa: F401  (register the losses)
from pipeline.losses.registry import (  # noqa: F401
    CONTROLS,
    EXTRA_TERMS,
    LOSSES,
    OBJECTIVES,
    Loss,
    WeightedSum,
    build_loss,
    build_objective,
    distill_methods,
    layer_pairs,
    objective_terms,
    param,
    register_loss,
)
