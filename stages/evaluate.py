"""Stage `evaluate`: test-set accuracy, macro F-measure, per-class accuracy and confusion
matrices of a split's teachers (fused and per sensor), baseline and distilled student.

The metrics file is keyed by model (``baseline.accuracy``, ``student.accuracy``,
``teachers.fused.accuracy``), with each student's validation summary (``best_val_accuracy``,
``best_epoch``, read from its model file, its ``training_clips`` and the ``temperature`` its soft
terms used; ``training``: the labelled and unlabeled training recordings; under pseudo-labelling the labels' ``coverage`` and
``precision`` on the unlabeled training recordings): with one metrics file per split, `dvc metrics
show` is one row per split and one column per model metric. A student whose training was
skipped (no video) is ``{"skipped": reason}``, with an empty confusion table."""
from pipeline.io import write_json
from pipeline.workflow.evaluation import (
    evaluate, evaluation_line, metrics_summary, skipped_students, write_confusion_tables,
)
from pipeline.workflow.inputs import Inputs, SplitData
from stages.common import add_paths, check_split, run_stage, training_parser, training_runtime

STUDENTS = ("baseline", "student")


def main(args, params):
    check_split(params, args.split)
    students = {name: getattr(args, name) for name in STUDENTS if getattr(args, name)}
    skipped = skipped_students(students, args.frames)  # sensors only: nothing was trained
    trained = {name: path for name, path in students.items() if name not in skipped}
    # Teachers alone (no student model to score) need no video: the frame cache is not read.
    frames = args.frames if trained else None
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, gaf=args.gaf, frames=frames)
    with training_runtime(params) as runtime:
        data = SplitData(args.split, inputs)
        metrics, predictions = evaluate(params, data, {"teachers": args.teachers, **trained}, runtime, skipped)
    summary = metrics_summary(metrics, students)
    metrics["skipped_samples"] = data.skipped_samples  # no frames: not part of the test set
    write_json(args.metrics, summary)
    write_json(args.details, metrics)
    write_confusion_tables(args.confusion_dir, predictions, data.class_names, skipped)
    print(evaluation_line(args.split, summary, metrics, trained, skipped))


def parser():
    parser = training_parser(__doc__)
    add_paths(parser, frames="frame cache (frames stage)", gaf="GAF image cache (gaf stage)",
              teachers="the teachers' model file", metrics="metrics JSON to write (a DVC metric)",
              details="per-class metrics and confusion matrices JSON to write",
              confusion_dir="folder for confusion_<model>.csv (DVC plots)")
    for name in STUDENTS:
        parser.add_argument(f"--{name}", metavar="PATH", help=f"the {name} model file (left out: not evaluated)")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
