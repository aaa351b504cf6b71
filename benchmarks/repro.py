"""Wall time of the default DAG (`make repro` after set-up) and the metrics it produces.

Clones this repository at ``--commit`` into a scratch folder, runs `dvc repro` there with this
interpreter's environment (the set-up, `make setup`, is not timed), and records the total wall
time, each stage's share (from the moments DVC starts each stage) and the test metrics of
every split (`dvc metrics show`), so a change meant to make the first run faster can show its
time and its results before and after on the same machine:

    python -m benchmarks.repro --commit HEAD~3 --output benchmarks/results/repro_before.json
    python -m benchmarks.repro --output benchmarks/results/repro.json

``--then-seeds 1 2`` then reruns the DAG with each other seed (`dvc exp run -S seed=N`: the
synthetic data, splits and training all follow it) and summarises each model's test accuracy
over the seeds (mean and sample standard deviation): the synthetic numbers docs/results.md
quotes. One seed compares nothing, and the same seed gives other numbers on another machine.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common
from benchmarks.common import REPO

STAGE_START = re.compile(r"Running stage '([^']+)'")


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def timed_repro(root: Path, log: Path, command: list[str] = ("dvc", "repro")) -> tuple[float, dict[str, float]]:
    """``command`` (`dvc repro`) in ``root``: total seconds and seconds per stage (start to the
    next start)."""
    # Unbuffered, so each "Running stage" line arrives when DVC starts the stage.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    starts: list[tuple[str, float]] = []
    begin = time.perf_counter()
    with open(log, "a") as handle:
        process = subprocess.Popen(list(command), cwd=root, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            handle.write(line)
            match = STAGE_START.search(line)
            if match:
                starts.append((match.group(1), time.perf_counter() - begin))
        process.wait()
    total = time.perf_counter() - begin
    if process.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed in {root} (see {log})")
    ends = [start for _, start in starts[1:]] + [total]
    return total, {name: round(end - start, 1) for (name, start), end in zip(starts, ends)}


def all_protocols_command(root: Path) -> list[str]:
    """What `make repro-all` runs (read from the clone's Makefile, so the two cannot differ)."""
    text = (root / "Makefile").read_text()
    protocols = re.search(r"^ALL_PROTOCOLS := (\S+)$", text, re.MULTILINE)
    if protocols is None:
        raise SystemExit(f"error: {root / 'Makefile'}: no ALL_PROTOCOLS line (this commit has no `make repro-all`)")
    return ["dvc", "exp", "run", "-S", f"splits.protocols={protocols.group(1)}"]


def timed_run(root: Path, log: Path, command: list[str]) -> dict:
    """Wall time of ``command`` in ``root``, per stage and per stage kind, and the test metrics
    of every split afterwards (`dvc metrics show`)."""
    total, stages = timed_repro(root, log, command)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    metrics = json.loads(subprocess.run(["dvc", "metrics", "show", "--json"], cwd=root, env=env,
                                        capture_output=True, text=True, check=True).stdout)
    flat = {}
    for files in metrics.values():
        for path, content in files.get("data", {}).items():
            if path.startswith("metrics/"):
                flat[path] = content.get("data", {})
    by_kind: dict[str, float] = {}
    for stage, seconds in stages.items():
        kind = stage.split("@")[0]
        by_kind[kind] = round(by_kind.get(kind, 0.0) + seconds, 1)
    return {"wall_seconds": round(total, 1), "wall_minutes": round(total / 60, 2), "seconds_by_stage_kind": by_kind,
            "seconds_by_stage": stages, "metrics": flat}


MODELS = {"teachers (fused)": ("teachers", "fused", "accuracy"), "baseline": ("baseline", "accuracy"),
          "student": ("student", "accuracy")}


def over_seeds(metrics_by_seed: dict[str, dict]) -> dict:
    """{split file: {model: {"runs": [...], "mean", "sd"}}} from each seed's metrics."""
    summary: dict[str, dict] = {}
    for metrics in metrics_by_seed.values():
        for path, values in metrics.items():
            for model, keys in MODELS.items():
                value = values
                for key in keys:
                    value = value[key]
                summary.setdefault(path, {}).setdefault(model, {"runs": []})["runs"].append(value)
    for models in summary.values():
        for row in models.values():
            row["mean"] = round(statistics.mean(row["runs"]), 2)
            row["sd"] = round(statistics.stdev(row["runs"]), 2) if len(row["runs"]) > 1 else None
    return summary


def main(argv=None) -> dict:
    parser = common.parser("benchmarks.repro", __doc__, REPO / "benchmarks/results/repro.json")
    parser.add_argument("--commit", default="HEAD", help="the code to time (default %(default)s)")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/.work/repro")
    parser.add_argument("--then-all-protocols", action="store_true",
                        help="then time `make repro-all` (the other protocols) in the same clone")
    parser.add_argument("--then-seeds", type=int, nargs="+", default=[], metavar="SEED",
                        help="then rerun the DAG with each seed and summarise accuracy over the seeds")
    args = parser.parse_args(argv)
    commit = git("rev-parse", args.commit)
    root = args.work / commit[:10]
    shutil.rmtree(root, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    git("clone", "--quiet", str(REPO), str(root))
    git("checkout", "--quiet", commit, cwd=root)
    log = args.work / f"{commit[:10]}.log"
    log.unlink(missing_ok=True)
    result = {"benchmark": "repro", "commit": commit,
              **timed_run(root, log, ["dvc", "repro"]), "timed": "dvc repro (after make setup)"}
    if args.then_seeds:
        from ruamel.yaml import YAML

        seed = YAML(typ="safe", pure=True).load((root / "params.yaml").read_text())["seed"]
        runs = {str(seed): result["metrics"]}
        result["seeds"] = {}
        for other in args.then_seeds:
            run = timed_run(root, log, ["dvc", "exp", "run", "-S", f"seed={other}"])
            result["seeds"][str(other)] = {"wall_seconds": run["wall_seconds"], "metrics": run["metrics"]}
            runs[str(other)] = run["metrics"]
        result["over_seeds"] = {"seeds": [int(s) for s in runs], **over_seeds(runs)}
    if args.then_all_protocols:
        result["all_protocols"] = {**timed_run(root, log, all_protocols_command(root)),
                                   "timed": "make repro-all (its dvc exp run), after the timed dvc repro"}
    shutil.rmtree(root, ignore_errors=True)
    return common.finish(result, "benchmarks.repro", argv, args.output,
                         printed=[key for key in (*common.provenance("benchmarks.repro", argv), *result)
                                  if key not in ("metrics", "all_protocols", "seeds")])


if __name__ == "__main__":
    main()
