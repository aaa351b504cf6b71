"""Stage `frames`: decode every video of the manifest (video files, frame folders or depth
clips) into frames.per_video uniformly spaced frames of frames.size pixels, cached in one
HDF5 file, with a JSON report (skipped videos) and a contact sheet of a few samples (a DVC
plot)."""
from pipeline.datasets import read_manifest
from pipeline.frames import FrameError, FrameSpec, build_frame_cache, contact_sheet
from pipeline.io import write_json
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
    settings, depth = params["frames"], params["frames"]["depth"]
    manifest = read_manifest(args.manifest)
    # require: any keeps samples without video (an empty field, read as NaN)
    with_video = manifest[manifest["video"].notna() & (manifest["video"].astype(str) != "")]
    if with_video.empty:
        raise FrameError(f"{args.manifest}: no sample has a video (data.vision: {params['data']['vision']}, "
                         f"data.require: {params['data']['require']}): the students need one; the teachers alone "
                         "can be evaluated with `python -m stages.evaluate` without --baseline and --student")
    spec = FrameSpec(
        settings["per_video"], settings["size"], settings["crop"], dataset=params["dataset"],
        depth_near=depth["near"], depth_far=depth["far"], depth_subject_crop=depth["subject_crop"],
        depth_margin=depth["margin"],
    )
    report = build_frame_cache(
        with_video["sample_id"].tolist(), with_video["video"].tolist(), args.output, spec,
        workers=settings["workers"], on_error=settings["on_error"], progress=not args.no_progress,
    )
    report["without_video"] = int(len(manifest) - len(with_video))
    report["preview_samples"] = contact_sheet(args.output, args.preview, seed=params["seed"])
    write_json(args.report, report)
    print(f"cached {report['cached']} of {report['videos']} videos; skipped {len(report['skipped'])}")


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, manifest="the manifest (manifest stage)", output="frame cache to write (HDF5)",
              report="JSON report to write", preview="contact sheet PNG to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
