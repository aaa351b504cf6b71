"""Stage `frames`: decode every video of the manifest into frames.per_video uniformly spaced
frames of frames.size pixels, cached in data/frames.h5 (report: data/frames_report.json)."""
from pipeline.datasets import read_manifest
from pipeline.frames import FrameSpec, build_frame_cache
from pipeline.io import write_json
from stages.common import run_stage, stage_parser

CACHE = "data/frames.h5"
REPORT = "data/frames_report.json"


def main(args, params):
    settings = params["frames"]
    manifest = read_manifest("data/manifest.csv")
    report = build_frame_cache(
        manifest["sample_id"].tolist(),
        manifest["video"].tolist(),
        CACHE,
        FrameSpec(settings["per_video"], settings["size"], settings["crop"]),
        workers=settings["workers"],
        on_error=settings["on_error"],
        progress=not args.no_progress,
    )
    write_json(REPORT, report)
    print(f"cached {report['cached']} of {report['videos']} videos; skipped {len(report['skipped'])}")


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
