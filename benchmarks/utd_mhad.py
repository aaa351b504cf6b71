"""UTD-MHAD distillation study: does learning from the wearable sensors make the video model better?

Inertial teachers (one SPAMFM teacher, top-level seed 0), depth-video students, split
``subject_specific``, the ``presets/utd_mhad_depth.yaml`` params. Four phases, each resumable:

1. **Schedule** (validation only): the baseline at each of ``--schedule-epochs`` over
   ``--selection-seeds``; the epoch count with the best mean validation accuracy (of the epoch
   each run keeps) becomes every arm's schedule.
2. **Settings search as DVC experiments**, in a DVC project under ``--workdir`` (a clone of
   this repository at HEAD with the preset as params.yaml, its teachers and caches reproduced
   and committed once): every grid cell queued with ``dvc exp run --queue`` on a short schedule
   (``--short-epochs``) and run with ``dvc exp run --run-all`` (successive halving, rung 1);
   the best third of each arm's cells (at least one) on the full schedule over
   ``--selection-seeds`` (rung 2). Experiments target the student stage only, so the search
   never reads the test split; they are ranked by ``best_val_accuracy`` (the kept epoch's,
   a DVC metric), and ``dvc exp show --csv`` is exported next to the results.
3. **Final runs**: every arm at its chosen setting over ``--seeds`` (paired: student seed s
   gives the same initialisation and data order in every arm), each followed by the evaluate
   stage, the one read of the test split per run. Runs are cached under the workdir, keyed
   on their params and on the code version (a digest of every code file their stages name
   as deps in dvc.yaml), so a resumed study reruns only what changed. A final run whose
   model the search already trained (same params, seed, epochs, code, teacher: the schedule's
   baselines and the second rung on the selection seeds) takes that model from the project's
   DVC cache and only evaluates it, once the first such run, trained again, has been found
   identical to the experiment's model bit for bit (``reuse_check.json``; ``--train-finals``
   trains them all).
4. **Statistics**: per arm the mean and std of test accuracy and macro F-measure; against the
   baseline and against each control, the paired difference over seeds with a 95 % t
   interval and McNemar's exact test on the pooled per-recording predictions.

Writes ``--output`` (JSON; keys ``students.<arm>.accuracy.{mean,std,runs}``,
``students.<arm>.gain_vs_baseline.{mean,ci95}``, ``chosen_on_validation``, the machine,
command, commit, wall time per run) with a markdown summary and the figures next to it;
prints the JSON last. Partial results are written after every phase.

    python -m benchmarks.utd_mhad --root ../shared/data/utd_mhad
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

from benchmarks.paired import mcnemar, paired_difference
from benchmarks.workspace import (
    REPO, add_utd_mhad_arguments, fingerprint, finished_run, git_commit, machine, make_workspace, provenance,
    results_params, run_stage, summary, with_overrides,
)

SPLIT_DEFAULT = "subject_specific"
DATA_FILES = ("manifest.csv", "splits.csv", "classes.txt", "frames.h5", "gaf.h5", "class_embeddings.h5")
PAPER = ["distill.method=sakdn", "distill.importance=norm", "distill.align=spatial", "teacher_outputs.folds=0",
         "alpha=0.1", "beta=1", "gamma=1", "temperature=4"]
# The search space: arm -> {cell name: params overrides}. The SAKDN cells are the alpha/beta/
# gamma grid of the paper's Table IX (each at 0.1 and 1, beta also at 10) with channel GSDM,
# then single levers moved from the paper's (0.1, 1, 1): fitted T, temporal alignment,
# cross-fitted teachers, and the dkd and contrastive terms added to SAKDN's.
SAKDN_GRID = {f"a{a}-b{b}-g{g}": [f"alpha={a}", f"beta={b}", f"gamma={g}"]
              for a in (0.1, 1) for b in (0.1, 1, 10) for g in (0.1, 1)}
SEARCH = {
    "sakdn": {**SAKDN_GRID,
              "t-auto": ["temperature=auto"], "temporal": ["distill.align=temporal"],
              "folds4": ["teacher_outputs.folds=4"], "plus-dkd": ["distill.dkd.weight=1"],
              "plus-contrastive": ["distill.contrastive.weight=0.1"]},
    "soft_target": {"t4": ["distill.method=soft_target"], "t-auto": ["distill.method=soft_target", "temperature=auto"]},
    "dkd": {"t4": ["distill.method=dkd"], "t-auto": ["distill.method=dkd", "temperature=auto"]},
    "contrastive": {"tau0.07": ["distill.method=contrastive"],
                    "tau0.2": ["distill.method=contrastive", "distill.contrastive.temperature=0.2"]},
}
# The SAKDN cells' common base (the paper's weights; every cell overrides part of it).
SAKDN_BASE = ["distill.method=sakdn", "alpha=0.1", "beta=1", "gamma=1", "temperature=4"]
# Final arms: name -> (stage method, overrides, where the setting comes from)
FIXED_ARMS = {
    "baseline": ("baseline", [], "fixed"),
    "label_smoothing": ("distill", ["distill.method=label_smoothing", "distill.label_smoothing.epsilon=auto"], "fixed"),
    "sakdn_paper": ("distill", PAPER, "fixed: input importance, spatial, no folds, (0.1, 1, 1), T 4"),
}
# The controls (docs/method.md §6b) of the setting chosen on validation: the same setting with
# its teacher outputs paired with another recording's, or with its class's mean.
PAIRING_CONTROLS = ("shuffled", "class_mean")


def final_arm(searched: str) -> str:
    """A searched arm's name among the final arms (the best SAKDN setting is ``sakdn_best``)."""
    return "sakdn_best" if searched == "sakdn" else searched


