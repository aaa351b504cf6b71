"""Stage `frames`: decode every video of the manifest (video files, frame folders or depth
clips) into frames.per_video uniformly spaced frames of frames.size pixels, cached in
data/frames.h5 (report: data/frames_report.json; a contact sheet of a few samples:
data/frames_preview.png, a DVC plot)."""
from pipeline.datasets import read_manifest
from pipeline.frames import FrameSpec, build_frame_cache, contact_sheet
from pipeline.io import write_json
from stages.common import run_stage, stage_parser

CACHE = "data/frames.h5"
REPORT = "data/frames_report.json"
PREVIEW = "data/frames_preview.png"


def main(args, params):
    settings, depth = params["frames"], params["frames"]["depth"]
    manifest = read_manifest("data/manifest.csv")
    with_video = manifest[manifest["video"].fillna("").astype(str) != ""]  # require: any keeps some without
    spec = FrameSpec(
        settings["per_video"], settings["size"], settings["crop"], dataset=params["dataset"],
        depth_near=depth["near"], depth_far=depth["far"], depth_subject_crop=depth["subject_crop"],
        depth_margin=depth["margin"],
    )
    report = build_frame_cache(
        with_video["sample_id"].tolist(), with_video["video"].tolist(), CACHE, spec,
        workers=settings["workers"], on_error=settings["on_error"], progress=not args.no_progress,
    )
    report["without_video"] = int(len(manifest) - len(with_video))
    report["preview_samples"] = contact_sheet(CACHE, PREVIEW, seed=params["seed"])
    write_json(REPORT, report)
    print(f"cached {report['cached']} of {report['videos']} videos; skipped {len(report['skipped'])}")


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
