"""Stage `manifest`: read the dataset's native layout (data.root) into the manifest (one row
per video sample), the class list (label order), the splits table (train/val/test per
protocol) and a report: what was dropped for lacking a modality, and per protocol the
validation carved along the split's axis (docs/method.md §0b) and how many training recordings
keep their label (splits.labeled_fraction)."""
from pipeline.datasets import build_manifest, check_labels, class_names, select_complete
from pipeline.datasets.manifest import manifest_report
from pipeline.datasets.splits import describe_splits, make_splits_with_report
from pipeline.io import atomic_output, write_json, write_text
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
    dataset, data = params["dataset"], params["data"]
    source = f"{dataset} dataset at {data['root']}"
    everything = build_manifest(dataset, data["root"], vision=data["vision"], require="any")
    manifest = select_complete(everything, data["require"], source).reset_index(drop=True)
    classes = class_names(dataset, data["root"])
    check_labels(manifest, classes, source)
    splits, validation = make_splits_with_report(
        manifest, dataset, params["splits"]["protocols"], params["splits"]["val_fraction"], params["seed"],
        params["splits"]["labeled_fraction"],
    )
    with atomic_output(args.manifest) as temporary:
        manifest.to_csv(temporary, index=False)
    with atomic_output(args.splits) as temporary:
        splits.to_csv(temporary, index=False)
    write_text(args.classes, "".join(f"{name}\n" for name in classes))
    write_json(args.report, manifest_report(everything, manifest, classes, data["require"], validation))
    dropped = len(everything) - len(manifest)
    print(f"{len(manifest)} video samples, {manifest['recording_id'].nunique()} recordings, {len(classes)} classes"
          + (f"; {dropped} dropped for lacking a modality" if dropped else ""))
    print("\n".join(describe_splits(splits, validation, params["splits"]["labeled_fraction"])))


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, manifest="manifest CSV to write", classes="class list to write",
              splits="splits CSV to write", report="JSON report to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
