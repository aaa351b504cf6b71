"""Stage `synthesize`: generate the built-in synthetic paired dataset into --output
(data/synthetic in dvc.yaml, the default data.root). It writes only there, whatever
data.root says, so pointing data.root at a real dataset can never overwrite it."""
from pipeline.synthetic import generate_dataset
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
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
