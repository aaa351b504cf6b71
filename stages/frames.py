"""Stage `frames`: decode every video of the manifest (video files, frame folders or depth
clips) into frames.per_video uniformly spaced frames of frames.size pixels, cached in one
HDF5 file, with a JSON report (skipped videos) and a contact sheet of a few samples (a DVC
plot). A manifest without any video (sensor files only, data.require: any) gets an empty
cache, so the students are skipped and the teachers still trained and evaluated."""
from pipeline.datasets import read_manifest
from pipeline.frames import FrameSpec, build_frame_cache, contact_sheet, no_video_preview, write_empty_frame_cache
from pipeline.io import write_json
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
    settings, depth = params["frames"], params["frames"]["depth"]
    manifest = read_manifest(args.manifest)
    # require: any keeps samples without video (an empty field, read as NaN)
    with_video = manifest[manifest["video"].notna() & (manifest["video"].astype(str) != "")]
    spec = FrameSpec(
        settings["per_video"], settings["size"], settings["crop"], dataset=params["dataset"],
        depth_near=depth["near"], depth_far=depth["far"], depth_subject_crop=depth["subject_crop"],
        depth_margin=depth["margin"],
    )
    if with_video.empty:  # data.require: all never gets here: the manifest stage refuses it
        write_without_video(args, spec, len(manifest))
        return
    report = build_frame_cache(
        with_video["sample_id"].tolist(), with_video["video"].tolist(), args.output, spec,
        workers=settings["workers"], on_error=settings["on_error"], progress=not args.no_progress,
    )
    report["without_video"] = int(len(manifest) - len(with_video))
    report["preview_samples"] = contact_sheet(args.output, args.preview, seed=params["seed"])
    write_json(args.report, report)
    print(f"cached {report['cached']} of {report['videos']} videos; skipped {len(report['skipped'])}")


def write_without_video(args, spec, samples):
    """Sensors only: an empty cache, a report and a preview that say so; the students skip."""
    write_empty_frame_cache(args.output, spec)
    no_video_preview(args.preview, "no video: the manifest has sensor files only")
    write_json(args.report, {"videos": 0, "cached": 0, "skipped": [], "skipped_sample_ids": [], "short": [],
                             "blank": [], "without_video": samples, "preview_samples": [], "no_video": True})
    print(f"no video in {args.manifest} ({samples} samples, sensor files only): {args.output} holds no frame; "
          "the students will be skipped")


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, manifest="the manifest (manifest stage)", output="frame cache to write (HDF5)",
              report="JSON report to write", preview="contact sheet PNG to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
