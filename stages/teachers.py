"""Stage `teachers`: train the multi-sensor teacher (VGG-style branches + SPAMFM + semantic
loss) on a split's training recordings, select the epoch on its validation recordings, and
write models/<split>/teachers.pt (checkpoints in checkpoints/<split>/, curves in dvclive/)."""

from pipeline.experiment import SplitData, train_teachers
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, save_trained, training_parser


def main(args, params):
    check_split(params, args.split)
    runtime = runtime_from(params)
    saved = train_teachers(params, SplitData(args.split), runtime, f"checkpoints/{args.split}/teachers.pt",
                           progress=not args.no_progress)
    if runtime.is_main:
        save_trained(args.split, "teachers", saved)
        print(f"teachers[{args.split}]: best epoch {saved['best_epoch']}")
    stop_runtime(runtime)


if __name__ == "__main__":
    run_stage(training_parser(__doc__), main)
