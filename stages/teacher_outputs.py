"""Stage `teacher_outputs`: run a split's frozen teachers once over every recording (fixed
batches) and cache what distillation needs (logits, fc2, the distillation taps, the ablated
pass), so student training never runs the teachers."""
from pipeline.experiment import Inputs, SplitData, write_teacher_outputs
from pipeline.io import write_json
from stages.common import add_paths, check_split, run_stage, training_parser, training_runtime


def main(args, params):
    check_split(params, args.split)
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, gaf=args.gaf)
    with training_runtime(params) as runtime:
        summary = write_teacher_outputs(params, SplitData(args.split, inputs), args.teachers, args.output, runtime)
    write_json(args.summary, summary)
    print(f"teacher_outputs[{args.split}]: {summary['recordings']} recordings, taps {summary['taps']}")


def parser():
    parser = training_parser(__doc__)
    add_paths(parser, gaf="GAF image cache (gaf stage)", teachers="the teachers' model file",
              output="teacher-output cache to write (HDF5)", summary="JSON summary to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
