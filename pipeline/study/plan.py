"""``--plan``: the runs a study would train and an estimate of their time, training nothing.

The study runs as it would, on a copy of its run record that is never written, with this
module's executor (``pipeline.study.executors``): a stand-in DVC project and final runs that
note each missing run instead of training it. A recorded run
costs nothing; the choices not yet made are made as a tie would make them, except the
schedule, where the longest wins (the estimate is an upper bound there): the first teachers
and head listed, the first cells of each arm. A final run the search already trained is
counted as evaluated only (after the first, trained again to check it is identical).

The time is estimated from the spec's ``cost`` (seconds, measured on the study's machine): a
student run takes ``run_seconds + epochs x (clips x factor + validation_clips / 3) x
clip_seconds``, where the baseline's clips are the labelled ones (``training_clips x f``), a
distilled student's every training clip at ``distill_factor``; a teachers run
``teachers_seconds``; an experiment ``experiment_seconds`` more (DVC's copy of the workspace
and commit), a final run ``evaluate_seconds`` more; a project ``setup_seconds``. Where the
record holds final runs trained on this machine, their measured time against the model's scales
the estimate too (the cost model is one machine's; another VM of the same name ran 2x slower).
"""
from __future__ import annotations

import statistics

from pipeline.project.provenance import fingerprint
from pipeline.study.executors import Executor
from pipeline.study.finals import FinalArm, Finals, final_params
from pipeline.study.overrides import results_params

PHASES = {"teachers": "teachers", "schedule": "schedule", "r1": "rung 1", "r2": "rung 2", "upstream": "upstream"}


class PlannedProject:
    """A DVC project that notes the experiments queued in it and finishes each at once with a
    validation accuracy that only ties break (the schedule's: its epochs)."""

    commit = None
    ready = False

    def __init__(self, plan: Planner, study: str, params: dict):
        self.plan, self.study, self.params = plan, study, params
        plan.note(study, "project", "set-up", "", None, plan.cost_of("setup_seconds"))

    def run_queue(self, wanted: dict, finished=lambda name, experiment: None) -> dict:
        experiments = {}
        for name, (overrides, target, params) in wanted.items():
            stage = target.split("@")[0]
            seconds = self.plan.training_seconds(stage, params)
            if stage == "teachers" and seconds is not None and params["teacher"] == self.params["teacher"]:
                seconds = 0.0  # the project's own teachers: nothing reruns
            self.plan.note(self.study, PHASES.get(name.split("-")[0], "search"), name, stage,
                           params["student"]["epochs"] if stage != "teachers" else None,
                           None if seconds is None else seconds + self.plan.cost_of("experiment_seconds"))
            experiments[name] = {"name": name, "score": 0.0 if stage == "teachers" else params["student"]["epochs"]}
            finished(name, experiments[name])
        return experiments

    def validation(self, experiment: dict, model: str) -> dict:
        return {"validation_accuracy": float(experiment["score"]), "best_epoch": None}

    def retarget(self, params: dict) -> None:
        if fingerprint(results_params(params)) != fingerprint(results_params(self.params)):
            self.plan.note(self.study, "project", "chosen teachers", "teachers", None,
                           self.plan.cost_of("teachers_seconds"))
        self.params = params


