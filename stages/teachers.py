"""Stage `teachers`: train the multi-sensor teacher (VGG-style branches + SPAMFM + semantic
loss) on a split's training recordings, select the epoch on its validation recordings, and
write the model file (resumable checkpoint and dvclive curves beside it)."""

from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.teacher_training import train_teachers
from stages.common import add_paths, check_split, run_stage, save_trained, training_parser, training_runtime


def main(args, params):
    check_split(params, args.split)
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, gaf=args.gaf)
    with training_runtime(params) as runtime:
        saved = train_teachers(params, SplitData(args.split, inputs), runtime, args.checkpoint,
                               progress=not args.no_progress)
        if runtime.is_main:
            save_trained(args.model, args.curves, saved)
            print(f"teachers[{args.split}]: best epoch {saved['best_epoch']}")


def parser():
    parser = training_parser(__doc__)
    add_paths(parser, gaf="GAF image cache (gaf stage)", model="model file to write",
              checkpoint="resumable checkpoint (kept across runs)", curves="dvclive folder for the training curves")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
