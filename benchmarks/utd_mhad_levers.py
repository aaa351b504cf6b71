"""A smoke check of the distillation levers on UTD-MHAD, VALIDATION accuracy only.

One seed, split ``subject_specific``, ``presets/utd_mhad_depth.yaml``: the fused teacher (and,
for the cross-fitted arm, its K fold teachers), then one student per arm, each run with the
pipeline's own stages (dvc.yaml's commands) in a scratch workspace. The ``evaluate`` stage is
never run: the test split is for the study (issue 12), so this reports each student's
validation accuracy at its selected epoch, its last epoch's loss terms and their gradient
norms on fc1, and the teachers' diagnostics in-fold and cross-fitted
(``teacher_outputs.json``). Finished runs are reused (keyed by params and code), so it
resumes. Writes --output (JSON) and a markdown table next to it; prints the JSON last.

    python -m benchmarks.utd_mhad_levers --root ../shared/data/utd_mhad
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from ruamel.yaml import YAML

from benchmarks.utd_mhad_teachers import code_version
from benchmarks.workspace import (
    REPO, add_utd_mhad_arguments, fingerprint, finished_run, git_commit, machine, make_workspace, provenance,
    run_stage, with_overrides,
)

PREPROCESSING = ("manifest", "frames", "gaf", "embed")
DATA_FILES = ("manifest.csv", "splits.csv", "classes.txt", "frames.h5", "gaf.h5", "class_embeddings.h5")
# arm -> params overrides (on the preset: SAKDN with channel importance, spatial, no folds)
ARMS = {
    "baseline": [],
    "sakdn_input_spatial": ["distill.importance=norm", "distill.layer_pairs=[[conv4,stage4]]"],
    "sakdn_channel_spatial": [],
    "sakdn_channel_temporal": ["distill.align=temporal"],
    "sakdn_channel_spatial_folds4": ["teacher_outputs.folds=4"],
    "dkd": ["distill.method=dkd"],
    "contrastive": ["distill.method=contrastive"],
    "sakdn_channel_spatial_shuffled": ["distill.pairing=shuffled"],
    "sakdn_channel_spatial_class_mean": ["distill.pairing=class_mean"],
}


class Levers:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "stages.log"
        base = YAML(typ="safe").load(Path(args.params).read_text())
        self.params = with_overrides(base, [f"data.root={Path(args.root).resolve()}",
                                            f"splits.protocols=[{args.split}]", f"seed={args.seed}",
                                            *args.overrides])
        self.code = code_version()
        self.prep = self.workdir / "preprocessing"

    def say(self, message: str) -> None:
        print(message, flush=True)

    def links(self) -> dict[str, Path]:
        return {f"data/{name}": self.prep / "data" / name for name in DATA_FILES}

    def preprocess(self) -> None:
        sections = {k: self.params.get(k) for k in ("seed", "dataset", "data", "splits", "frames", "gaf", "embed")}
        key = fingerprint(sections, self.code)
        if finished_run(self.prep, key) is None:
            make_workspace(self.prep, self.params, {})
            seconds = {stage: round(run_stage(self.prep, stage, log=self.log), 1) for stage in PREPROCESSING}
            (self.prep / "result.json").write_text(json.dumps({"fingerprint": key, "seconds": seconds}))
        self.prep_key = key

    def teachers(self, folds: int) -> Path:
        """The fused teacher and its fold teachers (K = ``folds``; 0 writes the empty file)."""
        split = self.args.split
        params = with_overrides(self.params, [f"teacher_outputs.folds={folds}"])
        folder = self.workdir / f"teachers-folds{folds}"
        key = fingerprint(self.prep_key, params["teacher"], params["teacher_outputs"], params["seed"])
        if finished_run(folder, key) is None:
            links = self.links()
            if folds and (self.workdir / "teachers-folds0" / "models").exists():  # the same full teacher
                links[f"models/{split}/teachers.pt"] = self.workdir / "teachers-folds0" / f"models/{split}/teachers.pt"
            make_workspace(folder, params, links)
            seconds = {}
            if f"models/{split}/teachers.pt" not in links:
                seconds["teachers"] = round(run_stage(folder, "teachers", item=split, log=self.log), 1)
            seconds["fold_teachers"] = round(run_stage(folder, "fold_teachers", item=split, log=self.log), 1)
            (folder / "result.json").write_text(json.dumps({"fingerprint": key, "seconds": seconds}))
        self.say(f"teachers (folds {folds}): {json.loads((folder / 'result.json').read_text())['seconds']}")
        return folder

    def teacher_outputs(self, params: dict, links: dict[str, Path]) -> tuple[Path, float]:
        """The teacher-output cache for these params, shared by the arms that differ only in
        what the stage does not read (as DVC would share it)."""
        split = self.args.split
        keys = {"pairs": params["distill"]["layer_pairs"], "importance": params["distill"]["importance"],
                "readout": params["distill"]["readout"], "method": params["distill"]["method"],
                "beta": params["beta"], "batch": params["student"]["batch_size"], "teacher": params["teacher"],
                "folds": params["teacher_outputs"]["folds"], "seed": params["seed"]}
        key = fingerprint(self.prep_key, keys, self.code)
        folder = self.workdir / "outputs" / key[:16]
        if (saved := finished_run(folder, key)) is None:
            make_workspace(folder, params, links)
            saved = {"fingerprint": key, "seconds": round(run_stage(folder, "teacher_outputs", item=split,
                                                                    log=self.log), 1)}
            (folder / "result.json").write_text(json.dumps(saved))
        return folder, saved["seconds"]

    def arm(self, name: str) -> dict:
        split = self.args.split
        params = with_overrides(self.params, ARMS[name])
        method = "baseline" if name == "baseline" else "distill"
        teachers = self.teachers(params["teacher_outputs"]["folds"])
        folder = self.workdir / "arms" / name
        key = fingerprint(self.prep_key, params, method, self.code)
        if (saved := finished_run(folder, key)) is None:
            links = self.links()
            for relative in (f"models/{split}/teachers.pt", f"models/{split}/fold_teachers.pt"):
                links[relative] = teachers / relative
            seconds = {}
            if method == "distill":
                outputs, seconds["teacher_outputs"] = self.teacher_outputs(params, links)
                for file in ("teacher_outputs.h5", "teacher_outputs.json"):
                    links[f"data/{split}/{file}"] = outputs / "data" / split / file
            make_workspace(folder, params, links)
            seconds[method] = round(run_stage(folder, method, item=split, log=self.log), 1)
            model_file = "baseline" if method == "baseline" else "student"
            model = torch.load(folder / "models" / split / f"{model_file}.pt", map_location="cpu", weights_only=False)
            best = next(r for r in model["history"] if r["epoch"] == model["best_epoch"])
            saved = {"fingerprint": key, "overrides": ARMS[name], "seconds": seconds, "loss": model.get("loss", "ce"),
                     "validation_accuracy": round(best["val_accuracy"], 2), "best_epoch": model["best_epoch"],
                     "validation_curve": [round(r["val_accuracy"], 2) for r in model["history"]],
                     "last_epoch": {k: v for k, v in model["history"][-1].items() if k.startswith("train_")}}
            summary = folder / "data" / split / "teacher_outputs.json"
            if summary.exists():
                outputs = json.loads(summary.read_text())
                saved["teacher_outputs"] = {k: outputs[k] for k in ("folds", "temperature", "diagnostics")}
            (folder / "result.json").write_text(json.dumps(saved, indent=1))
        self.say(f"{name}: validation {saved['validation_accuracy']:.2f}% at epoch {saved['best_epoch']} "
                 f"({', '.join(f'{k} {v} s' for k, v in saved['seconds'].items())})")
        return saved


def markdown(result: dict) -> str:
    recordings = result.get("validation_recordings") or 0
    lines = [f"UTD-MHAD `{result['split']}`, seed {result['seed']}, validation accuracy (%) at the selected epoch "
             f"({recordings} validation recordings: one is {100 / max(recordings, 1):.1f} points); the test split "
             "was not read. A smoke check of the levers, not a result.", "",
             "| arm | overrides | validation accuracy | best epoch | loss |", "| --- | --- | --- | --- | --- |"]
    for name, row in result["arms"].items():
        lines.append(f"| {name} | {' '.join(row['overrides']) or '(preset)'} | {row['validation_accuracy']:.2f} | "
                     f"{row['best_epoch']} | {row['loss']} |")
    lines += provenance(result, f"Wall time {result['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.utd_mhad_levers", description=__doc__.splitlines()[0])
    add_utd_mhad_arguments(parser)
    parser.add_argument("--split", default="subject_specific")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), metavar="NAME")
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / ".work" / "utd_mhad_levers"))
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "utd_mhad_levers.json"))
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="params override on top of the preset (repeatable)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    levers = Levers(args)
    levers.preprocess()
    arms = {name: levers.arm(name) for name in args.arms}
    report = json.loads((levers.prep / "data" / "manifest_report.json").read_text())
    validation = report.get("validation", {}).get(args.split, {})
    result = {"benchmark": "utd_mhad_levers", "split": args.split, "seed": args.seed, "arms": arms,
              "validation_recordings": validation.get("recordings"),
              "machine": machine(), "git": git_commit(), "wall_seconds": round(time.perf_counter() - start, 1),
              "command": "python -m benchmarks.utd_mhad_levers " + shlex.join(argv if argv is not None else sys.argv[1:])}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
