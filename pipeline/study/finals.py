"""The study's final runs: every arm at its setting over the paired seeds, read once on test.

The arms run in this order: the reference, the arm chosen on validation and its pairing
controls (what the verdict needs, should a session end midway), then the others in the spec's
order (under the spec's ``finals: chosen``, a searched arm that was not chosen runs none
unless a control uses its cell). A final run trains its stage in a scratch workspace with the project's inputs and
pinned code, then runs the evaluate stage, the one read of the test split per run.

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

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.params_compose import with_overrides
from pipeline.params_rules import labels_with_baseline
from pipeline.project.workspace import make_workspace, run_stage
from pipeline.study.errors import StudyError
from pipeline.study.project import Project, check_trained
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


def models_compared(path: Path, other: Path) -> dict:
    """Whether two saved models hold the same weights and training history, bit for bit."""
    import torch

    mine, theirs = (torch.load(p, map_location="cpu", weights_only=False) for p in (path, other))
    if mine["state"].keys() != theirs["state"].keys():
        return {"identical": False, "max_abs_difference": None}
    largest = max(float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
                  for a, b in ((mine["state"][k], theirs["state"][k]) for k in mine["state"]))
    identical = (all(torch.equal(mine["state"][k], theirs["state"][k]) for k in mine["state"])
                 and mine["history"] == theirs["history"])
    return {"identical": identical, "max_abs_difference": largest}


class Finals:
    """Runs the final runs the record lacks (``project`` makes the DVC project on first call).
    ``base``: the params every final starts from, with the ``settings`` chosen on validation."""

    def __init__(self, spec: Spec, base: dict, record: Record, project: Callable[[], Project], workdir: Path,
                 say: Callable[[str], None], machine: Callable[[], dict], train_finals: bool = False,
                 settings: list[str] = ()):
        self.spec, self.base, self.record, self.project = spec, base, record, project
        self.workdir, self.say, self.machine, self.train_finals = Path(workdir), say, machine, train_finals
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
                entry = self.record.final(key) or self.run(arm, seed, epochs, key)
                runs[arm.name].append({**entry, "per_sample": self.record.per_sample(entry)})
        return runs

    def trained_in_search(self, key: str, model: str) -> dict | None:
        """The search's experiment that trained this run's model (same run key), with its
        model file in the project's cache; None if none did or ``--train-finals``."""
        searched = self.record.search_run(key)
        if self.train_finals or searched is None:
            return None
        project = self.project()
        experiment = project.experiments(fresh=False).get(searched["name"])
        md5 = (experiment or {}).get("outs", {}).get(f"models/{self.spec.split}/{model}.pt")
        if not md5 or not project.cached_file(md5).is_file():
            return None
        return {"name": searched["name"], "model": project.cached_file(md5),
                "live": project.validation(experiment, model)}

    def run(self, arm: FinalArm, seed: int, epochs: int, key: str) -> dict:
        """Train (or take the identical model the search trained) and evaluate once on test."""
        import torch

        split, project = self.spec.split, self.project()
        params = final_params(self.base, arm, seed, epochs)
        folder = self.folder(arm.name, seed)
        if folder.exists():
            shutil.rmtree(folder)  # scratch: a run not in the record starts afresh
        links = {**project.data_links(), **project.upstream_links(params, [*self.settings, *arm.overrides])}
        make_workspace(folder, params, links, project.root)
        dvc_yaml = project.root / "dvc.yaml"
        model_file = folder / "models" / split / f"{arm.model}.pt"
        trained = self.trained_in_search(key, arm.model)
        check = self.record.reuse_check
        seconds, labeller = {}, None
        if trained and check is not None and check["identical"]:
            model_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trained["model"], model_file)
            live = trained["live"]
        else:
            if arm.stage == "distill" and labels_with_baseline(params):
                labeller = self.link_baseline(folder, seed, epochs, seconds)
            seconds[arm.stage] = round(run_stage(folder, arm.stage, item=split, log=self.log, dvc_yaml=dvc_yaml), 1)
            summary = json.loads((folder / "dvclive" / split / arm.model / "metrics.json").read_text())
            check_trained(summary, f"final run {arm.name} seed {seed} in {folder}", arm.model)
            live = {"validation_accuracy": float(summary["best_val_accuracy"]), "best_epoch": summary["best_epoch"]}
            if trained and check is None:
                check = {"arm": arm.name, "seed": seed, "experiment": trained["name"],
                         **models_compared(model_file, trained["model"])}
                self.record.set_reuse_check(check)
                self.say(f"reuse check: {arm.name} seed {seed} trained again vs experiment {trained['name']}: "
                         f"{'identical' if check['identical'] else 'DIFFERENT'} "
                         f"(largest difference {check['max_abs_difference']})")
            trained = None
        others = tuple(f"--{other}" for other in ("baseline", "student") if other != arm.model)
        seconds["evaluate"] = round(run_stage(folder, "evaluate", item=split, leave_out=others, log=self.log,
                                              dvc_yaml=dvc_yaml), 1)
        evaluation = json.loads((folder / "evaluation" / split / "details.json").read_text())
        details, teachers = evaluation[arm.model], evaluation["teachers"]["fused"]
        history = torch.load(model_file, map_location="cpu", weights_only=False)["history"]
        entry = {"arm": arm.name, "seed": seed, "stage": arm.stage, "overrides": arm.overrides, "epochs": epochs,
                 "accuracy": details["accuracy"], "f_measure": details["f_measure"], **live,
                 "teachers_accuracy": teachers["accuracy"], **({"labeller": labeller} if labeller else {}),
                 "per_class_accuracy": details["per_class_accuracy"],
                 **({"pseudo_labels": details["pseudo_labels"]} if "pseudo_labels" in details else {}),
                 "validation_curve": [epoch["val_accuracy"] for epoch in history], "seconds": seconds,
                 "trained_in": trained["name"] if trained else None, "commit": project.commit,
                 "machine": self.record.machine_id(self.machine())}
        self.record.add_final(key, entry, details["per_sample"])
        origin = f", trained in experiment {entry['trained_in']}" if entry["trained_in"] else ""
        self.say(f"final {arm.name} seed {seed}: test {entry['accuracy']:.2f}% (validation "
                 f"{entry['validation_accuracy']:.2f}%, {', '.join(f'{k} {v} s' for k, v in seconds.items())}{origin})")
        return self.record.final(key)

    def link_baseline(self, folder: Path, seed: int, epochs: int, seconds: dict) -> dict:
        """Self-training reads the frozen baseline of the same seed (models/<split>/baseline.pt):
        the reference's final run of that seed, linked from its workspace when it holds that run,
        else trained here with the same params (the same model on one machine)."""
        from ruamel.yaml import YAML

        if self.labeller is None:
            raise StudyError(f"{self.spec.path}: distill.targets baseline reads the baseline's model: the reference "
                             f"arm {self.spec.reference} must be a baseline arm")
        key = final_key(self.spec, self.base, self.labeller, seed, epochs)
        source = self.folder(self.labeller.name, seed)
        model = source / "models" / self.spec.split / "baseline.pt"
        target = folder / "models" / self.spec.split / "baseline.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        if model.is_file() and run_key(self.spec.split, "baseline", YAML(typ="safe", pure=True).load(
                (source / "params.yaml").read_text())) == key:
            target.symlink_to(model.resolve())
            return {"key": key, "model": "linked from the reference's final run"}
        seconds["baseline"] = round(run_stage(folder, "baseline", item=self.spec.split, log=self.log,
                                              dvc_yaml=self.project().root / "dvc.yaml"), 1)
        return {"key": key, "model": "trained again with the reference's final params"}

    @property
    def log(self) -> Path:
        return self.workdir / "study.log"
