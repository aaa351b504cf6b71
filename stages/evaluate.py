"""Stage `evaluate`: test-set accuracy, macro F-measure, per-class accuracy and confusion
matrices of a split's teachers (fused and per sensor), baseline and distilled student.
Writes metrics/<split>.json (keyed <split>.<model>.accuracy for `dvc metrics show`),
evaluation/<split>/details.json and evaluation/<split>/confusion_<model>.csv (DVC plots)."""
from pipeline.experiment import SplitData, evaluate
from pipeline.io import atomic_output, write_json
from pipeline.metrics import confusion_table
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, training_parser


MODELS = ("teachers", "baseline", "student")


def main(args, params):
    check_split(params, args.split)
    args.models = ["teachers"] + [name for name in MODELS[1:] if name in args.models]
    runtime = runtime_from(params)
    data = SplitData(args.split)
    models = {name: f"models/{args.split}/{name}.pt" for name in args.models}
    metrics, predictions = evaluate(params, data, models, runtime)
    summary = {"teachers": {name: {k: m[k] for k in ("accuracy", "f_measure")} for name, m in metrics["teachers"].items()}}
    for name in args.models[1:]:
        summary[name] = {k: metrics[name][k] for k in ("accuracy", "f_measure")}
    write_json(f"metrics/{args.split}.json", {args.split: summary})
    write_json(f"evaluation/{args.split}/details.json", metrics)
    for name, (labels, predicted) in predictions.items():
        with atomic_output(f"evaluation/{args.split}/confusion_{name}.csv") as temporary:
            confusion_table(labels, predicted, data.class_names).to_csv(temporary, index=False)
    print(f"{args.split}: " + ", ".join([f"teachers {summary['teachers']['fused']['accuracy']:.2f}%"] + [
        f"{name} {summary[name]['accuracy']:.2f}%" for name in args.models[1:]]))
    stop_runtime(runtime)


def parser():
    parser = training_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, metavar="MODEL",
                        help=f"models to evaluate, of {', '.join(MODELS)} (default: all); the teachers always")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
