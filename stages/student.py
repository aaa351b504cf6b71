"""Stages `baseline` and `distill`: train the video student on a split's training videos,
alone (--method baseline, the paper's "Student (Baseline)") or distilled from the cached
teacher outputs (--method distill: distill.method, SAKDN by default), and write its model
file. Launch with torchrun for DDP. When the frame cache holds no video (sensor files only)
nothing is trained: the outputs say the student was skipped and why."""
import os
from dataclasses import replace

from pipeline.frames import frame_cache_has_video
from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.model_files import skipped_model
from stages.common import (
    add_paths, check_split, run_stage, save_skipped, save_trained, training_parser, training_runtime,
)


def main(args, params):
    check_split(params, args.split)
    if args.method == "distill" and not (args.teacher_outputs and args.teachers):
        parser().error("--method distill needs --teacher-outputs and --teachers")
    method = "baseline" if args.method == "baseline" else params["distill"]["method"]
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, frames=args.frames)
    inputs.check()
    if not frame_cache_has_video(args.frames):
        skip(args, method, inputs)
        return
    # Here, not at the top: torchvision and the losses take seconds to import, a skip needs neither.
    from pipeline.workflow.student_training import train_student

    with training_runtime(params) as runtime:
        saved = train_student(params, SplitData(args.split, inputs), method, runtime, args.checkpoint,
                              teacher_outputs=args.teacher_outputs, teacher_path=args.teachers,
                              progress=not args.no_progress, baseline_path=args.baseline)
        if runtime.is_main:
            save_trained(args.model, args.curves, saved)
            print(f"{args.method}[{args.split}] ({saved['loss']}): best epoch {saved['best_epoch']}")


def skip(args, method, inputs):
    """Sensors only: no student can be trained; the outputs DVC declares say so."""
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 writes them
    reason = "no video: the manifest has sensor files only"
    data = SplitData(args.split, replace(inputs, frames=None))  # what the file was made for
    save_skipped(args.model, args.checkpoint, args.curves, skipped_model("student", method, data, reason))
    print(f"{args.method}[{args.split}]: skipped, {args.frames} holds no frame ({reason})")


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
