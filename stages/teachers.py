"""Stage `teachers`: train the multi-sensor teacher (VGG-style branches + SPAMFM + semantic
loss) on a split's training recordings, select the epoch on its validation recordings, and
write models/<split>/teachers.pt (checkpoints in checkpoints/<split>/, curves in dvclive/)."""
import torch

from pipeline.experiment import SplitData, train_teachers
from pipeline.io import atomic_output
from pipeline.training import stop_runtime
from stages.common import check_split, run_stage, runtime_from, training_parser, write_curves


def main(args, params):
    check_split(params, args.split)
    runtime = runtime_from(params)
    saved = train_teachers(params, SplitData(args.split), runtime, f"checkpoints/{args.split}/teachers.pt",
                           progress=not args.no_progress)
    if runtime.is_main:
        with atomic_output(f"models/{args.split}/teachers.pt") as temporary:
            torch.save(saved, temporary)
        write_curves(f"dvclive/{args.split}/teachers", saved["history"])
        print(f"teachers[{args.split}]: best epoch {saved['best_epoch']}")
    stop_runtime(runtime)


if __name__ == "__main__":
    run_stage(training_parser(__doc__), main)
