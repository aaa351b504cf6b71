"""A validation run: one DVC experiment of one stage with its overrides, keyed as the record
keys it (split, stage, full params), so the same params are trained once whatever asks."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.params_compose import with_overrides
from pipeline.study.project import cell_name
from pipeline.study.record import run_key
from pipeline.study.spec import Spec

# The model file (and dvclive folder) each stage the search targets writes.
MODELS = {"baseline": "baseline", "distill": "student", "teachers": "teachers"}


@dataclass
class SearchRun:
    """One validation run: a DVC experiment ``name`` of ``stage`` with ``overrides``."""
    name: str
    stage: str
    overrides: list[str]
    params: dict
    key: str

    @property
    def model(self) -> str:
        return MODELS[self.stage]


def search_run(spec: Spec, base: dict, name: str, stage: str, overrides: list[str]) -> SearchRun:
    params = with_overrides(base, overrides)
    return SearchRun(cell_name(name), stage, list(overrides), params, run_key(spec.split, stage, params))
