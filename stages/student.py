"""Stages `baseline` and `distill`: train the video student on a split's training videos,
alone (--method baseline, the paper's "Student (Baseline)") or distilled from the cached
teacher outputs (--method distill: distill.method, SAKDN by default), and write its model
file. Launch with torchrun for DDP."""

from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.student_training import train_student
from stages.common import add_paths, check_split, run_stage, save_trained, training_parser, training_runtime


def main(args, params):
    check_split(params, args.split)
    if args.method == "distill" and not (args.teacher_outputs and args.teachers):
        parser().error("--method distill needs --teacher-outputs and --teachers")
    method = "baseline" if args.method == "baseline" else params["distill"]["method"]
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, frames=args.frames)
    with training_runtime(params) as runtime:
        saved = train_student(params, SplitData(args.split, inputs), method, runtime, args.checkpoint,
                              teacher_outputs=args.teacher_outputs, teacher_path=args.teachers,
                              progress=not args.no_progress, baseline_path=args.baseline)
        if runtime.is_main:
            save_trained(args.model, args.curves, saved)
            print(f"{args.method}[{args.split}] ({saved['loss']}): best epoch {saved['best_epoch']}")


def parser():
    parser = training_parser(__doc__)
    parser.add_argument("--method", choices=("baseline", "distill"), required=True)
    add_paths(parser, frames="frame cache (frames stage)", model="model file to write",
              checkpoint="resumable checkpoint (kept across runs)", curves="dvclive folder for the training curves")
    parser.add_argument("--teacher-outputs", metavar="PATH", help="cached teacher outputs (distill only)")
    parser.add_argument("--teachers", metavar="PATH", help="the teachers' model file (distill only)")
    parser.add_argument("--baseline", metavar="PATH",
                        help="the baseline student's model file (distill only; read under distill.targets: baseline)")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
