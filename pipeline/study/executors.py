"""Where a study's missing runs come from: its executor.

A study turns its spec and its run record into run requests (``search``: validation runs;
``finals``: final runs) and looks each up in the record; only a run the record lacks goes to
the executor. Three executors, one interface:

- ``Trainer`` (the default): the search's runs as queued DVC experiments in the study's
  project, the final runs in scratch workspaces with the project's inputs, each read once on
  the test split, recorded as they finish;
- ``RecordOnly`` (``--recorded-only``): a missing run is ``RunsMissing``; nothing is made;
- ``Planner`` (``--plan``, ``pipeline.study.plan``): notes each missing run and its estimated
  time, writes nothing.

An executor has ``writes`` (whether the study writes its record and results), ``project(study)``
(the DVC project the search's experiments run in, made on the study's first missing run),
``final(finals, arm, seed, epochs, key)`` (a missing final run's record entry) and
``recorded(finals, arm, seed, epochs, entry)`` (told of each final run the record holds).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline.params_rules import labels_with_baseline
from pipeline.project.provenance import shown
from pipeline.project.workspace import make_workspace, run_stage
from pipeline.study.errors import RunsMissing, StudyError
from pipeline.study.finals import FinalArm, Finals, final_key, final_params
from pipeline.study.project import Project, check_trained
from pipeline.study.record import run_key


class Executor:
    """The interface, and what every executor does with a recorded run: nothing."""

    writes = True

    def project(self, study) -> Project:
        raise NotImplementedError

    def final(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, key: str) -> dict:
        raise NotImplementedError

    def recorded(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, entry: dict) -> None:
        return None


class RecordOnly(Executor):
    """Every run from the record: a missing one raises ``RunsMissing``, nothing is made or trained."""

    def project(self, study) -> Project:
        raise RunsMissing(f"{study.spec.path}: runs are missing from {shown(study.record.path)} "
                          f"(--recorded-only trains nothing)")

    def final(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, key: str) -> dict:
        raise RunsMissing(f"{finals.spec.path}: final run {arm.name} seed {seed} is missing from the run record "
                          f"(--recorded-only trains nothing)")


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


class Trainer(Executor):
    """Trains the missing runs through DVC. ``update_code``: re-clone a project made from other
    code; ``train_finals``: train every final run, even one whose model the search trained."""

    def __init__(self, update_code: bool = False, train_finals: bool = False):
        self.update_code, self.train_finals = update_code, train_finals

    def project(self, study) -> Project:
        data = study.root or study.spec.data_root
        if data is not None and not Path(data).is_dir():
            raise StudyError(f"{study.spec.path}: runs are missing from {shown(study.record.path)} and the "
                             f"dataset folder {data} is not there (the spec's data_root, or --root)")
        study.workdir.mkdir(parents=True, exist_ok=True)
        project = Project(study.workdir / "project", study.project_params(), study.spec.split,
                          study.workdir / "study.log", self.update_code, study.say)
        project.ensure()
        return project

    def trained_in_search(self, finals: Finals, key: str, model: str) -> dict | None:
        """The search's experiment that trained this run's model (same run key), with its
        model file in the project's cache; None if none did or ``train_finals``."""
        searched = finals.record.search_run(key)
        if self.train_finals or searched is None:
            return None
        project = finals.project()
        experiment = project.experiments(fresh=False).get(searched["name"])
        md5 = (experiment or {}).get("outs", {}).get(f"models/{finals.spec.split}/{model}.pt")
        if not md5 or not project.cached_file(md5).is_file():
            return None
        return {"name": searched["name"], "model": project.cached_file(md5),
                "live": project.validation(experiment, model)}

    def final(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, key: str) -> dict:
        """Train (or take the identical model the search trained) and evaluate once on test."""
        import torch

        spec, record = finals.spec, finals.record
        split, project = spec.split, finals.project()
        params = final_params(finals.base, arm, seed, epochs)
        folder = finals.folder(arm.name, seed)
        if folder.exists():
            shutil.rmtree(folder)  # scratch: a run not in the record starts afresh
        links = {**project.data_links(), **project.upstream_links(params, [*finals.settings, *arm.overrides])}
        make_workspace(folder, params, links, project.root)
        dvc_yaml = project.root / "dvc.yaml"
        model_file = folder / "models" / split / f"{arm.model}.pt"
        trained = self.trained_in_search(finals, key, arm.model)
        check = record.reuse_check
        seconds, labeller = {}, None
        if trained and check is not None and check["identical"]:
            model_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trained["model"], model_file)
            live = trained["live"]
        else:
            if arm.stage == "distill" and labels_with_baseline(params):
                labeller = self.link_baseline(finals, folder, seed, epochs, seconds)
            seconds[arm.stage] = round(run_stage(folder, arm.stage, item=split, log=finals.log, dvc_yaml=dvc_yaml), 1)
            summary = json.loads((folder / "dvclive" / split / arm.model / "metrics.json").read_text())
            check_trained(summary, f"final run {arm.name} seed {seed} in {folder}", arm.model)
            live = {"validation_accuracy": float(summary["best_val_accuracy"]), "best_epoch": summary["best_epoch"]}
            if trained and check is None:
                check = {"arm": arm.name, "seed": seed, "experiment": trained["name"],
                         **models_compared(model_file, trained["model"])}
                record.set_reuse_check(check)
                finals.say(f"reuse check: {arm.name} seed {seed} trained again vs experiment {trained['name']}: "
                           f"{'identical' if check['identical'] else 'DIFFERENT'} "
                           f"(largest difference {check['max_abs_difference']})")
            trained = None
        others = tuple(f"--{other}" for other in ("baseline", "student") if other != arm.model)
        seconds["evaluate"] = round(run_stage(folder, "evaluate", item=split, leave_out=others, log=finals.log,
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
                 "machine": record.machine_id(finals.machine())}
        record.add_final(key, entry, details["per_sample"])
        origin = f", trained in experiment {entry['trained_in']}" if entry["trained_in"] else ""
        finals.say(f"final {arm.name} seed {seed}: test {entry['accuracy']:.2f}% (validation "
                   f"{entry['validation_accuracy']:.2f}%, {', '.join(f'{k} {v} s' for k, v in seconds.items())}"
                   f"{origin})")
        return record.final(key)

    def link_baseline(self, finals: Finals, folder: Path, seed: int, epochs: int, seconds: dict) -> dict:
        """Self-training reads the frozen baseline of the same seed (models/<split>/baseline.pt):
        the reference's final run of that seed, linked from its workspace when it holds that run,
        else trained here with the same params (the same model on one machine)."""
        from ruamel.yaml import YAML

        spec = finals.spec
        if finals.labeller is None:
            raise StudyError(f"{spec.path}: distill.targets baseline reads the baseline's model: the reference "
                             f"arm {spec.reference} must be a baseline arm")
        key = final_key(spec, finals.base, finals.labeller, seed, epochs)
        source = finals.folder(finals.labeller.name, seed)
        model = source / "models" / spec.split / "baseline.pt"
        target = folder / "models" / spec.split / "baseline.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        if model.is_file() and run_key(spec.split, "baseline", YAML(typ="safe", pure=True).load(
                (source / "params.yaml").read_text())) == key:
            target.symlink_to(model.resolve())
            return {"key": key, "model": "linked from the reference's final run"}
        seconds["baseline"] = round(run_stage(folder, "baseline", item=spec.split, log=finals.log,
                                              dvc_yaml=finals.project().root / "dvc.yaml"), 1)
        return {"key": key, "model": "trained again with the reference's final params"}