def control_arms(chosen: str) -> dict[str, str]:
    """{control arm: pairing} of the final arm ``chosen``."""
    return {f"{chosen}_{pairing}": pairing for pairing in PAIRING_CONTROLS}


def dvc_environment() -> dict:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return environment


def code_version(stages: tuple[str, ...] | None = None, root: Path = REPO) -> str:
    """A digest of every code file (under pipeline/ or stages/) that ``root``'s dvc.yaml names
    as a dep of ``stages`` (default: of every stage), and of dvc.yaml itself: what decides
    whether a cached run's result is still this code's."""
    definition = YAML(typ="safe", pure=True).load((root / "dvc.yaml").read_text())["stages"]
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


class Project:
    """The DVC project the settings search runs in: a clone of this repository's HEAD with the
    study's params committed, teachers and caches reproduced and committed (dvc.lock), so an
    experiment reruns only the stages its params change. Its code is pinned: the final runs
    use it too, so the whole study runs one commit's code however the repository moves on
    (``--update-code`` re-clones it when the repository's code differs)."""

    def __init__(self, root: Path, params: dict, split: str, log: Path, update_code: bool = False):
        self.root, self.params, self.split, self.log = root, params, split, log
        self.update_code = update_code

    @property
    def commit(self) -> str:
        """The repository commit whose code the study runs."""
        return (self.root / ".study-commit").read_text().strip()

    def run(self, *command: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(list(command), cwd=self.root, capture_output=True, text=True, env=dvc_environment(),
                              timeout=timeout)
        shown = "" if command[1:3] == ("exp", "show") or command[:2] == ("git", "show") else done.stdout[-4000:]  # long
        with open(self.log, "a") as handle:
            handle.write(f"$ {' '.join(command)}  (rc {done.returncode})\n{shown}{done.stderr[-4000:]}\n")
        if check and done.returncode != 0:
            raise SystemExit(f"error: `{' '.join(command)}` failed in {self.root}:\n{done.stderr[-3000:]}")
        return done

    def setup(self) -> None:
        marker = self.root / ".study-key"  # not committed: written after the outputs are
        key = fingerprint(results_params(self.params))
        if marker.exists() and marker.read_text() == key:
            if not self.update_code or code_version(root=self.root) == code_version():
                self.sync_dvcignore()
                return  # pinned: a repository that moved on does not restart the study
        if self.root.exists():
            shutil.rmtree(self.root)
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(self.root)], check=True)
        (self.root / ".study-commit").write_text(self.run("git", "rev-parse", "HEAD").stdout)
        for setting in (["user.name", "study"], ["user.email", "study@localhost"]):
            self.run("git", "config", *setting)
        with open(self.root / "params.yaml", "w") as handle:
            YAML().dump(self.params, handle)
        self.run("git", "commit", "--quiet", "-am", "study params")
        # The shared stages once: preprocessing (frames too), the teacher and its outputs (folds 0).
        self.run("dvc", "repro", "--quiet", "frames", f"teacher_outputs@{self.split}")
        self.commit_outputs("study: shared stages reproduced")
        marker.write_text(key)

    def commit_outputs(self, message: str) -> None:
        """Commit dvc.lock with the stages' uncached outputs (reports, curves, the persistent
        checkpoints): each queued experiment starts from a fresh copy of the commit, and a stage
        whose outputs are missing there would rerun, the teacher included."""
        self.run("git", "add", "-A")
        self.run("git", "add", "-f", "checkpoints")
        self.run("git", "commit", "--quiet", "-m", message)

    def sync_dvcignore(self) -> None:
        """Bring a project made before the repository's .dvcignore (Python bytecode hashed into
        the code folders made every experiment rerun every stage) up to date: copy it, and
        reproduce and commit the shared stages once more under it."""
        wanted = (REPO / ".dvcignore").read_text()
        if (self.root / ".dvcignore").read_text() == wanted:
            return
        (self.root / ".dvcignore").write_text(wanted)
        self.run("dvc", "repro", "--quiet", "frames", f"teacher_outputs@{self.split}")
        self.commit_outputs("study: .dvcignore for Python bytecode, shared stages rehashed")

    def clean_queue(self) -> None:
        """Forget what an interrupted invocation left in the queue: queued and failed tasks, and
        tasks marked running with no worker left (their state files are gone, and `dvc exp show`
        fails on them)."""
        status = self.run("dvc", "queue", "status", check=False).stdout
        if "0 active" in status:
            for line in status.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[-1] == "Running":
                    self.run("dvc", "queue", "kill", parts[1], check=False)
            time.sleep(3)  # a killed task is marked failed a moment later
            # the temporary copies of experiments killed mid-run (`dvc exp show` trips on them)
            for stale in (self.root / ".dvc" / "tmp" / "exps").glob("tmp*"):
                shutil.rmtree(stale, ignore_errors=True)
        self.run("dvc", "queue", "remove", "--queued", check=False)
        self.run("dvc", "queue", "remove", "--failed", check=False)

    def experiments(self) -> dict[str, dict]:
        """name -> {"params", "metrics"} of every finished experiment on the project's last
        commits (its own: the study's params, the shared stages; the code is the same)."""
        shown = json.loads(self.run("dvc", "exp", "show", "--json", "--num", "6").stdout or "[]")
        found = {}
        for commit in shown:
            for experiment in commit.get("experiments") or []:
                for revision in experiment.get("revs", []):
                    data = revision.get("data") or {}
                    name = revision.get("name") or data.get("name")
                    if name and data.get("metrics"):
                        metrics = {path: value.get("data", {}) for path, value in data["metrics"].items()}
                        metrics.update(self.training_summaries(revision.get("rev") or data.get("rev")))
                        found[name] = {"params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                                       "metrics": metrics,
                                       "outs": {path: value.get("hash") for path, value in (data.get("outs") or {}).items()}}
        return found

    def training_summaries(self, revision: str | None) -> dict[str, dict]:
        """The students' dvclive summaries (``dvclive/<split>/<model>/metrics.json``, with
        ``best_val_accuracy``) in an experiment's commit: git-tracked outputs, not DVC metrics
        (``dvc metrics show`` lists one row per split), so ``exp show`` leaves them out."""
        if not revision:
            return {}
        listed = self.run("git", "ls-tree", "-r", "--name-only", revision, "dvclive", check=False).stdout.split()
        summaries = {}
        for path in listed:
            if path.endswith("/metrics.json") and path.count("/") == 3:
                shown = self.run("git", "show", f"{revision}:{path}", check=False)
                if shown.returncode == 0:
                    summaries[path] = json.loads(shown.stdout)
        return summaries

    def cached_file(self, md5: str) -> Path:
        """An output's file in the project's DVC cache (DVC 3 layout)."""
        return self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]

    def run_queue(self, wanted: dict[str, tuple[list[str], str]]) -> dict[str, dict]:
        """Queue every wanted experiment (name -> (overrides, target stage)) that has no result
        yet, run the queue with ``dvc exp run --run-all``, return the results of all wanted."""
        self.clean_queue()
        done = self.experiments()
        missing = {name: spec for name, spec in wanted.items() if name not in done}
        if missing:
            for name, (overrides, target) in missing.items():
                self.run("dvc", "exp", "run", "--queue", "--name", name,
                         *[arg for override in overrides for arg in ("-S", override)], target)
            self.run("dvc", "exp", "run", "--run-all", "--jobs", "1", check=False)
            done = self.experiments()
            failed = [name for name in missing if name not in done]
            if failed:
                raise SystemExit(f"error: experiments {', '.join(failed)} failed; see {self.log} "
                                 f"and `dvc queue logs <name>` in {self.root}")
        return {name: done[name] for name in wanted}

    def export_table(self, path: Path) -> None:
        """``dvc exp show --csv`` with each student's ``best_epoch`` and ``best_val_accuracy``
        (from its dvclive summary) as columns ``<model>.best_val_accuracy``."""
        import io

        import pandas as pd

        table = pd.read_csv(io.StringIO(self.run("dvc", "exp", "show", "--no-pager", "--csv", "--num", "6").stdout))
        found = self.experiments()
        for key in ("best_epoch", "best_val_accuracy"):
            for model in sorted({p.split("/")[2] for e in found.values() for p in e["metrics"] if p.startswith("dvclive/")}):
                summary = f"dvclive/{self.split}/{model}/metrics.json"
                table[f"{model}.{key}"] = [found.get(name, {}).get("metrics", {}).get(summary, {}).get(key)
                                           for name in table["Experiment"]]
        table.to_csv(path, index=False)


