"""The DVC project a study runs in: a clone of this repository with the study's params.

Under ``--workdir``: a clone of this repository's HEAD with the study's params committed as
params.yaml, its shared stages (preprocessing, the teacher, its outputs) reproduced and
committed once (dvc.lock), so an experiment reruns only the stages its params change. The
search runs as queued DVC experiments there (``dvc exp run --queue``, then ``--run-all``);
the final runs take their inputs from it. Its code is pinned at the commit it was cloned from
(``commit``), so one study runs one commit's code however the repository moves on;
``--update-code`` re-clones it when the repository's code differs.

The project is made only when a run is missing from the study's record: a study whose runs
are all recorded never clones, preprocesses or trains anything.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from pipeline.params_rules import labels_with_baseline
from pipeline.project.dvc_yaml import REPO, data_paths, stage_files
from pipeline.project.dvc_yaml import stages as dvc_stages
from pipeline.project.provenance import fingerprint
from pipeline.study.errors import StudyError
from pipeline.study.overrides import results_params

# The stages upstream of a student whose outputs a final run links (teacher, fold teachers,
# teacher outputs): taken from the project or from an experiment with the same params.
UPSTREAM = ("teachers", "fold_teachers", "teacher_outputs")


def dvc_environment() -> dict:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment.pop("PYTHONPATH", None)
    return environment


def code_version(stages: tuple[str, ...] | None = None, root: Path = REPO) -> str:
    """A digest of every code file (under pipeline/ or stages/) that ``root``'s dvc.yaml names
    as a dep of ``stages`` (default: of every stage), and of dvc.yaml itself."""
    definition = dvc_stages(root / "dvc.yaml")
    paths = set()
    for stage in stages or tuple(definition):
        body = definition[stage].get("do", definition[stage])
        paths |= {dep for dep in body.get("deps", []) if dep.startswith(("pipeline", "stages"))}
    files = sorted(f for path in paths for f in ([root / path] if (root / path).is_file()
                                                  else (root / path).rglob("*.py")))
    return fingerprint((root / "dvc.yaml").read_text(),
                       *[(str(f.relative_to(root)), f.read_bytes().hex()) for f in files])


def cell_name(text: str) -> str:
    """A git-ref-safe experiment name."""
    return text.replace(".", "p").replace("_", "-")


def _dotted(params: dict, key: str):
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def check_trained(summary: dict, where: str, model: str) -> None:
    """A student's dvclive summary from a stage that trained nothing (no video: the summary
    holds ``skipped``) is one line: a study compares students."""
    if "skipped" in summary:
        raise StudyError(f"{where}: the {model} was not trained ({summary['skipped']}); a study compares video "
                         "students and needs videos")


class Project:
    """The study's DVC project at ``root`` with ``params``, made on first use (``ensure``)."""

    def __init__(self, root: Path, params: dict, split: str, log: Path, update_code: bool = False,
                 say: Callable[[str], None] = print, poll_seconds: float = 60.0):
        self.root, self.params, self.split, self.log = Path(root), params, split, Path(log)
        self.update_code, self.say, self.poll_seconds = update_code, say, poll_seconds
        self.ready = False
        self._experiments: dict | None = None
        self._summaries: dict[str, dict] = {}

    @property
    def commit(self) -> str:
        """The repository commit whose code the study's runs use."""
        self.ensure()
        return (self.root / ".study-commit").read_text().strip()

    def run(self, *command: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(list(command), cwd=self.root, capture_output=True, text=True, env=dvc_environment(),
                              timeout=timeout)
        long = command[1:3] == ("exp", "show") or command[:2] == ("git", "show")  # JSON, CSV tables, summaries
        shown = "" if long else done.stdout[-4000:]
        with open(self.log, "a") as handle:
            handle.write(f"$ {' '.join(command)}  (rc {done.returncode})\n{shown}{done.stderr[-4000:]}\n")
        if check and done.returncode != 0:
            raise StudyError(f"`{' '.join(command)}` failed in {self.root}:\n{done.stderr[-3000:]}")
        return done

    # ---------------------------------------------------------------- set-up
    def ensure(self) -> None:
        """Clone and reproduce the project unless it is there with these params (and, with
        ``update_code``, this repository's code)."""
        if self.ready:
            return
        marker = self.root / ".study-key"  # not committed: written after the outputs are
        key = fingerprint(results_params(self.params))
        same_code = self.same_code()
        if marker.exists() and marker.read_text() == key and same_code:
            self.ready = True
            return
        if marker.exists() and same_code and (self.root / ".study-commit").exists():
            self.ready = True  # made with other params (another teachers' choice): re-params in place
            self.retarget(self.params)
            return
        self.say(f"setting up the study's DVC project in {self.root} (preprocessing, teacher, teacher outputs)")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(self.root)], check=True)
        (self.root / ".study-commit").write_text(self.run("git", "rev-parse", "HEAD").stdout)
        for setting in (["user.name", "study"], ["user.email", "study@localhost"]):
            self.run("git", "config", *setting)
        from ruamel.yaml import YAML

        with open(self.root / "params.yaml", "w") as handle:
            YAML().dump(self.params, handle)
        self.run("git", "commit", "--quiet", "-am", "study params")
        self.reproduce_shared_stages()
        self.commit_outputs("study: shared stages reproduced")
        marker.write_text(key)
        self.ready = True

    def same_code(self) -> bool:
        """Whether the project may keep its code: always, unless ``update_code`` and it was
        cloned from other code (a project not cloned yet has none to keep)."""
        if not self.update_code:
            return True
        return (self.root / "dvc.yaml").exists() and code_version(root=self.root) == code_version()

    def reproduce_shared_stages(self) -> None:
        """What every experiment starts from: the preprocessing, the teachers, their outputs, and
        the baseline when the distill stage depends on its model (an experiment that runs its
        target alone needs every dep there)."""
        targets = ["frames", f"teacher_outputs@{self.split}"]
        if "baseline" in self.upstream("distill"):
            targets.append(f"baseline@{self.split}")
        self.run("dvc", "repro", "--quiet", *targets)

    def retarget(self, params: dict) -> None:
        """Give the made project other params (the teachers chosen on validation): commit them
        and reproduce the shared stages again in place, so later experiments start from them.
        Interrupted, the next ``ensure`` with these params finishes it (the marker is written last)."""
        self.params = params
        if not self.ready:
            return  # made with these params on first use
        marker = self.root / ".study-key"
        key = fingerprint(results_params(params))
        if marker.read_text() == key:
            return
        self.say("the study's DVC project takes the params chosen on validation (shared stages again)")
        from ruamel.yaml import YAML

        with open(self.root / "params.yaml", "w") as handle:
            YAML().dump(params, handle)
        self.run("git", "commit", "--quiet", "-am", "study params chosen on validation")
        self.reproduce_shared_stages()
        self.commit_outputs("study: shared stages reproduced with the chosen params")
        marker.write_text(key)

    def commit_outputs(self, message: str) -> None:
        """Commit dvc.lock with the stages' uncached outputs (reports, curves, the persistent
        checkpoints): each queued experiment starts from a fresh copy of the commit, and a stage
        whose outputs are missing there would rerun, the teacher included."""
        self.run("git", "add", "-A")
        self.run("git", "add", "-f", "checkpoints")
        self.run("git", "commit", "--quiet", "-m", message)

    # ---------------------------------------------------------------- experiments
    def clean_queue(self) -> None:
        """Forget what an interrupted invocation left in the queue: queued and failed tasks, and
        tasks marked running with no worker left (`dvc exp show` fails on them)."""
        status = self.run("dvc", "queue", "status", check=False).stdout
        states = {line.split()[-1] for line in status.splitlines() if len(line.split()) >= 4}
        orphans = [line.split()[1] for line in status.splitlines()
                   if "0 active" in status and len(line.split()) >= 4 and line.split()[-1] == "Running"]
        for name in orphans:
            self.run("dvc", "queue", "kill", name, check=False)
        if orphans:
            time.sleep(3)  # a killed task is marked failed a moment later
        if "0 active" in status:  # the temporary copies of experiments killed mid-run
            for stale in (self.root / ".dvc" / "tmp" / "exps").glob("tmp*"):
                shutil.rmtree(stale, ignore_errors=True)
        if "Queued" in states:  # each dvc call costs seconds: only what is there
            self.run("dvc", "queue", "remove", "--queued", check=False)
        if "Failed" in states or orphans:
            self.run("dvc", "queue", "remove", "--failed", check=False)

    def experiments(self, fresh: bool = True) -> dict[str, dict]:
        """name -> {"params", "metrics", "outs"} of every finished experiment on the project's
        last commits (not one still queued or running: `dvc exp show` lists it with the
        revision it started from, whose outputs are its parent's); "metrics" includes the
        students' validation summaries. ``fresh=False``
        reuses the last listing (nothing has run since)."""
        if not fresh and self._experiments is not None:
            return self._experiments
        shown = json.loads(self.run("dvc", "exp", "show", "--json", "--num", "6", check=False).stdout or "[]")
        found = {}
        for commit in shown:
            for experiment in commit.get("experiments") or []:
                if (experiment.get("executor") or {}).get("state") not in (None, "success"):
                    continue  # queued, running or failed: its revision is the queue's copy of its parent
                for revision in experiment.get("revs", []):
                    data = revision.get("data") or {}
                    if data.get("rev") == "workspace":
                        continue  # running in the workspace: nothing of it is committed yet
                    name = revision.get("name") or data.get("name")
                    summaries = self.training_summaries(revision.get("rev") or data.get("rev")) if name else {}
                    if name and (data.get("metrics") or summaries):
                        metrics = {path: value.get("data", {}) for path, value in (data.get("metrics") or {}).items()}
                        found[name] = {"params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                                       "metrics": {**metrics, **summaries},
                                       "outs": {path: value.get("hash")
                                                for path, value in (data.get("outs") or {}).items()}}
        self._experiments = found
        return found

    def training_summaries(self, revision: str | None) -> dict[str, dict]:
        """The students' dvclive summaries (``dvclive/<split>/<model>/metrics.json``, with
        ``best_val_accuracy``) in an experiment's commit: git-tracked outputs, not DVC metrics
        (``dvc metrics show`` lists one row per split), so ``exp show`` leaves them out."""
        if not revision:
            return {}
        if revision not in self._summaries:  # a commit's files never change
            listed = self.run("git", "ls-tree", "-r", "--name-only", revision, "dvclive", check=False).stdout.split()
            summaries = {}
            for path in listed:
                if path.endswith("/metrics.json") and path.count("/") == 3:
                    shown = self.run("git", "show", f"{revision}:{path}", check=False)
                    if shown.returncode == 0:
                        summaries[path] = json.loads(shown.stdout)
            self._summaries[revision] = summaries
        return self._summaries[revision]

    def cached_file(self, md5: str) -> Path:
        """An output's file in the project's DVC cache (DVC 3 layout)."""
        return self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]

    def run_queue(self, wanted: dict[str, tuple[list[str], str, dict]],
                  finished: Callable[[str, dict], None] = lambda name, experiment: None) -> dict[str, dict]:
        """Run the experiments ``wanted`` (name -> (overrides, target stage, the params they
        must end up with)) as one queue (``dvc exp run --run-all``); ``finished(name,
        experiment)`` is called for each as it finishes (the record is written there). An
        experiment of that name already finished with those params is not queued again."""
        self.ensure()
        self.clean_queue()
        results: dict[str, dict] = {}

        def harvest() -> None:
            for name, experiment in self.experiments().items():
                if name in wanted and name not in results:
                    if results_params(experiment["params"]) != results_params(wanted[name][2]):
                        continue  # an older experiment of that name, other params: rerun
                    results[name] = experiment
                    finished(name, experiment)

        harvest()
        missing = [name for name in wanted if name not in results]
        if missing:
            existing = set(self.experiments(fresh=False))  # as harvest just listed them
            stale = [name for name in missing if name in existing]
            if stale:
                self.run("dvc", "exp", "remove", *stale, check=False)
            for name in missing:
                overrides, target, params = wanted[name]
                alone = ["--single-item"] if self.runs_alone(target, params) else []
                self.run("dvc", "exp", "run", "--queue", "--name", name, *alone,
                         *[arg for override in overrides for arg in ("-S", override)], target)
            self.say(f"running {len(missing)} experiment(s) in {self.root}: {', '.join(missing)}")
            with open(self.log, "a") as handle:
                handle.write(f"$ dvc exp run --run-all --jobs 1  ({len(missing)} queued)\n")
                process = subprocess.Popen(["dvc", "exp", "run", "--run-all", "--jobs", "1"], cwd=self.root,
                                           stdout=handle, stderr=subprocess.STDOUT, env=dvc_environment())
            while process.poll() is None:
                try:
                    process.wait(timeout=self.poll_seconds)
                except subprocess.TimeoutExpired:
                    harvest()  # record what has finished so far
            harvest()
            failed = [name for name in missing if name not in results]
            if failed:
                raise StudyError(f"experiments {', '.join(failed)} failed; see {self.log} "
                                 f"and `dvc queue logs <name>` in {self.root}")
        return {name: results[name] for name in wanted}

    def export_table(self, path: Path) -> None:
        """``dvc exp show --csv`` with each student's ``best_epoch`` and ``best_val_accuracy``
        (from its dvclive summary) as columns ``<model>.best_val_accuracy``."""
        import io

        import pandas as pd

        table = pd.read_csv(io.StringIO(self.run("dvc", "exp", "show", "--no-pager", "--csv", "--num", "6").stdout))
        found = self.experiments(fresh=False)
        models = sorted({p.split("/")[2] for e in found.values() for p in e["metrics"] if p.startswith("dvclive/")})
        for key in ("best_epoch", "best_val_accuracy"):
            for model in models:
                summary = f"dvclive/{self.split}/{model}/metrics.json"
                table[f"{model}.{key}"] = [found.get(name, {}).get("metrics", {}).get(summary, {}).get(key)
                                           for name in table["Experiment"]]
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)

    def validation(self, experiment: dict, model: str) -> dict:
        """The kept epoch's ``best_val_accuracy`` and ``best_epoch`` of ``model`` in an experiment."""
        summary = experiment["metrics"].get(f"dvclive/{self.split}/{model}/metrics.json", {})
        check_trained(summary, f"an experiment in {self.root}", model)
        if "best_val_accuracy" not in summary:
            raise StudyError(f"an experiment in {self.root} has no best_val_accuracy for {model} "
                             f"(it has {', '.join(sorted(experiment['metrics'])) or 'no metrics'})")
        return {"validation_accuracy": float(summary["best_val_accuracy"]), "best_epoch": summary.get("best_epoch")}

    # ---------------------------------------------------------------- the stages' graph
    def _definition(self) -> dict:
        """Per stage: its params keys, deps, outs and cached outs (for the project's split)."""
        return stage_files(self.split, self.root / "dvc.yaml", self.params)

    def upstream(self, stage: str) -> list[str]:
        """The stages whose outputs ``stage`` depends on, directly or not."""
        definition = self._definition()
        producer = {out: name for name, body in definition.items() for out in body["outs"]}
        found, todo = [], [stage]
        while todo:
            for dep in definition[todo.pop()]["deps"]:
                name = next((producer[out] for out in producer if dep == out or dep.startswith(out + "/")), None)
                if name is not None and name not in found:
                    found.append(name)
                    todo.append(name)
        return found

    def runs_alone(self, target: str, params: dict) -> bool:
        """Whether an experiment with ``params`` may run its target stage alone (``--single-item``):
        its params agree with the project's on every stage upstream, so nothing there would
        rerun. A distill target's baseline is left out of that: the distilled student reads the
        baseline's model only as the self-training control's labeller (then the experiment
        trains its own, with its seed)."""
        stage = target.split("@")[0]
        upstream = self.upstream(stage)
        if stage == "distill":
            if labels_with_baseline(params):
                return False
            upstream = [name for name in upstream if name != "baseline"]
        definition = self._definition()
        keys = [key for name in upstream for key in definition[name]["keys"]]
        return all(_dotted(params, key) == _dotted(self.params, key) for key in keys)

    # ---------------------------------------------------------------- inputs of final runs
    def data_links(self) -> dict[str, Path]:
        """The preprocessed files (dvc.yaml's ``paths`` that are files) in the project."""

        self.ensure()
        paths = data_paths(self.root / "dvc.yaml").values()
        return {path: self.root / path for path in paths if (self.root / path).is_file()}

    def upstream_links(self, params: dict, overrides: list[str]) -> dict[str, Path]:
        """The teacher, fold teachers and teacher outputs a student with ``params`` reads: the
        project's own when its params agree on those stages', else an experiment's that
        computed them (queued here, targeting the teacher outputs, when none has)."""
        self.ensure()
        definition = self._definition()
        keys = [key for stage in UPSTREAM for key in definition[stage]["keys"]]
        outs = [out for stage in UPSTREAM for out in definition[stage]["cached"]]

        def agree(other: dict) -> bool:
            return all(_dotted(other, key) == _dotted(params, key) for key in keys)

        if agree(self.params):
            return {out: self.root / out for out in outs}
        name = f"upstream-{fingerprint([_dotted(params, key) for key in keys])[:10]}"
        for attempt in range(2):
            for experiment in self.experiments().values():
                hashes = [experiment["outs"].get(out) for out in outs]
                if agree(experiment["params"]) and all(hashes) and all(self.cached_file(h).is_file() for h in hashes):
                    return {out: self.cached_file(h) for out, h in zip(outs, hashes)}
            if attempt == 0:
                self.say(f"teacher outputs for {', '.join(overrides)}: experiment {name}")
                self.run_queue({name: (overrides, f"teacher_outputs@{self.split}",
                                       {**params, "student": self.params["student"]})})
        raise StudyError(f"experiment {name} finished without the outputs {', '.join(outs)}")
