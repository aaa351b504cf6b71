"""Choices made on validation before the settings search: the teachers, the student's head.

1. **Teachers** (spec key ``teachers``: candidate name -> overrides): the teachers stage is
   trained with each candidate; the best fused validation accuracy (the epoch the model file
   keeps) wins, a tie going to the candidate listed first. No student has trained yet.
2. **Head** (spec key ``heads``): the schedule trains the reference arm with each head at each
   epoch count over the selection seeds; the (head, epochs) pair with the best mean validation
   accuracy wins, a tie going to the shorter schedule, then to the head listed first.

The winners' overrides are added to every later run (search and finals), so every arm is
compared on the same teachers and the same student.
"""
from __future__ import annotations

from pipeline.study.experiments import SearchRun, search_run
from pipeline.study.spec import Spec
from pipeline.study.statistics import summary


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
