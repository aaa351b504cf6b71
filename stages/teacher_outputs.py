"""Stage `teacher_outputs`: run a split's frozen teachers once over every recording (fixed
batches) and cache what distillation needs (logits, fc2, the distillation taps, the ablated
pass), so student training never runs the teachers. With fold teachers, training recordings
are scored by the teacher that never saw them; the summary holds the fitted temperature and
the teachers' diagnostics in-fold and cross-fitted."""
from pipeline.io import write_json
from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.teacher_outputs import write_teacher_outputs
from stages.common import add_paths, check_split, run_stage, training_parser, training_runtime


def main(args, params):
    check_split(params, args.split)
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, gaf=args.gaf)
    with training_runtime(params) as runtime:
        summary = write_teacher_outputs(params, SplitData(args.split, inputs), args.teachers, args.output, runtime,
                                        args.fold_teachers)
    write_json(args.summary, summary)
    print(f"teacher_outputs[{args.split}]: {summary['recordings']} recordings, taps {summary['taps']}, "
          f"{'cross-fitted over ' + str(summary['folds']) + ' folds' if summary['folds'] else 'not cross-fitted'}, "
          f"fitted temperature {summary['temperature']['fitted']}")


def parser():
    parser = training_parser(__doc__)
    add_paths(parser, gaf="GAF image cache (gaf stage)", teachers="the teachers' model file",
              fold_teachers="the fold teachers' file (fold_teachers stage)",
              output="teacher-output cache to write (HDF5)", summary="JSON summary to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
