"""Baseline vs distilled student over several training seeds, on one split.

Runs the split's stages (teachers, fold_teachers, teacher_outputs, baseline, distill, evaluate)
once per seed, with the same preprocessed data (the caches under data/, built by `dvc repro`),
in a scratch workspace that links to those caches, so the repository's DVC outputs are never
touched. Prints one line per seed and, last, a JSON object with mean and standard deviation.

    python -m benchmarks.seeds --split cross_subject --seeds 0 1 2 [-S student.epochs=20 ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from benchmarks.workspace import REPO, override, run_stage

INPUTS = ["manifest.csv", "splits.csv", "classes.txt", "frames.h5", "gaf.h5", "class_embeddings.h5"]
STAGES = ["teachers", "fold_teachers", "teacher_outputs", "baseline", "distill", "evaluate"]  # dvc.yaml's, for one split


def workspace(root: Path, params: dict) -> None:
    (root / "data").mkdir(parents=True)
    for name in INPUTS:
        source = REPO / "data" / name
        if not source.exists():
            sys.exit(f"error: {source} is missing: run `dvc repro` first")
        (root / "data" / name).symlink_to(source)
    for name in ("pipeline", "stages"):
        (root / name).symlink_to(REPO / name)
    with open(root / "params.yaml", "w") as handle:
        YAML().dump(params, handle)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seeds", description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="cross_subject")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="key=value params override")
    args = parser.parse_args()
    results = {"baseline": [], "student": [], "teachers": []}
    for seed in args.seeds:
        params = YAML().load((REPO / "params.yaml").read_text())
        for assignment in args.overrides + [f"seed={seed}"]:
            override(params, assignment)
        with tempfile.TemporaryDirectory(prefix="sakdn-seed-") as scratch:
            root = Path(scratch)
            workspace(root, params)
            start = time.perf_counter()
            for name in STAGES:
                run_stage(root, name, item=args.split)
            metrics = json.loads((root / "metrics" / f"{args.split}.json").read_text())
        for name in ("baseline", "student"):
            results[name].append(metrics[name])
        results["teachers"].append(metrics["teachers"]["fused"])
        print(f"seed {seed}: teachers {metrics['teachers']['fused']['accuracy']:.2f}, baseline "
              f"{metrics['baseline']['accuracy']:.2f}, student {metrics['student']['accuracy']:.2f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    def summary(runs: list[dict]) -> dict:
        out = {}
        for metric in ("accuracy", "f_measure"):
            values = [run[metric] for run in runs]
            out[metric] = {"mean": round(statistics.mean(values), 2),
                           "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0, "runs": values}
        return out

    print(json.dumps({"benchmark": "seeds", "split": args.split, "seeds": args.seeds, "overrides": args.overrides,
                      **{name: summary(runs) for name, runs in results.items()}}))


if __name__ == "__main__":
    main()
