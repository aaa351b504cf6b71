"""The study's search, on validation only: the choices, the schedule, then each arm's settings.

0. **Choices** made before the settings search: with the spec's ``teachers``, the teachers
   first (each candidate trains the teachers stage; the best fused validation accuracy, the
   epoch the model file keeps, wins, a tie going to the candidate listed first; no student
   has trained yet); with its ``heads``, the schedule below trains the reference arm with each
   head at each epoch count over the selection seeds and the best mean (head, epochs) wins, a
   tie going to the shorter schedule, then to the head listed first. The winners' overrides
   are added to every later run, so every arm is compared on the same teachers and student.
1. **Schedule**: the reference arm at each of the spec's ``schedule`` epoch counts over the
   selection seeds; the count with the best mean validation accuracy (a tie goes to the
   shorter) becomes every arm's schedule. Rung 1 does not depend on it: both run in one queue
   (unless the schedule also picks the head, which rung 1 trains with).
2. **Settings search** (successive halving): rung 1 trains every cell of every searched arm
   for ``short_epochs`` on the first selection seed; the best ``1/reduction`` of each arm's
   cells (at least one) go on to rung 2, the full schedule over every selection seed. Each arm
   keeps the cell with the best rung-2 mean (rung 1 breaks ties); the arm with the best mean
   is the one chosen on validation.

Every run (``SearchRun``) is a DVC experiment in the study's project of one training stage
with its overrides, keyed as the record keys it (split, stage, full params), so the same
params are trained once whatever asks and the search never reads the test split; it is
ranked by the kept epoch's ``best_val_accuracy``.
A run already in the study's record is never queued again. The choices' overrides
(``settings`` in the results) are part of every later run's overrides.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.params_compose import with_overrides
from pipeline.study.project import Project, cell_name
from pipeline.study.record import Record, run_key
from pipeline.study.spec import Spec
from pipeline.study.statistics import summary

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


def teacher_runs(spec: Spec, base: dict, student: list[str]) -> dict[str, SearchRun]:
    """candidate -> the teachers stage with its overrides (``student``: the project's student
    settings, which the teachers do not read)."""
    return {name: search_run(spec, base, f"teachers-{name}", "teachers", [*overrides, *student])
            for name, overrides in spec.teachers.items()}


def choose_teachers(spec: Spec, validation: dict[str, float]) -> dict:
    """The candidate with the best fused validation accuracy (the first listed on a tie)."""
    chosen = max(spec.teachers, key=lambda name: (validation[name], -list(spec.teachers).index(name)))
    return {"candidates": {name: round(value, 2) for name, value in validation.items()}, "chosen": chosen,
            "overrides": list(spec.teachers[chosen])}


def head_schedule_runs(spec: Spec, base: dict, settings: list[str],
                       schedule: list[int]) -> dict[tuple[str, int, int], SearchRun]:
    """(head, epochs, seed) -> the reference arm with that head at each of ``schedule``'s epoch
    counts (``settings``: the overrides chosen before, the teachers')."""
    reference = spec.arms[spec.reference]
    return {(head, epochs, seed): search_run(
                spec, base, f"schedule-{head}-e{epochs}-s{seed}", reference.stage,
                [*settings, f"student.head={head}", *reference.overrides, f"student.epochs={epochs}",
                 f"student.seed={seed}"])
            for head in spec.heads for epochs in schedule for seed in spec.selection_seeds}


def choose_head_schedule(spec: Spec, validation: dict[tuple[str, int], list[float]]) -> tuple[str, int]:
    """The best mean (head, epochs); a tie goes to the shorter schedule, then to the first head."""
    means = {key: sum(values) / len(values) for key, values in validation.items()}
    return max(means, key=lambda key: (means[key], -key[1], -spec.heads.index(key[0])))


def head_candidates(validation: dict[tuple[str, int], list[float]]) -> dict[str, dict]:
    """The results' view of the head schedule: ``<head>/<epochs>`` -> validation summary."""
    return {f"{head}/{epochs}": summary(values) for (head, epochs), values in validation.items()}


def full_epochs_default(base: dict) -> int:
    return int(base["student"]["epochs"])


def project_student(spec: Spec, base: dict) -> list[str]:
    """The student settings of the study's project (a short schedule, seed 0); the teachers'
    runs pin them too, since their experiments keep the project's."""
    return [f"student.epochs={spec.short_epochs or full_epochs_default(base)}", "student.seed=0"]


def schedule_runs(spec: Spec, base: dict, settings: list[str] = ()) -> dict[tuple[int, int], SearchRun]:
    """(epochs, seed) -> the reference arm's run at that schedule."""
    reference = spec.arms[spec.reference]
    return {(epochs, seed): search_run(spec, base, f"schedule-e{epochs}-s{seed}", reference.stage,
                                       [*settings, *reference.overrides, f"student.epochs={epochs}",
                                        f"student.seed={seed}"])
            for epochs in spec.schedule for seed in spec.selection_seeds}


def rung1_runs(spec: Spec, base: dict, settings: list[str] = ()) -> dict[tuple[str, str], SearchRun]:
    """(arm, cell) -> the cell on the short schedule, first selection seed."""
    seed = spec.selection_seeds[0]
    return {(arm.name, cell): search_run(spec, base, f"r1-{arm.name}-{cell}-e{spec.short_epochs}-s{seed}", "distill",
                                         [*settings, *overrides, f"student.epochs={spec.short_epochs}",
                                          f"student.seed={seed}"])
            for arm in spec.searched_arms.values() for cell, overrides in arm.cells.items()}


def rung2_runs(spec: Spec, base: dict, promoted: list[tuple[str, str]], epochs: int,
               settings: list[str] = ()) -> dict[tuple, SearchRun]:
    """((arm, cell), seed) -> a promoted cell on the full schedule."""
    return {((arm, cell), seed): search_run(spec, base, f"r2-{arm}-{cell}-e{epochs}-s{seed}", "distill",
                                            [*settings, *spec.arms[arm].cells[cell], f"student.epochs={epochs}",
                                             f"student.seed={seed}"])
            for arm, cell in promoted for seed in spec.selection_seeds}


def choose_schedule(validation: dict[int, list[float]]) -> int:
    means = {epochs: sum(v) / len(v) for epochs, v in validation.items()}
    return max(sorted(means), key=lambda epochs: (means[epochs], -epochs))  # a tie goes to the shorter


def promote(spec: Spec, rung1: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    """The best ``1/reduction`` of each arm's cells on rung 1 (at least one; order kept on ties)."""
    promoted = []
    for arm in spec.searched_arms:
        ranked = sorted((key for key in rung1 if key[0] == arm), key=lambda k: -rung1[k])
        promoted += ranked[:max(1, math.ceil(len(ranked) / spec.reduction))]
    return promoted


def choose_cells(spec: Spec, promoted: list[tuple[str, str]], rung1: dict, rung2: dict[tuple, list[float]]) -> dict:
    """Each searched arm's cell: the best rung-2 mean, rung 1 breaking ties."""
    chosen = {}
    for arm in spec.searched_arms:
        best = max((key for key in promoted if key[0] == arm),
                   key=lambda k: (sum(rung2[k]) / len(rung2[k]), rung1[k]))
        chosen[arm] = {"cell": best[1], "overrides": spec.arms[arm].cells[best[1]], "validation": summary(rung2[best])}
    return chosen


class Search:
    """Runs the search's experiments that the record lacks and records them as they finish.
    ``teachers_chosen(overrides)`` is told the teachers' choice as soon as it is made (the
    project then trains its shared stages with them)."""

    def __init__(self, spec: Spec, base: dict, record: Record, project: Callable[[], Project],
                 say: Callable[[str], None], machine: Callable[[], dict],
                 teachers_chosen: Callable[[list[str]], None] = lambda overrides: None):
        self.spec, self.base, self.record, self.project, self.say = spec, base, record, project, say
        self.machine, self.teachers_chosen = machine, teachers_chosen

    def validation(self, runs: dict) -> dict:
        """label -> validation accuracy of each run, from the record or from new experiments."""
        missing = {}
        for run in runs.values():
            if self.record.search_run(run.key) is None:
                missing.setdefault(run.key, run)  # two labels, one run (same params): trained once
        if missing:
            project = self.project()
            by_name = {run.name: run for run in missing.values()}

            def finished(name: str, experiment: dict) -> None:
                run = by_name[name]
                self.record.add_search(run.key, {
                    "name": name, "stage": run.stage, "overrides": run.overrides,
                    **project.validation(experiment, run.model), "commit": project.commit,
                    "machine": self.record.machine_id(self.machine())})

            project.run_queue({name: (run.overrides, f"{run.stage}@{self.spec.split}", run.params)
                               for name, run in by_name.items()}, finished)
        return {label: self.record.search_run(run.key)["validation_accuracy"] for label, run in runs.items()}

    def teachers(self, found: dict) -> list[str]:
        """The teachers' choice (its overrides; none without candidates)."""
        if not self.spec.teachers:
            return []
        runs = teacher_runs(self.spec, self.base, project_student(self.spec, self.base))
        found["teachers"] = choose_teachers(self.spec, self.validation(runs))
        self.say("teachers (fused validation): " + ", ".join(
            f"{name} {value:.2f}" for name, value in found["teachers"]["candidates"].items())
            + f" -> {found['teachers']['chosen']}")
        self.teachers_chosen(found["teachers"]["overrides"])
        return found["teachers"]["overrides"]

    def heads(self, found: dict, settings: list[str]) -> list[str]:
        """The (head, epochs) choice of the schedule; the settings with the head's."""
        spec = self.spec
        epochs = spec.schedule or [full_epochs_default(self.base)]
        values = self.validation(head_schedule_runs(spec, self.base, settings, epochs))
        by_pair = {(head, e): [values[(head, e, seed)] for seed in spec.selection_seeds]
                   for head in spec.heads for e in epochs}
        head, chosen = choose_head_schedule(spec, by_pair)
        self.say(f"heads and schedule (validation of {spec.reference}): " + ", ".join(
            f"{h} {e} epochs {sum(v) / len(v):.2f}" for (h, e), v in by_pair.items()) + f" -> {head}, {chosen}")
        found["schedule"] = {"candidates": head_candidates(by_pair), "epochs": chosen, "head": head,
                             "short_epochs": spec.short_epochs}
        return [*settings, f"student.head={head}"]

    def run(self, progress: Callable[[dict], None] = lambda found: None) -> dict:
        """The search's results: choices, schedule, rungs, each arm's chosen cell, the arm chosen
        on validation. ``progress`` gets what is found after each phase."""
        spec, found = self.spec, {}
        settings = self.teachers(found)
        if spec.heads:
            settings = self.heads(found, settings)
            found["settings"] = settings
            progress(found)
            values = self.validation({("rung1", *key): run for key, run in
                                      rung1_runs(spec, self.base, settings).items()})
        else:
            found["settings"] = settings
            # The schedule and rung 1 do not depend on each other: one queue runs both.
            first = {("schedule", *key): run for key, run in schedule_runs(spec, self.base, settings).items()}
            first.update({("rung1", *key): run for key, run in rung1_runs(spec, self.base, settings).items()})
            values = self.validation(first)
            found["schedule"] = self.schedule(values)
        epochs = found["schedule"]["epochs"]
        if not spec.searched_arms:
            progress(found)
            return {**found, "chosen": {}, "chosen_on_validation": None}
        rung1 = {key[1:]: value for key, value in values.items() if key[0] == "rung1"}
        found["rung1"] = {f"{a}/{c}": round(v, 2) for (a, c), v in rung1.items()}
        self.say("rung 1: best " + ", ".join(f"{arm} {max(v for (a, _), v in rung1.items() if a == arm):.2f}"
                                             for arm in spec.searched_arms))
        progress(found)
        promoted = promote(spec, rung1)
        values = self.validation(rung2_runs(spec, self.base, promoted, epochs, settings))
        rung2 = {key: [values[(key, seed)] for seed in spec.selection_seeds] for key in promoted}
        found["rung2"] = {f"{a}/{c}": summary(v) for (a, c), v in rung2.items()}
        chosen = choose_cells(spec, promoted, rung1, rung2)
        winner = max(chosen, key=lambda arm: chosen[arm]["validation"]["mean"])
        self.say("rung 2: " + ", ".join(f"{arm} {choice['cell']} {choice['validation']['mean']:.2f}"
                                        for arm, choice in chosen.items()) + f" -> {winner}")
        return {**found, "chosen": chosen, "chosen_on_validation": winner}

    def schedule(self, values: dict) -> dict:
        """The epochs chosen for the reference arm (the preset's without a schedule)."""
        spec = self.spec
        if not spec.schedule:
            return {"candidates": {}, "epochs": full_epochs_default(self.base), "short_epochs": spec.short_epochs}
        by_epochs = {e: [values[("schedule", e, seed)] for seed in spec.selection_seeds] for e in spec.schedule}
        epochs = choose_schedule(by_epochs)
        self.say("schedule (validation of " + spec.reference + "): " + ", ".join(
            f"{e} epochs {sum(v) / len(v):.2f}" for e, v in by_epochs.items()) + f" -> {epochs}")
        return {"candidates": {str(e): summary(v) for e, v in by_epochs.items()}, "epochs": epochs,
                "short_epochs": spec.short_epochs}


def experiments_table(project: Project | None, results: Path, study: str) -> str | None:
    """``dvc exp show`` of the search, written next to the results when the project ran
    (else the table of the run that made them stays); its file name, if there is one."""
    path = Path(results) / f"{study}_experiments.csv"
    if project is not None and project.ready:
        project.export_table(path)
    return path.name if path.exists() else None
