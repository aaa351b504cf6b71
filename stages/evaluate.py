"""Stage `evaluate`: test-set accuracy, macro F-measure, per-class accuracy and confusion
matrices of a split's teachers (fused and per sensor), baseline and distilled student.

The metrics file is keyed by model (``baseline.accuracy``, ``student.accuracy``,
``teachers.fused.accuracy``), with each student's validation summary (``best_val_accuracy``,
``best_epoch``, read from its model file, its ``training_clips`` and the ``temperature`` its soft
terms used; ``training``: the labelled and unlabeled training recordings; under pseudo-labelling the labels' ``coverage`` and
``precision`` on the unlabeled training recordings): with one metrics file per split, `dvc metrics
show` is one row per split and one column per model metric. A student whose training was
skipped (no video) is ``{"skipped": reason}``, with an empty confusion table."""
from pathlib import Path

from pipeline.io import atomic_output, write_json
from pipeline.metrics import confusion_table
from pipeline.workflow.evaluation import evaluate, skipped_students
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
    # Teachers: each test recording with the reference set (the result); the fused teacher in
    # class-sorted batches too, labelled as the diagnostic it is (docs/method.md §3).
    summary = {"teachers": {name: {k: m[k] for k in ("accuracy", "f_measure", "class_sorted_accuracy") if k in m}
                            for name, m in metrics["teachers"].items()}}
    summary["teachers"]["fused"]["samples"] = metrics["teachers"]["fused"]["samples"]  # test recordings scored
    for name in students:
        summary[name] = {k: metrics[name][k] for k in ("skipped", "samples", "accuracy", "f_measure",
                                                       "best_val_accuracy", "best_epoch", "training_clips",
                                                       "temperature", "pseudo_labels")
                         if k in metrics[name]}
    summary["training"] = metrics["training"]  # labelled and unlabeled recordings (splits.labeled_fraction)
    metrics["skipped_samples"] = data.skipped_samples  # no frames: not part of the test set
    write_json(args.metrics, summary)
    write_json(args.details, metrics)
    for name in skipped:  # DVC declares their confusion plots: empty, with the header
        predictions[name] = ([], [])
    for name, (labels, predicted) in predictions.items():
        with atomic_output(Path(args.confusion_dir) / f"confusion_{name}.csv") as temporary:
            confusion_table(labels, predicted, data.class_names).to_csv(temporary, index=False)
    skipped_for = {}  # reason -> models: one mention of "no video" for both students
    for name in skipped:
        skipped_for.setdefault(metrics[name]["skipped"], []).append(name)
    print(f"{args.split}: " + ", ".join([f"teachers {summary['teachers']['fused']['accuracy']:.2f}%"] + [
        f"{name} {summary[name]['accuracy']:.2f}%" for name in trained])
        + "".join(f"; {' and '.join(names)} skipped ({reason})" for reason, names in skipped_for.items()))


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
