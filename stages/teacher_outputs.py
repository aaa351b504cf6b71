"""Stage `teacher_outputs`: run a split's frozen teachers once over every recording (fixed
batches) and cache what distillation needs (logits, fc2, the distillation taps, the ablated
pass) in data/<split>/teacher_outputs.h5, so student training never runs the teachers."""
from pipeline.experiment import SplitData, write_teacher_outputs
from pipeline.io import write_json
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, training_parser


def main(args, params):
    check_split(params, args.split)
    runtime = runtime_from(params)
    summary = write_teacher_outputs(params, SplitData(args.split), f"models/{args.split}/teachers.pt",
                                    f"data/{args.split}/teacher_outputs.h5", runtime)
    write_json(f"data/{args.split}/teacher_outputs.json", summary)
    print(f"teacher_outputs[{args.split}]: {summary['recordings']} recordings, taps {summary['taps']}")
    stop_runtime(runtime)


if __name__ == "__main__":
    run_stage(training_parser(__doc__), main)
