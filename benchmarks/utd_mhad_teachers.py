"""UTD-MHAD teachers under the honest protocol, on several splits and seeds.

For each split and seed, trains the accelerometer, gyroscope, fused (SPAMFM) and fused
without SPAMFM teachers with the pipeline's own stages (dvc.yaml's commands, the
``presets/utd_mhad_depth.yaml`` params), and evaluates them on the split's test recordings:
each recording with the model file's fixed reference set (the result), and the fused
teacher in class-sorted batches too (the authors' protocol, a diagnostic). Validation is
carved along the split's axis. Finished runs are reused (keyed by params and code version),
so the benchmark resumes. Writes --output (JSON) and a markdown table next to it; prints the
JSON last.

    python -m benchmarks.utd_mhad_teachers --root ../shared/data/utd_mhad
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from ruamel.yaml import YAML

from benchmarks.workspace import (
    REPO, add_utd_mhad_arguments, fingerprint, finished_run, git_commit, machine, make_workspace, provenance,
    run_stage, summary, with_overrides,
)

PREPROCESSING = ("manifest", "frames", "gaf", "embed")
DATA_FILES = ("manifest.csv", "splits.csv", "classes.txt", "frames.h5", "gaf.h5", "class_embeddings.h5",
              "manifest_report.json")
TEACHERS = {
    "acc": ["teacher.sensors=[acc]"],
    "gyro": ["teacher.sensors=[gyro]"],
    "fused": [],
    "fused_no_spamfm": ["teacher.spamfm_layers=[]"],
}
CODE = ("pipeline", "stages", "dvc.yaml")  # a change here invalidates finished runs


def code_version() -> str:
    """A hash of the code a run executes, so a finished run is reused only for the same code."""
    digest = []
    for name in CODE:
        path = REPO / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        digest += [(str(f.relative_to(REPO)), f.read_bytes().hex()) for f in files]
    return fingerprint(digest)


class TeacherBenchmark:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "stages.log"
        base = YAML(typ="safe").load(Path(args.params).read_text())
        self.params = with_overrides(base, [f"data.root={Path(args.root).resolve()}",
                                            f"splits.protocols=[{','.join(args.splits)}]", *args.overrides])
        self.code = code_version()
        self.prep = self.workdir / "preprocessing"

    def say(self, message: str) -> None:
        print(message, flush=True)

    def preprocess(self) -> dict:
        sections = {k: self.params.get(k) for k in ("seed", "dataset", "data", "splits", "frames", "gaf", "embed")}
        key = fingerprint(sections, self.code)
        if (saved := finished_run(self.prep, key)) is None:
            make_workspace(self.prep, self.params, {})
            seconds = {stage: round(run_stage(self.prep, stage, log=self.log), 1) for stage in PREPROCESSING}
            saved = {"fingerprint": key, "seconds": seconds}
            (self.prep / "result.json").write_text(json.dumps(saved, indent=1))
        self.prep_key = key
        report = json.loads((self.prep / "data" / "manifest_report.json").read_text())
        self.validation = report.get("validation", {})
        return saved

    def teacher(self, split: str, name: str, seed: int) -> dict:
        params = with_overrides(self.params, [*TEACHERS[name], f"seed={seed}"])
        folder = self.workdir / split / f"{name}-seed{seed}"
        key = fingerprint(self.prep_key, params, split)
        if (saved := finished_run(folder, key)) is None:
            links = {f"data/{file}": self.prep / "data" / file for file in DATA_FILES}
            make_workspace(folder, params, links)
            seconds = {"teachers": round(run_stage(folder, "teachers", item=split, log=self.log), 1),
                       "evaluate": round(run_stage(folder, "evaluate", item=split, leave_out=("--baseline", "--student"),
                                                   log=self.log), 1)}
            metrics = json.loads((folder / "metrics" / f"{split}.json").read_text())["teachers"]
            model = torch.load(folder / "models" / split / "teachers.pt", map_location="cpu", weights_only=False)
            best = next(r for r in model["history"] if r["epoch"] == model["best_epoch"])
            saved = {"fingerprint": key, "metrics": metrics, "seconds": seconds, "best_epoch": model["best_epoch"],
                     "validation_accuracy": round(best["val_accuracy"], 2),
                     "reference_set": model["reference"]["recording_ids"]}
            (folder / "result.json").write_text(json.dumps(saved, indent=1))
        fused = saved["metrics"]["fused"]
        self.say(f"{split} {name} seed {seed}: test {fused['accuracy']:.2f}% "
                 + (f"(class-sorted {fused['class_sorted_accuracy']:.2f}%) " if "class_sorted_accuracy" in fused else "")
                 + f"validation {saved['validation_accuracy']:.2f}% ({saved['seconds']['teachers']} s)")
        return saved


def markdown(result: dict) -> str:
    def cell(value: dict) -> str:
        return f"{value['mean']:.2f} ± {value['std']:.2f}" if len(value["runs"]) > 1 else f"{value['mean']:.2f}"

    lines = ["UTD-MHAD teachers (GAF images of the wrist accelerometer and gyroscope), accuracy in % as mean ± "
             f"standard deviation over seeds {result['seeds']}. Test: each recording with the model file's fixed "
             "reference set (the result). Class-sorted: the fused teacher in fixed batches of recordings sorted by "
             "class (the authors' protocol; a diagnostic, not a result). Validation: held out along the split's "
             "axis, the selected epoch's.", "",
             "| split | teacher | test accuracy | test F-measure | validation accuracy | class-sorted test accuracy |",
             "| --- | --- | --- | --- | --- | --- |"]
    for split in result["splits"]:
        for name, row in result[split].items():
            if not isinstance(row, dict) or "accuracy" not in row:
                continue
            sorted_cell = cell(row["class_sorted_accuracy"]) if "class_sorted_accuracy" in row else ""
            lines.append(f"| {split} | {name} | {cell(row['accuracy'])} | {cell(row['f_measure'])} | "
                         f"{cell(row['validation_accuracy'])} | {sorted_cell} |")
    lines += provenance(result, f"Median teacher training {result['median_seconds']['teachers']} s, "
                                f"evaluation {result['median_seconds']['evaluate']} s per run.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.utd_mhad_teachers", description=__doc__.splitlines()[0])
    add_utd_mhad_arguments(parser)
    parser.add_argument("--splits", nargs="+", default=["cross_subject", "subject_specific"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teachers", nargs="+", default=list(TEACHERS), choices=list(TEACHERS), metavar="NAME")
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / ".work" / "utd_mhad_teachers"),
                        help="scratch workspaces; finished runs found here are reused")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "utd_mhad_teachers.json"))
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="params override on top of the preset (repeatable)")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        raise SystemExit(f"error: --root {args.root} is not a folder (expected UTD-MHAD's Inertial/ and Depth/)")
    started = time.perf_counter()
    bench = TeacherBenchmark(args)
    prep = bench.preprocess()
    result = {"benchmark": "utd_mhad_teachers", "splits": args.splits, "seeds": args.seeds,
              "command": "python -m benchmarks.utd_mhad_teachers " + " ".join(
                  shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
              "git": git_commit(), "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "code_version": bench.code, "preprocessing_seconds": prep["seconds"]}
    seconds = {"teachers": [], "evaluate": []}
    for split in args.splits:
        result[split] = {"validation_carved": bench.validation.get(split)}
        for name in args.teachers:
            runs = [bench.teacher(split, name, seed) for seed in args.seeds]
            row = {metric: summary([run["metrics"]["fused"][metric] for run in runs])
                   for metric in ("accuracy", "f_measure")}
            row["validation_accuracy"] = summary([run["validation_accuracy"] for run in runs])
            if all("class_sorted_accuracy" in run["metrics"]["fused"] for run in runs):
                row["class_sorted_accuracy"] = summary([run["metrics"]["fused"]["class_sorted_accuracy"]
                                                        for run in runs])
            if len(runs[0]["metrics"]) > 2:  # per-branch accuracy of a multi-sensor teacher
                row["branches"] = {s: summary([run["metrics"][s]["accuracy"] for run in runs])
                                   for s in runs[0]["metrics"] if s != "fused"}
            row["best_epoch"] = [run["best_epoch"] for run in runs]
            result[split][name] = row
            for stage in seconds:
                seconds[stage] += [run["seconds"][stage] for run in runs]
    result["median_seconds"] = {stage: round(statistics.median(values), 1) for stage, values in seconds.items()}
    result["this_invocation_seconds"] = round(time.perf_counter() - started, 1)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
