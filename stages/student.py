"""Stages `baseline` and `distill`: train the video student on a split's training videos,
alone (--method baseline, the paper's "Student (Baseline)") or distilled from the cached
teacher outputs (--method distill: distill.method, SAKDN by default), and write
models/<split>/<baseline|student>.pt. Launch with torchrun for DDP."""

from pipeline.experiment import SplitData, train_student
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, save_trained, training_parser


def main(args, params):
    check_split(params, args.split)
    runtime = runtime_from(params)
    method = "baseline" if args.method == "baseline" else params["distill"]["method"]
    name = "baseline" if args.method == "baseline" else "student"
    saved = train_student(params, SplitData(args.split), method, runtime, f"checkpoints/{args.split}/{name}.pt",
                          teacher_outputs=f"data/{args.split}/teacher_outputs.h5",
                          teacher_path=f"models/{args.split}/teachers.pt", progress=not args.no_progress)
    if runtime.is_main:
        save_trained(args.split, name, saved)
        print(f"{name}[{args.split}] ({saved['loss']}): best epoch {saved['best_epoch']}")
    stop_runtime(runtime)


if __name__ == "__main__":
    parser = training_parser(__doc__)
    parser.add_argument("--method", choices=("baseline", "distill"), required=True)
    run_stage(parser, main)
