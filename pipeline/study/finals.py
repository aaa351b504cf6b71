"""The study's final runs: every arm at its setting over the paired seeds, read once on test.

The arms run in this order: the reference, the arm chosen on validation and its pairing
controls (what the verdict needs, should a session end midway), then the others in the spec's
order (under the spec's ``finals: chosen``, a searched arm that was not chosen runs none
unless a control uses its cell). A final run the record lacks comes from the study's executor
(``pipeline.study.executors``): the trainer trains its stage in a scratch workspace with the
project's inputs and pinned code, then runs the evaluate stage, the one read of the test split
per run.

A final run whose model the search already trained (same params, so the same run key: the
schedule's reference runs and rung 2 on the selection seeds) takes that model from the
project's DVC cache and is only evaluated, once the first such run, trained again, has been
found identical to the experiment's model bit for bit (the record's ``reuse_check``;
``--train-finals`` trains them all).

An arm on top of a searched arm's chosen cell (``cell_of``) runs with that cell's overrides
then its own. Under ``distill.targets: baseline`` (self-training) the workspace gets the
frozen baseline of the same seed: the reference's final run of that seed (it runs first).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.params_compose import with_overrides
from pipeline.study.project import Project
from pipeline.study.record import Record, run_key
from pipeline.study.spec import Spec


@dataclass
class FinalArm:
    name: str
    stage: str
    overrides: list[str] = field(default_factory=list)
    setting: str = "fixed"

    @property
    def model(self) -> str:
        return "baseline" if self.stage == "baseline" else "student"


def control_arms(spec: Spec, chosen: str) -> dict[str, str]:
    """{control arm: pairing} of the final arm ``chosen`` on validation."""
    return {f"{chosen}_{pairing}": pairing for pairing in spec.controls}


def chosen_final(spec: Spec, search: dict) -> str | None:
    """The final name of the arm chosen on validation."""
    winner = search.get("chosen_on_validation")
    return spec.arms[winner].final if winner else None


def cell_controls(spec: Spec) -> dict[str, list[str]]:
    """{final name of a searched arm: the final names of the arms on top of its chosen cell}."""
    found = {}
    for arm in spec.fixed_arms.values():
        if arm.cell_of:
            found.setdefault(spec.arms[arm.cell_of].final, []).append(arm.final)
    return found


def compared_arms(spec: Spec) -> dict[str, list[str]]:
    """{final name of an arm: the final names of the other arms its spec compares it with, those
    that run at this (fraction's) spec}."""
    return {arm.final: [spec.arms[other].final for other in arm.compare_with if other in spec.arms]
            for arm in spec.arms.values() if arm.compare_with}


def final_arms(spec: Spec, search: dict) -> dict[str, FinalArm]:
    """The final arms in the order they run (see the module's docstring)."""
    arms = {}
    for arm in spec.arms.values():
        if arm.searched:
            choice = search["chosen"][arm.name]
            arms[arm.final] = FinalArm(arm.final, "distill", list(choice["overrides"]),
                                       f"validation: {arm.name}/{choice['cell']}")
        elif arm.cell_of:
            choice = search["chosen"][arm.cell_of]
            setting = arm.setting if arm.setting != "fixed" else (
                f"control: {arm.cell_of}/{choice['cell']} with {', '.join(arm.overrides)}")
            arms[arm.final] = FinalArm(arm.final, arm.stage, [*choice["overrides"], *arm.overrides], setting)
        else:
            arms[arm.final] = FinalArm(arm.final, arm.stage, list(arm.overrides), arm.setting)
    reference = spec.arms[spec.reference].final
    ordered = {reference: arms.pop(reference)}
    winner = chosen_final(spec, search)
    if winner is not None:
        ordered[winner] = arms.pop(winner)
        for name, pairing in control_arms(spec, winner).items():
            ordered[name] = FinalArm(name, "distill", [*ordered[winner].overrides, f"distill.pairing={pairing}"],
                                     f"control: {winner} with distill.pairing {pairing}")
    if spec.finals == "chosen" and winner is not None:  # the other searched arms end with their search
        kept = set(cell_controls(spec))
        arms = {name: arm for name, arm in arms.items()
                if name in kept or name not in {a.final for a in spec.searched_arms.values()}}
    ordered.update(arms)
    return ordered


def final_params(base: dict, arm: FinalArm, seed: int, epochs: int) -> dict:
    return with_overrides(base, [*arm.overrides, f"student.epochs={epochs}", f"student.seed={seed}"])


def final_key(spec: Spec, base: dict, arm: FinalArm, seed: int, epochs: int) -> str:
    return run_key(spec.split, arm.stage, final_params(base, arm, seed, epochs))


class Finals:
    """The final runs of the arms over the spec's seeds: each from the record, or from the
    ``executor`` when the record lacks it (``project`` makes the DVC project on first call).
    ``base``: the params every final starts from, with the ``settings`` chosen on validation."""

    def __init__(self, spec: Spec, base: dict, record: Record, project: Callable[[], Project], workdir: Path,
                 say: Callable[[str], None], machine: Callable[[], dict], executor, settings: list[str] = ()):
        self.spec, self.base, self.record, self.project = spec, base, record, project
        self.workdir, self.say, self.machine, self.executor = Path(workdir), say, machine, executor
        self.settings = list(settings)
        self.labeller: FinalArm | None = None  # the baseline arm whose seed's model self-training reads

    def folder(self, arm: str, seed: int) -> Path:
        """A final run's workspace (its model, for the figures that need one)."""
        return self.workdir / "finals" / f"{arm}-seed{seed}"

    def runs(self, arms: dict[str, FinalArm], epochs: int) -> dict[str, list[dict]]:
        """arm -> its runs over the spec's seeds (record entries with per-sample predictions
        where recorded)."""
        runs = {}
        reference = arms.get(self.spec.arms[self.spec.reference].final)
        self.labeller = reference if reference is not None and reference.stage == "baseline" else None
        for arm in arms.values():
            runs[arm.name] = []
            for seed in self.spec.seeds:
                key = final_key(self.spec, self.base, arm, seed, epochs)
                entry = self.record.final(key)
                if entry is None:
                    entry = self.executor.final(self, arm, seed, epochs, key)
                else:
                    self.executor.recorded(self, arm, seed, epochs, entry)
                runs[arm.name].append({**entry, "per_sample": self.record.per_sample(entry)})
        return runs

    @property
    def log(self) -> Path:
        return self.workdir / "study.log"
