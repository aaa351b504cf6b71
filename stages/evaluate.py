"""Stage `evaluate`: test-set accuracy, macro F-measure, per-class accuracy and confusion
matrices of a split's teachers (fused and per sensor), baseline and distilled student.
Writes metrics/<split>.json (keyed <split>.<model>.accuracy for `dvc metrics show`),
evaluation/<split>/details.json and evaluation/<split>/confusion_<model>.csv (DVC plots)."""
from pipeline.experiment import SplitData, evaluate
from pipeline.io import atomic_output, write_json
from pipeline.metrics import confusion_table
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, training_parser


def main(args, params):
    check_split(params, args.split)
    runtime = runtime_from(params)
    data = SplitData(args.split)
    models = {"teachers": f"models/{args.split}/teachers.pt", "baseline": f"models/{args.split}/baseline.pt",
              "student": f"models/{args.split}/student.pt"}
    metrics, predictions = evaluate(params, data, models, runtime)
    summary = {"teachers": {name: {k: m[k] for k in ("accuracy", "f_measure")} for name, m in metrics["teachers"].items()}}
    for name in ("baseline", "student"):
        summary[name] = {k: metrics[name][k] for k in ("accuracy", "f_measure")}
    write_json(f"metrics/{args.split}.json", {args.split: summary})
    write_json(f"evaluation/{args.split}/details.json", metrics)
    for name, (labels, predicted) in predictions.items():
        with atomic_output(f"evaluation/{args.split}/confusion_{name}.csv") as temporary:
            confusion_table(labels, predicted, data.class_names).to_csv(temporary, index=False)
    print(f"{args.split}: teachers {summary['teachers']['fused']['accuracy']:.2f}%, "
          f"baseline {summary['baseline']['accuracy']:.2f}%, student {summary['student']['accuracy']:.2f}%")
    stop_runtime(runtime)


if __name__ == "__main__":
    run_stage(training_parser(__doc__), main)
