"""UTD-MHAD benchmark: inertial teachers, depth-video student, the paper's Table VI rows.

Runs the pipeline's own stages (exactly the commands in dvc.yaml) with the
``presets/utd_mhad_depth.yaml`` params on one split, in scratch workspaces under --workdir
that share the preprocessed caches:

- teachers: accelerometer alone, gyroscope alone, both fused with SPAMFM, both without SPAMFM
  (SKDN), and the teachers without their semantic loss that AKDN distils from;
- students: the video baseline, SAKDN, its ablations KDN (alpha 0), SADN (beta 0), AKDN
  (gamma 0, teachers trained with sp_weight 0), and KD baselines (soft_target, at, sp, rkd);
  the main rows over --seeds, the others over --ablation-seeds.

Every run's metrics are kept in the workdir keyed by a fingerprint of its params, so an
interrupted benchmark resumes where it stopped. Writes --output (JSON: accuracy and macro
F-measure in percent, wall time per stage, machine, command line, git commit) and a markdown
table next to it; prints the JSON last.

    python -m benchmarks.utd_mhad_paper --root ../shared/data/utd_mhad
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

from benchmarks.workspace import (
    REPO, add_utd_mhad_arguments, fingerprint, finished_run, git_commit, machine, make_workspace, provenance,
    run_stage, summary, with_overrides,
)

PREPROCESSING = ("manifest", "frames", "gaf", "embed")
DATA_FILES = ("manifest.csv", "splits.csv", "classes.txt", "frames.h5", "gaf.h5", "class_embeddings.h5")

# name -> params overrides of the teacher variant
TEACHERS = {
    "acc": ["teacher.sensors=[acc]"],
    "gyro": ["teacher.sensors=[gyro]"],
    "fused": [],
    "fused_no_spamfm": ["teacher.spamfm_layers=[]"],
    "fused_no_semantic": ["teacher.sp_weight=0"],
}
# name -> (teacher variant distilled from, stage method, params overrides); main rows first
STUDENTS = {
    "baseline": (None, "baseline", []),
    "sakdn": ("fused", "distill", []),
    # Investigation: the soft-target term at the weight the ST baseline uses (see the README).
    "sakdn_alpha1": ("fused", "distill", ["alpha=1"]),
    "kdn": ("fused", "distill", ["alpha=0"]),
    "sadn": ("fused", "distill", ["beta=0"]),
    "akdn": ("fused_no_semantic", "distill", ["gamma=0"]),
    "soft_target": ("fused", "distill", ["distill.method=soft_target"]),
    "at": ("fused", "distill", ["distill.method=at"]),
    "sp": ("fused", "distill", ["distill.method=sp"]),
    "rkd": ("fused", "distill", ["distill.method=rkd"]),
}
MAIN_STUDENTS = ("baseline", "sakdn", "sakdn_alpha1", "soft_target")
DESCRIPTIONS = {
    "acc": "Teacher: accelerometer", "gyro": "Teacher: gyroscope", "fused": "Multi-teachers (SPAMFM)",
    "fused_no_spamfm": "Multi-teachers without SPAMFM (SKDN)",
    "fused_no_semantic": "Multi-teachers without semantic loss (for AKDN)",
    "baseline": "Student (baseline, depth video alone)", "sakdn": "SAKDN (alpha 0.1, beta 1, gamma 1)",
    "sakdn_alpha1": "SAKDN with alpha = 1", "kdn": "KDN (alpha = 0)",
    "sadn": "SADN (beta = 0)", "akdn": "AKDN (gamma = 0, teachers' sp_weight = 0)",
    "soft_target": "ST (soft targets)", "at": "AT", "sp": "SP", "rkd": "RKD",
}
# The paper's Table VI (RGB video, BN-Inception and VGG16 on GPUs): docs/method.md §7.
PAPER = {"acc": 97.66, "gyro": 94.87, "fused": 98.83, "baseline": 94.87, "sakdn": 98.60}


class Benchmark:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        self.log = self.workdir / "stages.log"
        base = YAML(typ="safe").load(Path(args.params).read_text())
        self.params = with_overrides(base, [f"data.root={Path(args.root).resolve()}",
                                            f"splits.protocols=[{args.split}]", *args.overrides])
        self.prep = self.workdir / "preprocessing"
        self.teachers: dict[str, dict] = {}

    def say(self, message: str) -> None:
        print(message, flush=True)

    def cached(self, folder: Path, key: str) -> dict | None:
        return finished_run(folder, key)

    def save(self, folder: Path, result: dict) -> dict:
        (folder / "result.json").write_text(json.dumps(result, indent=1))
        return result

    def preprocess(self) -> dict:
        sections = {k: self.params.get(k) for k in ("seed", "dataset", "data", "splits", "frames", "gaf", "embed")}
        key = fingerprint(sections)
        if (saved := self.cached(self.prep, key)) is None:
            make_workspace(self.prep, self.params, {})
            seconds = {}
            for stage in PREPROCESSING:
                seconds[stage] = round(run_stage(self.prep, stage, log=self.log), 1)
                self.say(f"{stage}: {seconds[stage]} s")
            saved = self.save(self.prep, {"fingerprint": key, "seconds": seconds})
        self.prep_key = key
        return saved

    def data_links(self) -> dict[str, Path]:
        return {f"data/{name}": self.prep / "data" / name for name in DATA_FILES}

    def teacher(self, name: str, with_outputs: bool) -> dict:
        split = self.args.split
        params = with_overrides(self.params, TEACHERS[name])
        folder = self.workdir / "teachers" / name
        key = fingerprint(self.prep_key, params, with_outputs)
        if (saved := self.cached(folder, key)) is None:
            make_workspace(folder, params, self.data_links())
            seconds = {"teachers": run_stage(folder, "teachers", item=split, log=self.log)}
            if with_outputs:  # teacher_outputs reads the fold teachers' file (none when folds is 0)
                seconds["fold_teachers"] = run_stage(folder, "fold_teachers", item=split, log=self.log)
                seconds["teacher_outputs"] = run_stage(folder, "teacher_outputs", item=split, log=self.log)
            seconds["evaluate"] = run_stage(folder, "evaluate", item=split, leave_out=("--baseline", "--student"),
                                            log=self.log)
            metrics = json.loads((folder / "metrics" / f"{split}.json").read_text())["teachers"]
            saved = self.save(folder, {"fingerprint": key, "metrics": metrics,
                                       "seconds": {k: round(v, 1) for k, v in seconds.items()}})
        self.say(f"teachers {name}: fused {saved['metrics']['fused']['accuracy']:.2f}% "
                 f"({', '.join(f'{k} {v} s' for k, v in saved['seconds'].items())})")
        self.teachers[name] = {"folder": folder, "key": key}
        return saved

    def student(self, name: str, seed: int) -> dict:
        split = self.args.split
        teacher, method, overrides = STUDENTS[name]
        params = with_overrides(self.params, TEACHERS[teacher] if teacher else [])
        params = with_overrides(params, [*overrides, f"seed={seed}"])
        folder = self.workdir / "students" / f"{name}-seed{seed}"
        links = self.data_links()
        if teacher:
            source = self.teachers[teacher]["folder"]
            for relative in (f"models/{split}/teachers.pt", f"data/{split}/teacher_outputs.h5"):
                links[relative] = source / relative
        else:  # evaluate always reports the teachers next to the students
            links[f"models/{split}/teachers.pt"] = self.teachers["fused"]["folder"] / f"models/{split}/teachers.pt"
        key = fingerprint(self.prep_key, params, method, self.teachers[teacher or "fused"]["key"])
        model = "baseline" if method == "baseline" else "student"
        if (saved := self.cached(folder, key)) is None:
            make_workspace(folder, params, links)
            others = tuple(f"--{other}" for other in ("baseline", "student") if other != model)
            seconds = {method: run_stage(folder, method, item=split, log=self.log),
                       "evaluate": run_stage(folder, "evaluate", item=split, leave_out=others, log=self.log)}
            metrics = json.loads((folder / "metrics" / f"{split}.json").read_text())[model]
            saved = self.save(folder, {"fingerprint": key, "metrics": metrics,
                                       "seconds": {k: round(v, 1) for k, v in seconds.items()}})
        if "validation_accuracy" not in saved:  # the selected epoch's, from the model file's history
            import torch

            model_file = torch.load(folder / "models" / split / f"{model}.pt", map_location="cpu", weights_only=False)
            best = next(r for r in model_file["history"] if r["epoch"] == model_file["best_epoch"])
            saved = self.save(folder, {**saved, "validation_accuracy": round(best["val_accuracy"], 2),
                                       "best_epoch": model_file["best_epoch"]})
        self.say(f"student {name} seed {seed}: {saved['metrics']['accuracy']:.2f}% "
                 f"({', '.join(f'{k} {v} s' for k, v in saved['seconds'].items())})")
        return saved


def markdown(result: dict) -> str:
    def cell(row: dict, metric: str) -> str:
        value = row[metric]
        if isinstance(value, dict):
            n = len(value["runs"])
            return f"{value['mean']:.2f} ± {value['std']:.2f} (n={n})" if n > 1 else f"{value['mean']:.2f} (n=1)"
        return f"{value:.2f}"

    baseline = result["students"].get("baseline", {}).get("accuracy", {}).get("mean")
    lines = [f"UTD-MHAD, split `{result['split']}`: inertial teachers (GAF images), depth-video student. "
             f"Accuracy and macro F-measure in % on the test trials; students as mean ± standard deviation "
             f"over seeds. Paper: Table VI of SAKDN (RGB video, BN-Inception / VGG16 on GPUs).", "",
             "| model | test accuracy | test F-measure | vs baseline (points) | validation accuracy | paper accuracy |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, row in result["teachers"].items():
        paper = PAPER.get(name)
        lines.append(f"| {DESCRIPTIONS[name]} | {cell(row, 'accuracy')} | {cell(row, 'f_measure')} | | | "
                     f"{paper if paper else '–'} |")
    for name, row in result["students"].items():
        delta = "" if name == "baseline" or baseline is None else f"{row['accuracy']['mean'] - baseline:+.2f}"
        paper = PAPER.get(name)
        lines.append(f"| {DESCRIPTIONS[name]} | {cell(row, 'accuracy')} | {cell(row, 'f_measure')} | {delta} | "
                     f"{cell(row, 'validation_accuracy')} | {paper if paper else '–'} |")
    seconds = result["stage_seconds"]
    lines += provenance(result, "Wall time: preprocessing "
                        + ", ".join(f"{k} {v} s" for k, v in seconds["preprocessing"].items())
                        + "; per run (median): "
                        + ", ".join(f"{k} {v} s" for k, v in seconds["median_per_run"].items())
                        + f"; whole benchmark {seconds['total']:.0f} s of stage time.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.utd_mhad_paper", description=__doc__.splitlines()[0])
    add_utd_mhad_arguments(parser)
    parser.add_argument("--split", default="subject_specific")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the main rows")
    parser.add_argument("--ablation-seeds", type=int, nargs="+", default=[0],
                        help="seeds of the other rows")
    parser.add_argument("--main-rows", nargs="+", default=list(MAIN_STUDENTS), choices=list(STUDENTS), metavar="NAME",
                        help=f"student rows run over --seeds (default: {', '.join(MAIN_STUDENTS)})")
    parser.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS), metavar="NAME",
                        help=f"student rows (default all: {', '.join(STUDENTS)})")
    parser.add_argument("--teachers", nargs="+", default=[t for t in TEACHERS if t != "fused_no_semantic"],
                        choices=list(TEACHERS), metavar="NAME", help="teacher rows (default: acc gyro fused fused_no_spamfm)")
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / ".work" / "utd_mhad_paper"),
                        help="scratch workspaces; finished runs found here are reused")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "utd_mhad_paper.json"),
                        help="results JSON (the markdown table is written next to it, .md)")
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="params override on top of the preset (repeatable)")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        raise SystemExit(f"error: --root {args.root} is not a folder (expected UTD-MHAD's Inertial/ and Depth/)")
    started = time.perf_counter()
    bench = Benchmark(args)
    prep = bench.preprocess()
    needed = list(dict.fromkeys(["fused", *args.teachers,
                                 *(STUDENTS[s][0] for s in args.students if STUDENTS[s][0])]))
    distilled_from = {STUDENTS[s][0] for s in args.students}
    teacher_runs = {name: bench.teacher(name, with_outputs=name in distilled_from) for name in needed}
    student_runs: dict[str, list[dict]] = {}
    for name in args.students:
        seeds = args.seeds if name in args.main_rows else args.ablation_seeds
        student_runs[name] = [bench.student(name, seed) for seed in seeds]

    teachers = {}
    for name in [t for t in TEACHERS if t in needed]:
        metrics = teacher_runs[name]["metrics"]
        teachers[name] = {"accuracy": metrics["fused"]["accuracy"], "f_measure": metrics["fused"]["f_measure"],
                          "seconds": teacher_runs[name]["seconds"]}
        if len(metrics) > 2:  # per-branch test accuracy of a multi-sensor teacher
            teachers[name]["branches"] = {s: m["accuracy"] for s, m in metrics.items() if s != "fused"}
    students = {}
    for name, runs in student_runs.items():
        seeds = args.seeds if name in args.main_rows else args.ablation_seeds
        students[name] = {metric: summary([run["metrics"][metric] for run in runs])
                          for metric in ("accuracy", "f_measure")}
        students[name]["seeds"] = seeds
        students[name]["distilled_from"] = STUDENTS[name][0]
        students[name]["validation_accuracy"] = summary([run["validation_accuracy"] for run in runs])
        students[name]["best_epoch"] = [run["best_epoch"] for run in runs]
        students[name]["seconds"] = [run["seconds"] for run in runs]

    def median_of(stage: str) -> float | None:
        values = [run["seconds"][stage] for run in [*teacher_runs.values(), *(r for rs in student_runs.values() for r in rs)]
                  if stage in run["seconds"]]
        return round(statistics.median(values), 1) if values else None

    all_runs = [*teacher_runs.values(), *(r for rs in student_runs.values() for r in rs)]
    stage_seconds = {
        "preprocessing": prep["seconds"],
        "median_per_run": {stage: median_of(stage) for stage in ("teachers", "teacher_outputs", "baseline", "distill",
                                                                 "evaluate") if median_of(stage) is not None},
        "total": round(sum(prep["seconds"].values()) + sum(sum(r["seconds"].values()) for r in all_runs), 1),
    }
    result = {
        "benchmark": "utd_mhad_paper", "split": args.split,
        "command": "python -m benchmarks.utd_mhad_paper " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "git": git_commit(), "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "params": {k: bench.params[k] for k in bench.params if k not in ("data", "synthetic")},
        "teachers": teachers, "students": students, "stage_seconds": stage_seconds,
        "paper_table_vi": PAPER,
        "this_invocation_seconds": round(time.perf_counter() - started, 1),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