class Planner(Executor):
    """The study's executor under ``--plan``: notes each missing run with its estimated seconds
    (a final run is recorded, in the record's unwritten copy, with test accuracy 0)."""

    writes = False

    def __init__(self, cost: dict | None, train_finals: bool = False):
        self.cost, self.train_finals = cost, train_finals
        self.rows: list[dict] = []
        self.timings: list[tuple[float, float]] = []  # (the model's, measured) training seconds on this machine

    def project(self, study) -> PlannedProject:
        return PlannedProject(self, study.spec.name, study.project_params())

    def recorded(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, entry: dict) -> None:
        """A recorded final run this machine trained, timed against the cost model."""
        seconds = (entry.get("seconds") or {}).get(arm.stage)
        if seconds and entry.get("machine") == finals.record.machine_id(finals.machine()):
            self.measured(self.training_seconds(arm.stage, final_params(finals.base, arm, seed, epochs)), seconds)

    def final(self, finals: Finals, arm: FinalArm, seed: int, epochs: int, key: str) -> dict:
        record = finals.record
        params = final_params(finals.base, arm, seed, epochs)
        searched = record.search_run(key)
        check = record.reuse_check
        reused = searched is not None and not self.train_finals and check is not None and check["identical"]
        if searched is not None and check is None and not self.train_finals:
            record.data["reuse_check"] = {"identical": True, "planned": True}
        training = 0.0 if reused else self.training_seconds(arm.stage, params)
        seconds = None if self.cost is None else training + self.cost_of("evaluate_seconds")
        self.note(finals.spec.name, "final", f"{arm.name} seed {seed}" + (" (evaluated only)" if reused else ""),
                  arm.stage, None if reused else epochs, seconds)
        record.add_final(key, {"arm": arm.name, "seed": seed, "stage": arm.stage, "overrides": arm.overrides,
                               "epochs": epochs, "accuracy": 0.0, "f_measure": 0.0, "validation_accuracy": 0.0,
                               "best_epoch": None, "seconds": {}, "trained_in": searched["name"] if reused else None})
        return record.final(key)

    def cost_of(self, key: str) -> float | None:
        return None if self.cost is None else float(self.cost.get(key, 0.0))

    def training_seconds(self, stage: str, params: dict) -> float | None:
        """A training run's estimated seconds (None without a cost model)."""
        cost = self.cost
        if cost is None:
            return None
        if stage == "teachers":
            return float(cost.get("teachers_seconds", 0.0))
        fraction = float(params["splits"].get("labeled_fraction", 1.0))
        clips = cost["training_clips"] * (fraction if stage == "baseline" else cost.get("distill_factor", 1.0))
        per_epoch = (clips + cost.get("validation_clips", 0) / 3) * cost["clip_seconds"]
        return cost.get("run_seconds", 0.0) + params["student"]["epochs"] * per_epoch

    def measured(self, estimate: float | None, seconds: float) -> None:
        if estimate:
            self.timings.append((estimate, seconds))

    def note(self, study: str, phase: str, name: str, stage: str, epochs: int | None, seconds: float | None) -> None:
        self.rows.append({"study": study, "phase": phase, "name": name, "stage": stage, "epochs": epochs,
                          "seconds": seconds})

    def report(self, spec) -> str:
        """The runs, per study and phase, with the estimate."""
        timed = self.cost is not None
        lines, total = [], 0.0
        trainings = [row for row in self.rows if row["epochs"] is not None or row["stage"] == "teachers"]
        lines.append(f"plan for {spec.path}: {len(trainings)} training runs and "
                     f"{sum(row['phase'] == 'final' for row in self.rows)} test-split reads to do")
        for study in dict.fromkeys(row["study"] for row in self.rows):
            rows = [row for row in self.rows if row["study"] == study]
            seconds = sum(row["seconds"] or 0.0 for row in rows)
            total += seconds
            lines.append(f"{study}:" + (f" ~{seconds / 3600:.2f} h" if timed else ""))
            for phase in dict.fromkeys(row["phase"] for row in rows):
                listed = [row for row in rows if row["phase"] == phase]
                lines.append(f"  {phase}: {len(listed)}" + (f", ~{sum(r['seconds'] for r in listed):.0f} s"
                                                            if timed else ""))
                for row in listed:
                    what = f"{row['stage']} {row['epochs']} epochs" if row["epochs"] else row["stage"]
                    lines.append((f"    {row['name']:<48} {what:<22}"
                                  + (f" ~{row['seconds']:.0f} s" if timed else "")).rstrip())
        if not self.rows:
            lines.append("nothing to train: every run is in the record")
        if timed:
            lines.append(f"total: ~{total:.0f} s = ~{total / 3600:.2f} hours on one process (the spec's cost "
                         f"model; the longest schedule assumed where it is not chosen yet)")
            if self.timings:
                ratio = statistics.median(seconds / estimate for estimate, seconds in self.timings)
                lines.append(f"this machine: {len(self.timings)} recorded final runs trained here took {ratio:.2f}x "
                             f"the model's time (median): ~{total * ratio / 3600:.2f} hours at that speed")
        else:
            lines.append("no time estimate: the spec has no cost key")
        return "\n".join(lines)