def validation_of(result: dict, split: str, model: str) -> float:
    metrics = result["metrics"].get(f"dvclive/{split}/{model}/metrics.json", {})
    if "best_val_accuracy" not in metrics:
        raise SystemExit(f"error: an experiment has no best_val_accuracy for {model}: {sorted(result['metrics'])}")
    return float(metrics["best_val_accuracy"])


class Study:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.split = args.split
        self.workdir = Path(args.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "study.log"
        base = YAML(typ="safe").load(Path(args.params).read_text())
        self.params = with_overrides(base, [f"data.root={Path(args.root).resolve()}",
                                            f"splits.protocols=[{self.split}]", *args.overrides])
        self.started = time.perf_counter()
        self.found: dict = {}
        self.search_experiments: dict | None = None

    def progress(self, **found) -> None:
        """Write what the search has found so far to --output (partial results, committed as
        they come: a long study spans working sessions), with the experiment table."""
        self.found.update(found)
        output = Path(self.args.output)
        partial = {"benchmark": "utd_mhad_study", "status": "search in progress", "split": self.split,
                   "code_commit": self.project.commit, "search": self.found, "git": git_commit(), "machine": machine(),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        output.write_text(json.dumps(partial, indent=1) + "\n")
        self.project.export_table(output.with_name(output.stem + "_experiments.csv"))

    def say(self, message: str) -> None:
        print(message, flush=True)
        with open(self.log, "a") as handle:
            handle.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")

    # ---------------------------------------------------------------- phases 1 and 2: DVC
    def search(self) -> dict:
        args, split = self.args, self.split
        project = Project(self.workdir / "project",
                          with_overrides(self.params, [f"student.epochs={args.short_epochs}", "student.seed=0"]),
                          split, self.log, update_code=args.update_code)
        self.say("search: setting up the DVC project (preprocessing, teacher, teacher outputs)")
        project.setup()
        self.project = project
        # Phase 1: the schedule, chosen for the baseline on validation.
        wanted = {f"schedule-e{epochs}-s{seed}": ([f"student.epochs={epochs}", f"student.seed={seed}"],
                                                  f"baseline@{split}")
                  for epochs in args.schedule_epochs for seed in args.selection_seeds}
        results = project.run_queue(wanted)
        schedule = {epochs: [validation_of(results[f"schedule-e{epochs}-s{seed}"], split, "baseline")
                             for seed in args.selection_seeds] for epochs in args.schedule_epochs}
        means = {epochs: sum(v) / len(v) for epochs, v in schedule.items()}
        full = max(sorted(means), key=lambda epochs: (means[epochs], -epochs))  # a tie goes to the shorter
        self.say("schedule (baseline validation): " + ", ".join(f"{e} epochs {m:.2f}" for e, m in means.items())
                 + f" -> {full}")
        self.progress(schedule={"candidates": {str(e): summary(v) for e, v in schedule.items()}, "epochs": full,
                                "short_epochs": args.short_epochs})
        # Phase 2, rung 1: every cell on the short schedule, one seed.
        first_seed = args.selection_seeds[0]
        cells = {(arm, cell): (SAKDN_BASE if arm == "sakdn" else []) + overrides
                 for arm, arm_cells in self.search_space().items() for cell, overrides in arm_cells.items()}
        rung1 = {key: cell_name(f"r1-{key[0]}-{key[1]}-e{args.short_epochs}-s{first_seed}") for key in cells}
        results = project.run_queue({rung1[key]: ([*cells[key], f"student.seed={first_seed}"], f"distill@{split}")
                                     for key in cells})
        rung1_validation = {key: validation_of(results[rung1[key]], split, "student") for key in cells}
        self.progress(rung1={f"{a}/{c}": round(v, 2) for (a, c), v in rung1_validation.items()})
        self.say("rung 1 done: best " + ", ".join(
            f"{arm} {max(v for (a, _), v in rung1_validation.items() if a == arm):.2f}" for arm in self.search_space()))
        # Rung 2: the best third of each arm's cells (at least one) on the full schedule.
        promoted = []
        for arm in self.search_space():
            ranked = sorted((key for key in cells if key[0] == arm), key=lambda k: -rung1_validation[k])
            promoted += ranked[:max(1, math.ceil(len(ranked) / 3))]
        rung2 = {(key, seed): cell_name(f"r2-{key[0]}-{key[1]}-e{full}-s{seed}")
                 for key in promoted for seed in args.selection_seeds}
        results = project.run_queue({name: ([*cells[key], f"student.epochs={full}", f"student.seed={seed}"],
                                            f"distill@{split}") for (key, seed), name in rung2.items()})
        rung2_validation = {key: [validation_of(results[rung2[(key, seed)]], split, "student")
                                  for seed in args.selection_seeds] for key in promoted}
        chosen = {}
        for arm in self.search_space():
            best = max((key for key in promoted if key[0] == arm),
                       key=lambda k: (sum(rung2_validation[k]) / len(rung2_validation[k]), rung1_validation[k]))
            chosen[arm] = {"cell": best[1], "overrides": cells[best],
                           "validation": summary(rung2_validation[best])}
        winner = max(chosen, key=lambda arm: chosen[arm]["validation"]["mean"])
        table = Path(args.output).with_name(Path(args.output).stem + "_experiments.csv")
        project.export_table(table)
        return {
            "schedule": {"candidates": {str(e): summary(v) for e, v in schedule.items()}, "epochs": full,
                         "short_epochs": args.short_epochs},
            "rung1": {f"{a}/{c}": round(v, 2) for (a, c), v in rung1_validation.items()},
            "rung2": {f"{a}/{c}": summary(v) for (a, c), v in rung2_validation.items()},
            "chosen": chosen, "chosen_on_validation": winner, "experiments_table": table.name,
        }

    def search_space(self) -> dict:
        space = {arm: SEARCH[arm] for arm in (self.args.arms or SEARCH)}
        if self.args.cells:  # a smaller search (the smoke test): only the named cells
            space = {arm: {name: cell for name, cell in cells.items() if name in self.args.cells}
                     for arm, cells in space.items()}
            empty = [arm for arm, cells in space.items() if not cells]
            if empty:
                raise SystemExit(f"error: --cells leaves arm {empty[0]} no cell (its cells: "
                                 f"{', '.join(SEARCH[empty[0]])})")
        return space

    # ---------------------------------------------------------------- phase 3: final runs
    def data_links(self) -> dict[str, Path]:
        return {f"data/{name}": self.project.root / "data" / name for name in DATA_FILES}

    def teacher_outputs(self, params: dict) -> dict[str, Path]:
        """The teacher files a student with ``params`` reads: the project's teacher, and fold
        teachers and outputs computed once per variant in a workspace."""
        split = self.split
        teacher = self.project.root / "models" / split / "teachers.pt"
        keys = (params["teacher_outputs"]["folds"], params["distill"]["importance"], params["distill"]["readout"],
                params["distill"]["layer_pairs"])
        folder = self.workdir / "teacher_outputs" / fingerprint(*keys)[:10]
        code = self.project.root
        key = fingerprint(keys, teacher.stat().st_mtime_ns, code_version(("fold_teachers", "teacher_outputs"), code))
        links = {**self.data_links(), f"models/{split}/teachers.pt": teacher}
        if finished_run(folder, key) is None:
            make_workspace(folder, params, links, code)
            seconds = {stage: round(run_stage(folder, stage, item=split, log=self.log, dvc_yaml=code / "dvc.yaml"), 1)
                       for stage in ("fold_teachers", "teacher_outputs")}
            (folder / "result.json").write_text(json.dumps({"fingerprint": key, "seconds": seconds}))
            self.say(f"teacher outputs {keys[:3]}: {seconds}")
        return {f"models/{split}/teachers.pt": teacher,
                f"data/{split}/teacher_outputs.h5": folder / "data" / split / "teacher_outputs.h5"}

    def trained_in_search(self, params: dict, model: str) -> dict | None:
        """The search's experiment that trained exactly this final run's model (same params
        without speed settings, same seed and epochs, same pinned code and teacher): the
        schedule's baselines and the second rung's cells on the selection seeds. None if no
        experiment did, or if ``--train-finals`` asks for every final run to train."""
        if self.args.train_finals:
            return None
        if self.search_experiments is None:
            self.search_experiments = self.project.experiments()
        wanted = results_params(params)
        metrics_path = f"dvclive/{self.split}/{model}/metrics.json"
        model_path = f"models/{self.split}/{model}.pt"
        for name, experiment in sorted(self.search_experiments.items()):
            md5 = experiment["outs"].get(model_path)
            if (md5 and experiment["metrics"].get(metrics_path)
                    and results_params(experiment["params"]) == wanted
                    and self.project.cached_file(md5).is_file()):
                return {"name": name, "model": self.project.cached_file(md5), "live": experiment["metrics"][metrics_path]}
        return None

    def reuse_check(self) -> dict | None:
        path = self.workdir / "reuse_check.json"
        return json.loads(path.read_text()) if path.exists() else None

    def final_run(self, arm: str, method: str, overrides: list[str], seed: int, epochs: int) -> dict:
        """One final run: train (or take the identical model the search already trained) and
        evaluate once on the test split. The first final run that the search already trained is
        trained again and compared bit for bit with the experiment's model; only if they are
        identical are later ones taken from the search (``reuse_check.json``)."""
        split = self.split
        params = with_overrides(self.params, [*overrides, f"student.epochs={epochs}", f"student.seed={seed}"])
        model = "baseline" if method == "baseline" else "student"
        stages = (method, "evaluate")
        code = self.project.root
        key = fingerprint(results_params(params), method, code_version(stages, code),
                          (code / "models" / split / "teachers.pt").stat().st_mtime_ns)
        folder = self.workdir / "finals" / f"{arm}-seed{seed}"
        if (saved := finished_run(folder, key)) is None:
            links = {**self.data_links(), **self.teacher_outputs(params)}
            make_workspace(folder, params, links, code)
            others = tuple(f"--{other}" for other in ("baseline", "student") if other != model)
            dvc_yaml = code / "dvc.yaml"
            model_file = folder / "models" / split / f"{model}.pt"
            trained = self.trained_in_search(params, model)
            check = self.reuse_check()
            seconds = {}
            if trained and check is not None and check["identical"]:
                model_file.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(trained["model"], model_file)
                live = trained["live"]
            else:
                seconds[method] = round(run_stage(folder, method, item=split, log=self.log, dvc_yaml=dvc_yaml), 1)
                live = json.loads((folder / "dvclive" / split / model / "metrics.json").read_text())
                if trained and check is None:
                    check = {"arm": arm, "seed": seed, "experiment": trained["name"],
                             **models_compared(model_file, trained["model"])}
                    (self.workdir / "reuse_check.json").write_text(json.dumps(check))
                    self.say(f"reuse check: {arm} seed {seed} trained again vs experiment {trained['name']}: "
                             f"{'identical' if check['identical'] else 'DIFFERENT'} "
                             f"(largest difference {check['max_abs_difference']})")
                trained = None
            seconds["evaluate"] = round(run_stage(folder, "evaluate", item=split, leave_out=others, log=self.log,
                                                  dvc_yaml=dvc_yaml), 1)
            details = json.loads((folder / "evaluation" / split / "details.json").read_text())[model]
            import torch

            history = torch.load(model_file, map_location="cpu", weights_only=False)["history"]
            saved = {"fingerprint": key, "accuracy": details["accuracy"], "f_measure": details["f_measure"],
                     "per_class_accuracy": details["per_class_accuracy"], "per_sample": details["per_sample"],
                     "validation_accuracy": live["best_val_accuracy"], "best_epoch": live["best_epoch"],
                     "validation_curve": [record["val_accuracy"] for record in history], "seconds": seconds,
                     "trained_in": trained["name"] if trained else None}
            (folder / "result.json").write_text(json.dumps(saved))
        origin = f", trained in experiment {saved['trained_in']}" if saved.get("trained_in") else ""
        self.say(f"final {arm} seed {seed}: test {saved['accuracy']:.2f}% (validation {saved['validation_accuracy']:.2f}%, "
                 f"{', '.join(f'{k} {v} s' for k, v in saved['seconds'].items())}{origin})")
        return saved

    def arms(self, search: dict) -> dict[str, tuple[str, list[str], str]]:
        """The final arms, in the order they run: the baseline, the setting chosen on validation
        and its two pairing controls first (what the verdict needs, should a session end
        midway), then the best setting of every other searched arm and the fixed arms."""
        arms = {"baseline": FIXED_ARMS["baseline"]}
        chosen = {final_arm(arm): ("distill", choice["overrides"], f"validation: {arm}/{choice['cell']}")
                  for arm, choice in search["chosen"].items()}
        winner = final_arm(search["chosen_on_validation"])
        arms[winner] = chosen.pop(winner)
        for name, pairing in control_arms(winner).items():
            arms[name] = ("distill", [*arms[winner][1], f"distill.pairing={pairing}"],
                          f"control: {winner} with distill.pairing {pairing}")
        if "sakdn_best" in chosen:
            arms["sakdn_best"] = chosen.pop("sakdn_best")
        arms.update({name: arm for name, arm in FIXED_ARMS.items() if name != "baseline"})
        arms.update(chosen)
        return arms


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


def statistics_of(runs: dict[str, list[dict]], seeds: list[int], chosen: str | None = None) -> dict:
    """Per arm: accuracy and F-measure summaries, and paired comparisons with the baseline and,
    for the arm ``chosen`` on validation, with its controls (t interval over seeds, McNemar on
    pooled per-recording predictions)."""
    def correct(arm_runs: list[dict]) -> tuple[list[str], list[bool]]:
        keys, right = [], []
        for seed, run in zip(seeds, arm_runs):
            per_sample = run["per_sample"]
            keys += [f"{seed}/{sample}" for sample in per_sample["sample_id"]]
            right += [p == y for p, y in zip(per_sample["predicted"], per_sample["label"])]
        return keys, right

    students = {}
    for arm, arm_runs in runs.items():
        row = {metric: summary([run[metric] for run in arm_runs]) for metric in ("accuracy", "f_measure")}
        row["validation_accuracy"] = summary([run["validation_accuracy"] for run in arm_runs])
        row["best_epoch"] = [run["best_epoch"] for run in arm_runs]
        row["seconds"] = [run["seconds"] for run in arm_runs]
        for reference in ("baseline", *(control_arms(arm) if arm == chosen else ())):
            if reference == arm or reference not in runs:
                continue
            label = "vs_baseline" if reference == "baseline" else f"vs_{reference}"
            difference = paired_difference([r["accuracy"] for r in arm_runs], [r["accuracy"] for r in runs[reference]])
            keys, mine = correct(arm_runs)
            other_keys, theirs = correct(runs[reference])
            if keys != other_keys:
                raise SystemExit(f"error: {arm} and {reference} were tested on different recordings")
            row["gain_" + label] = {**difference, "f_measure": paired_difference(
                [r["f_measure"] for r in arm_runs], [r["f_measure"] for r in runs[reference]])["mean"],
                                    "mcnemar": mcnemar(mine, theirs)}
        students[arm] = row
    return students


def markdown(result: dict) -> str:
    lines = [f"UTD-MHAD, split `{result['split']}`, depth-video students distilled from inertial teachers. Test "
             f"accuracy and macro F-measure in % over {len(result['seeds'])} paired student seeds "
             f"({', '.join(map(str, result['seeds']))}; one teacher); settings chosen on validation only. "
             f"Schedule: {result['search']['schedule']['epochs']} epochs (chosen for the baseline on validation).", "",
             "| arm | setting | test accuracy | F-measure | gain vs baseline (95 % CI) | McNemar p | validation |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for arm, row in result["students"].items():
        gain = row.get("gain_vs_baseline")
        interval = (f"{gain['mean']:+.2f} [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}]"
                    if gain and gain["ci95"] else (f"{gain['mean']:+.2f}" if gain else ""))
        lines.append(f"| {arm} | {row['setting']} | {row['accuracy']['mean']:.2f} ± {row['accuracy']['std']:.2f} | "
                     f"{row['f_measure']['mean']:.2f} ± {row['f_measure']['std']:.2f} | {interval} | "
                     f"{gain['mcnemar']['p_value'] if gain else ''} | {row['validation_accuracy']['mean']:.2f} |")
    chosen_row = result["students"].get(result["chosen_on_validation"], {})
    against = [f"{control}: {gain['mean']:+.2f} [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}], McNemar p "
               f"{gain['mcnemar']['p_value']}" for control in control_arms(result["chosen_on_validation"])
               if (gain := chosen_row.get(f"gain_vs_{control}")) and gain["ci95"]]
    if against:
        lines += ["", f"{result['chosen_on_validation']} against its controls (paired difference, 95 % CI): "
                  + "; ".join(against) + "."]
    lines += ["", f"Chosen on validation: **{result['chosen_on_validation']}**. {result['verdict']}",
              "", f"Every run used the code of commit `{result['code_commit'][:12]}` (the study's pinned project)."]
    reused = result.get("finals_from_search") or {}
    check = reused.get("check")
    if reused.get("runs"):
        lines += ["", f"{reused['runs']} final runs evaluated the model that the search had trained with the same "
                      f"params, seed and code, after {check['arm']} seed {check['seed']}, trained again, was "
                      f"identical bit for bit to experiment `{check['experiment']}`'s."]
    elif check and not check["identical"]:
        lines += ["", f"Every final run was trained: {check['arm']} seed {check['seed']} trained again differed from "
                      f"experiment `{check['experiment']}` (largest weight difference {check['max_abs_difference']})."]
    lines += provenance(result, f"Final runs: median {result['seconds']['median_final_run']} s each (trained ones); "
                                f"this invocation {result['this_invocation_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def verdict(students: dict, chosen: str) -> str:
    row = students.get(chosen)
    if row is None or "gain_vs_baseline" not in row:
        return "No final runs of the chosen arm yet."
    gain = row["gain_vs_baseline"]
    controls = [row[f"gain_vs_{c}"] for c in control_arms(chosen) if f"gain_vs_{c}" in row]
    beats_controls = (all(c["ci95"] and c["ci95"][0] > 0 for c in controls)
                      if len(controls) == len(PAIRING_CONTROLS) else False)
    met = gain["ci95"] is not None and gain["mean"] >= 3 and gain["ci95"][0] > 0 and beats_controls
    return (f"Target (>= 3 points over the baseline, 95 % interval above 0 and above both controls): "
            f"{'met' if met else 'not met'} (gain {gain['mean']:+.2f}, interval {gain['ci95']}; "
            f"above the controls: {'yes' if beats_controls else 'no'}).")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.utd_mhad", description=__doc__.splitlines()[0])
    add_utd_mhad_arguments(parser)
    parser.add_argument("--split", default=SPLIT_DEFAULT)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="student seeds of the final runs")
    parser.add_argument("--selection-seeds", type=int, nargs="+", default=[0, 1],
                        help="student seeds of the schedule and of the search's second rung")
    parser.add_argument("--schedule-epochs", type=int, nargs="+", default=[12, 24],
                        help="baseline schedules compared on validation")
    parser.add_argument("--short-epochs", type=int, default=6, help="the search's first rung")
    parser.add_argument("--arms", nargs="+", choices=list(SEARCH), help="searched arms (default all)")
    parser.add_argument("--cells", nargs="+", metavar="CELL", help="only these cells of each arm (default all)")
    parser.add_argument("--final-arms", nargs="+", metavar="ARM", help="only these final arms (default all)")
    parser.add_argument("--update-code", action="store_true",
                        help="re-clone the study's project when this repository's code differs from the pinned one "
                             "(then every experiment and final run whose stages' code changed reruns)")
    parser.add_argument("--train-finals", action="store_true",
                        help="train every final run, even those the search already trained with the same params, "
                             "seed and code (by default those models are taken from the search, once a retrained "
                             "one has been found identical bit for bit)")
    parser.add_argument("--phases", nargs="+", default=["search", "finals"], choices=["search", "finals"],
                        help="search only: stop before the final runs")
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / ".work" / "utd_mhad"),
                        help="the DVC project and the final runs' workspaces; finished work found here is reused")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "utd_mhad.json"),
                        help="results JSON (markdown, experiment table and figures written next to it)")
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="params override on top of the preset (repeatable)")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        raise SystemExit(f"error: --root {args.root} is not a folder (expected UTD-MHAD's Inertial/ and Depth/)")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    study = Study(args)
    search = study.search()
    result = {
        "benchmark": "utd_mhad_study", "status": "search done", "split": args.split, "seeds": args.seeds,
        "command": "python -m benchmarks.utd_mhad " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "git": git_commit(), "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "code_commit": study.project.commit, "search": search, "chosen_on_validation": search["chosen_on_validation"],
        "students": {},
        "verdict": "Search finished; final runs pending.", "seconds": {"median_final_run": None},
    }
    if "finals" in args.phases:
        arms = study.arms(search)
        if args.final_arms:  # a smaller set of final runs (the smoke test)
            arms = {name: arm for name, arm in arms.items() if name in args.final_arms}
        runs = {}
        for arm, (method, overrides, origin) in arms.items():
            runs[arm] = []
            for seed in args.seeds:
                runs[arm].append(study.final_run(arm, method, overrides, seed, search["schedule"]["epochs"]))
                # partial results after every run (committed as they come: the finals span sessions)
                output.write_text(json.dumps({**result, "status": "final runs in progress", "finals_so_far": {
                    name: {"seeds": args.seeds[:len(done)], "accuracy": [run["accuracy"] for run in done],
                           "validation_accuracy": [run["validation_accuracy"] for run in done],
                           "trained_in": [run.get("trained_in") for run in done]}
                    for name, done in runs.items()}}, indent=1) + "\n")
        chosen = final_arm(search["chosen_on_validation"])
        students = statistics_of(runs, args.seeds, chosen)
        for arm, (method, overrides, origin) in arms.items():
            students[arm]["setting"] = origin
            students[arm]["overrides"] = overrides
        trained = [run for arm_runs in runs.values() for run in arm_runs if not run.get("trained_in")]
        seconds = sorted(sum(run["seconds"].values()) for run in trained) or [0.0]
        result.update(status="done", students=students, chosen_on_validation=chosen, verdict=verdict(students, chosen),
                      seconds={"median_final_run": round(seconds[len(seconds) // 2], 1), "finals_total": round(sum(seconds), 1)},
                      finals_from_search={"runs": sum(len(arm_runs) for arm_runs in runs.values()) - len(trained),
                                          "check": study.reuse_check()})
        from benchmarks.study_figures import draw_figures

        result["figures"] = draw_figures(result, runs, output.parent, output.stem, study.workdir / "finals")
    result["this_invocation_seconds"] = round(time.perf_counter() - study.started, 1)
    output.write_text(json.dumps(result, indent=1) + "\n")
    if result["students"]:
        output.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
