"""Stage `synthesize`: generate the built-in synthetic paired dataset into --output
(data/synthetic in dvc.yaml, the default data.root). It writes only there, whatever
data.root says, so pointing data.root at a real dataset can never overwrite it. With
another dataset it generates nothing: the folder holds only a note saying why."""
import logging
import shutil
from pathlib import Path

from pipeline.synthetic import generate_dataset
from stages.common import add_paths, run_stage, stage_parser

log = logging.getLogger(__name__)


def main(args, params):
    if params["dataset"] != "synthetic":
        output = Path(args.output)
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        (output / "NOT_GENERATED.txt").write_text(f"dataset is {params['dataset']!r}: nothing to synthesise\n")
        log.info("dataset is %r: the synthetic dataset is not generated", params["dataset"])
        return
    settings = params["synthetic"]
    generate_dataset(
        args.output,
        seed=params["seed"],
        num_subjects=settings["num_subjects"],
        trials=settings["trials"],
        num_scenes=settings["num_scenes"],
        num_sessions=settings["num_sessions"],
        views=settings["views"],
        classes=settings["classes"],
        sample_rate=settings["sample_rate"],
        fps=settings["fps"],
        video_size=settings["video_size"],
        workers=settings["workers"],
        progress=not args.no_progress,
    )


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, output="folder to write the dataset into (replaced)")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
