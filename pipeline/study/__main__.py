"""``python -m pipeline.study SPEC``: run a distillation study described by a spec file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Does distilling from the sensors make the video model better? Runs the study a spec file
describes, on validation only until the end: the schedule (the reference arm's epochs), a
settings search per arm as DVC experiments (successive halving), then every arm's final runs
over paired student seeds, each read once on the test split, with the pairing controls of the
arm chosen on validation. Writes <results>/<study>.json and .md (paired gains with 95 %
intervals, McNemar), _experiments.csv, figures (.png) and per-run CSV data for DVC plots.

Every finished run goes into the study's run record (<results>/<study>_runs.json), written
after each run: an interrupted study resumes where it stopped, and a finished one reruns in
seconds without training anything (or needing its data)."""

EXAMPLES = """\
examples:
  python -m pipeline.study studies/utd_mhad_depth.yaml
  python -m pipeline.study studies/utd_mhad_label_scarce.yaml --plan
  python -m pipeline.study studies/utd_mhad_label_scarce.yaml --recorded-only
  python -m pipeline.study studies/utd_mhad_pseudo_labels.yaml --fraction 0.25
  python -m pipeline.study studies/utd_mhad_depth.yaml --root /data/UTD-MHAD --search-only
  make study SPEC=studies/utd_mhad_depth.yaml"""


def epilog() -> str:
    """Every spec key with an example: the spec module's own documentation, then examples."""
    from pipeline.study import spec

    return f"spec file (YAML):\n\n{spec.__doc__.strip()}\n\n{EXAMPLES}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.study", description=DESCRIPTION, epilog=epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path, help="the study's spec file (YAML), e.g. studies/utd_mhad_depth.yaml")
    parser.add_argument("--root", type=Path, metavar="DATA",
                        help="the dataset folder (default: the spec's data_root); needed only to train")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="the study's DVC project and final-run workspaces, made only when a run is missing "
                             "(default: studies/.work/<study>)")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="where the results and the run record are (default: studies/results); another "
                             "folder starts another record, e.g. to measure changed code")
    parser.add_argument("--search-only", action="store_true", help="stop after the search (no test-split read)")
    parser.add_argument("--train-finals", action="store_true",
                        help="train every missing final run, even those the search already trained with the same "
                             "params (by default their models are taken from the search once one, trained again, "
                             "was identical bit for bit)")
    parser.add_argument("--plan", action="store_true",
                        help="print the runs the study would train and an estimate of their time (the spec's cost "
                             "key), training and writing nothing")
    parser.add_argument("--recorded-only", action="store_true",
                        help="write the results from the run record alone, training and cloning nothing; a "
                             "label-fraction study reports the fractions whose runs are all recorded (the rest "
                             "listed as pending), another study stops at the first missing run")
    parser.add_argument("--fraction", type=float, action="append", metavar="F",
                        help="a label-fraction study: train only fraction F (repeatable), reading the others from "
                             "the run record (pending where missing), e.g. to finish one fraction first")
    parser.add_argument("--update-code", action="store_true",
                        help="re-clone the study's DVC project when this repository's code differs from the pinned "
                             "one (recorded runs are kept: the record pins results)")
    args = parser.parse_args(argv)
    if args.plan and args.recorded_only:
        parser.error("--plan and --recorded-only: choose one (--plan writes nothing)")
    return args


def main(argv: list[str] | None = None) -> dict:
    from pipeline.errors import ParamsError, ProjectError
    from pipeline.study.errors import StudyError

    args = parse_args(argv)
    try:
        from pipeline.study.executors import RecordOnly, Trainer
        from pipeline.study.fractions import FractionStudy
        from pipeline.study.plan import Planner
        from pipeline.project.provenance import command_line
        from pipeline.study.runner import Study
        from pipeline.study.spec import load_spec

        spec = load_spec(args.spec)
        if args.fraction and not spec.fractions:
            raise StudyError(f"{args.spec}: --fraction needs a label-fraction study (the spec has no fractions)")
        executor = (Planner(spec.cost, args.train_finals) if args.plan else RecordOnly() if args.recorded_only
                    else Trainer(args.update_code, args.train_finals))
        options = {"only": args.fraction} if spec.fractions else {}
        kind = FractionStudy if spec.fractions else Study
        study = kind(spec, root=args.root, workdir=args.workdir, results=args.results,
                     command=command_line("pipeline.study", argv), executor=executor,
                     say=(lambda message: print(message, flush=True)) if executor.writes else (lambda message: None),
                     **options)
        result = study.run(search_only=args.search_only)
        if isinstance(executor, Planner):
            print(executor.report(spec))
        return result
    except (StudyError, ProjectError, ParamsError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
