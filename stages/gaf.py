"""Stage `gaf`: turn every (recording, sensor) signal into a 3 x S x S Gramian Angular Field
image, cached in data/gaf.h5 (summary: data/gaf_report.json)."""
from pipeline.datasets import read_manifest
from pipeline.gaf_cache import build_gaf_cache
from pipeline.io import write_json
from stages.common import run_stage, stage_parser

CACHE = "data/gaf.h5"
REPORT = "data/gaf_report.json"


def main(args, params):
    settings = params["gaf"]
    summary = build_gaf_cache(
        read_manifest("data/manifest.csv"),
        params["dataset"],
        CACHE,
        settings["image_size"],
        settings["method"],
        settings["batch_size"],
        progress=not args.no_progress,
    )
    write_json(REPORT, summary)
    for sensor, counts in summary.items():
        print(f"{sensor}: {counts['recordings']} recordings")


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
