"""Stage `fold_teachers`: for cross-fitted teacher outputs (`teacher_outputs.folds` = K >= 2),
train K teachers on a split, teacher j without fold j of the training recordings (folds
stratified by class, seeded), each resumable from its checkpoint; K = 0 writes a file that
says there are none."""

from pathlib import Path

from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.model_files import save_model_file
from pipeline.workflow.teacher_training import train_fold_teachers
from stages.common import add_paths, check_split, run_stage, training_parser, training_runtime


def main(args, params):
    check_split(params, args.split)
    inputs = Inputs(args.manifest, args.splits, args.class_embeddings, gaf=args.gaf)
    Path(args.checkpoints).mkdir(parents=True, exist_ok=True)
    with training_runtime(params) as runtime:
        saved = train_fold_teachers(params, SplitData(args.split, inputs), runtime, args.checkpoints,
                                    progress=not args.no_progress)
        if runtime.is_main:
            save_model_file(args.model, saved)
            print(f"fold_teachers[{args.split}]: {saved['folds']} fold teachers"
                  + "".join(f", fold {j + 1} best epoch {t['best_epoch']}" for j, t in enumerate(saved["teachers"])))


def parser():
    parser = training_parser(__doc__)
    add_paths(parser, gaf="GAF image cache (gaf stage)", model="fold teachers' file to write",
              checkpoints="folder of the resumable checkpoints, one per fold (kept across runs)")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
