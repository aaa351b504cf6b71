"""Stage `gaf`: turn every (recording, sensor) signal of the manifest into a 3 x S x S
Gramian Angular Field image, cached in one HDF5 file, with a JSON summary."""
from pipeline.datasets import read_manifest
from pipeline.gaf_cache import build_gaf_cache
from pipeline.io import write_json
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
    settings = params["gaf"]
    summary = build_gaf_cache(
        read_manifest(args.manifest),
        params["dataset"],
        args.output,
        settings["image_size"],
        settings["method"],
        settings["batch_size"],
        progress=not args.no_progress,
    )
    write_json(args.report, summary)
    for sensor, counts in summary.items():
        print(f"{sensor}: {counts['recordings']} recordings")


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, manifest="the manifest (manifest stage)", output="GAF cache to write (HDF5)",
              report="JSON summary to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
