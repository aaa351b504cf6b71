"""A study from its spec to its results: search, final runs, statistics, figures, report.

Every run comes from the study's run record when it is there; the DVC project (a clone, the
preprocessing, the teacher) is made only when a run is missing, so a finished study reruns in
seconds, without its data, and writes the same numbers.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pipeline.study.executors import Executor, Trainer
from pipeline.study.finals import (Finals, cell_controls, chosen_final, compared_arms, control_arms, final_arms,
                                   final_key)
from pipeline.params_compose import with_overrides
from pipeline.project.dvc_yaml import REPO
from pipeline.project.provenance import git_commit, machine, shown
from pipeline.study.project import Project
from pipeline.study.record import Record, run_key
from pipeline.study.report import run_seconds, write_results
from pipeline.study.search import Search, experiments_table, project_student
from pipeline.study.spec import Spec
from pipeline.study.statistics import statistics_of, verdict

RESULTS = REPO / "studies" / "results"
WORK = REPO / "studies" / ".work"


class Study:
    """One invocation of a study (``run``); ``say`` gets the progress messages."""

    def __init__(self, spec: Spec, root: Path | None = None, workdir: Path | None = None,
                 results: Path | None = None, command: str = "", say: Callable[[str], None] = print,
                 record: Record | None = None, executor: Executor | None = None):
        self.spec, self.root = spec, Path(root) if root is not None else None
        self.workdir = Path(workdir or WORK / spec.name).resolve()
        self.results = Path(results or RESULTS).resolve()
        self.command, self.print = command, say
        self.executor = executor or Trainer()  # where the runs the record lacks come from
        self.record = record or Record(self.results / f"{spec.name}_runs.json", spec.name, write=self.executor.writes)
        self.base = spec.base_params(self.root)
        self.teachers: list[str] = []  # the overrides of the teachers chosen on validation
        self.runs: dict[str, list[dict]] = {}  # the final runs, per final arm (after ``run``)
        self.started = time.perf_counter()
        self._project: Project | None = None
        self._machine: dict | None = None

    def say(self, message: str) -> None:
        self.print(message)
        if self.workdir.is_dir() and self.executor.writes:  # a plan writes nothing, not even a log
            with open(self.workdir / "study.log", "a") as handle:
                handle.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")

    def machine(self) -> dict:
        if self._machine is None:
            self._machine = machine()
        return self._machine

    def project(self) -> Project:
        """The study's DVC project, made by the executor on first call (only when a run is missing)."""
        if self._project is None:
            self._project = self.executor.project(self)
        return self._project

    def project_params(self) -> dict:
        """The project's params: the study's, with the teachers chosen on validation (so that
        experiments share its teachers), a short schedule and seed 0."""
        return with_overrides(self.base, [*self.teachers, *project_student(self.spec, self.base)])

    def teachers_chosen(self, overrides: list[str]) -> None:
        self.teachers = list(overrides)
        if self._project is not None:
            self._project.retarget(self.project_params())

    def header(self, search: dict, status: str) -> dict:
        return {"study": self.spec.name, "spec": shown(self.spec.path), "status": status, "split": self.spec.split,
                "seeds": self.spec.seeds, "reference": self.spec.arms[self.spec.reference].final, "controls": [],
                "command": self.command, "git": git_commit(), "machine": self.machine(),
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "search": search,
                "chosen_on_validation": chosen_final(self.spec, search) if "chosen" in search else None,
                "students": {}, "verdict": "Search not finished; final runs pending.",
                "results_folder": shown(self.results)}

    def provenance(self, keys: list[tuple[str, str]]) -> dict:
        """The code commits and machines of the runs ``keys`` ((section, key) pairs) used."""
        entries = [self.record.data[section][key] for section, key in keys if key in self.record.data[section]]
        commits = list(dict.fromkeys(entry["commit"] for entry in entries if entry.get("commit")))
        machines = {entry["machine"]: self.record.data["machines"][entry["machine"]]
                    for entry in entries if entry.get("machine") in self.record.data["machines"]}
        return {"code_commits": commits, "machines": machines}

    def gsdm_maps(self, finals: Finals, arms: dict, epochs: int) -> Callable[[Path], str | None]:
        """Draws the GSDM maps from the first seed's workspaces of the reference (a baseline) and
        the chosen arm, or the first final arm that distils GSDM maps; None if not there."""
        spec, seed, base = self.spec, self.spec.seeds[0], finals.base

        def distils_gsdm(arm) -> bool:
            params = with_overrides(base, arm.overrides)
            return arm.stage == "distill" and params["distill"]["method"] == "sakdn" and float(params["beta"]) > 0

        def draw(path: Path) -> str | None:
            from ruamel.yaml import YAML

            reference = arms[next(iter(arms))]
            candidates = [arm for arm in arms.values() if distils_gsdm(arm)]
            if reference.stage != "baseline" or not candidates:
                return None
            pair = [reference, candidates[0]]
            for arm in pair:  # the workspace must hold the recorded run, not an older one
                folder = finals.folder(arm.name, seed)
                model = folder / "models" / spec.split / f"{arm.model}.pt"
                if not model.is_file() or run_key(spec.split, arm.stage, YAML(typ="safe", pure=True).load(
                        (folder / "params.yaml").read_text())) != final_key(spec, base, arm, seed, epochs):
                    return None
            from pipeline.study.gsdm_maps import draw_gsdm_maps

            return draw_gsdm_maps(finals.folder(pair[1].name, seed), finals.folder(pair[0].name, seed), spec.split,
                                  path)
        return draw

    def run(self, search_only: bool = False) -> dict:
        from pipeline.study.figures import draw_figures

        spec, results = self.spec, self.results
        self.say(f"study {spec.name}: run record {shown(self.record.path)} "
                 f"({len(self.record.data['search'])} search runs, {len(self.record.data['finals'])} final runs)")

        writes = self.executor.writes

        def progress(found: dict) -> None:
            if writes:
                write_results(spec, self.header(found, "search in progress"), results)

        search = Search(spec, self.base, self.record, self.project, self.say, self.machine,
                        self.teachers_chosen).run(progress)
        search["experiments_table"] = experiments_table(self._project, results, spec.name) if writes else None
        result = self.header(search, "search done")
        epochs = search["schedule"]["epochs"]
        keys = [("search", key) for key in self.record.data["search"]]
        if not search_only:
            arms = final_arms(spec, search)
            settings = search.get("settings", [])
            finals = Finals(spec, with_overrides(self.base, settings), self.record, self.project, self.workdir,
                            self.say, self.machine, self.executor, settings)
            runs = self.runs = finals.runs(arms, epochs)
            chosen = result["chosen_on_validation"]
            controls = list(control_arms(spec, chosen)) if chosen else []
            reference = result["reference"]
            comparisons = cell_controls(spec)
            if chosen:
                comparisons[chosen] = [*controls, *comparisons.get(chosen, [])]
            # pairs the spec adds beyond the controls; one whose arm ran no finals is said as not run
            compared = {arm: [o for o in others if o != reference and o not in comparisons.get(arm, [])]
                        for arm, others in compared_arms(spec).items() if arm in runs}
            for arm, others in compared.items():
                comparisons[arm] = [*comparisons.get(arm, []), *(o for o in others if o in runs)]
            students = statistics_of(runs, spec.seeds, reference, comparisons, self.record.recorded_mcnemar)
            for name, arm in arms.items():
                students[name].update(setting=arm.setting, overrides=arm.overrides)
            keys = [("finals", run["key"]) for arm_runs in runs.values() for run in arm_runs]
            result.update(
                status="done", controls=controls, cell_controls=cell_controls(spec),
                compared={arm: others for arm, others in compared.items() if others}, students=students,
                verdict=verdict(students, chosen, reference, controls, spec.target_gain), seconds=run_seconds(runs),
                finals_from_search={"runs": sum(bool(run.get("trained_in")) for r in runs.values() for run in r),
                                    "check": self.record.reuse_check})
            result.update(self.provenance(keys))
            if writes:
                result.update(draw_figures(spec, result, runs, results, self.gsdm_maps(finals, arms, epochs)))
        else:
            result.update(self.provenance(keys))
        result["this_invocation_seconds"] = round(time.perf_counter() - self.started, 1)
        if not writes:
            return result
        path = write_results(spec, result, results)
        self.say(f"study {spec.name}: {result['verdict']} Results: {shown(path)}"
                 + (f" and {shown(path.with_suffix('.md'))}" if result["students"] else ""))
        return result
