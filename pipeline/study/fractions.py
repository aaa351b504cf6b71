"""The label-fraction study: the one-split study once per labelled fraction, reported together.

A spec with ``fractions`` runs, for each labelled fraction f in order, the study of
``Spec.at_fraction(f)``: the spec's params with ``splits.labeled_fraction=f``, that fraction's
seeds, schedule and controls, the arms that run at f; its own work folder (``<workdir>/f<f>``:
its DVC project and final-run workspaces) and its own results (``<study>_f<f>.json``, .md and
figures). Every fraction's runs go into the study's one run record (``<study>_runs.json``,
keyed by their params, the fraction included), so an interrupted study resumes and a finished
one reruns without training anything. Then the fractions are put together
(``pipeline.study.report``, ``pipeline.study.figures``): ``<study>.json`` and .md, the curve of test accuracy
against the labelled fraction per arm, and the per-class figure of the spec's class pairs.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pipeline.study.errors import RunsMissing, StudyError
from pipeline.study.executors import Executor, RecordOnly, Trainer
from pipeline.study.report import combined, write_combined
from pipeline.study.record import Record
from pipeline.project.provenance import shown
from pipeline.study.runner import RESULTS, WORK, Study
from pipeline.study.spec import Spec, fraction_label


class FractionStudy:
    """One invocation of a label-fraction study (``run``); the options are ``Study``'s. ``only``:
    the fractions to run with the executor; the others come from the record alone."""

    def __init__(self, spec: Spec, root: Path | None = None, workdir: Path | None = None,
                 results: Path | None = None, command: str = "", say: Callable[[str], None] = print,
                 executor: Executor | None = None, only: list[float] | None = None):
        unknown = [f for f in only or () if f not in spec.fractions]
        if unknown:
            raise StudyError(f"{spec.path}: --fraction {unknown[0]:g} is not one of the spec's fractions "
                             f"({', '.join(f'{f:g}' for f in spec.fractions)})")
        self.spec, self.root, self.command, self.say = spec, root, command, say
        self.executor = executor or Trainer()
        self.only = list(only or [])
        self.workdir = Path(workdir or WORK / spec.name).resolve()
        self.results = Path(results or RESULTS).resolve()
        self.record = Record(self.results / f"{spec.name}_runs.json", spec.name, write=self.executor.writes)
        self.started = time.perf_counter()

    def study(self, fraction: float) -> Study:
        """The one-split study of ``fraction``, in its own work folder, writing to the shared record;
        a fraction left out by ``only`` is read from the record alone (pending when missing)."""
        left_out = bool(self.only) and fraction not in self.only
        return Study(self.spec.at_fraction(fraction), root=self.root,
                     workdir=self.workdir / f"f{fraction_label(fraction)}", results=self.results,
                     command=self.command, say=self.say, record=self.record,
                     executor=RecordOnly() if left_out else self.executor)

    def run(self, search_only: bool = False) -> dict:
        studies, results, pending = {}, {}, []
        for fraction in self.spec.fractions:
            if not self.executor.writes and self.only and fraction not in self.only:
                continue  # --plan with --fraction: the runs of the fractions named only
            self.say(f"labelled fraction {fraction:g}:")
            study = self.study(fraction)
            try:
                results[fraction] = study.run(search_only=search_only)
            except RunsMissing:  # a fraction read from the record alone: report those it holds
                self.say(f"labelled fraction {fraction:g}: runs are missing from the record; left out, pending")
                pending.append(fraction)
                continue
            studies[fraction] = study
        if not results:
            raise RunsMissing(f"{self.spec.path}: no labelled fraction has all its runs in "
                              f"{shown(self.record.path)} (--recorded-only trains nothing)")
        result = combined(self.spec, results, {f: study.runs for f, study in studies.items()}, self.record,
                          studies[next(iter(studies))], pending)
        result["this_invocation_seconds"] = round(time.perf_counter() - self.started, 1)
        if not self.executor.writes:
            return result
        path = write_combined(self.spec, result, {f: study.runs for f, study in studies.items()}, self.results)
        self.say(f"study {self.spec.name}: results {shown(path)} and {shown(path.with_suffix('.md'))}")
        return result
