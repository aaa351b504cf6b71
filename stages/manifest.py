"""Stage `manifest`: read the dataset's native layout into data/manifest.csv (one row per
video sample), data/classes.txt (label order), data/splits.csv (train/val/test per protocol)
and data/manifest_report.json (what was dropped for lacking a modality)."""
from pipeline.datasets import build_manifest, check_labels, class_names, missing_modalities, select_complete
from pipeline.datasets.splits import make_splits
from pipeline.io import atomic_output, write_json, write_text
from stages.common import run_stage, stage_parser

MANIFEST = "data/manifest.csv"
CLASSES = "data/classes.txt"
SPLITS = "data/splits.csv"
REPORT = "data/manifest_report.json"


def main(args, params):
    dataset, data = params["dataset"], params["data"]
    source = f"{dataset} dataset at {data['root']}"
    everything = build_manifest(dataset, data["root"], vision=data["vision"], require="any")
    manifest = select_complete(everything, data["require"], source).reset_index(drop=True)
    classes = class_names(dataset, data["root"])
    check_labels(manifest, classes, source)
    splits = make_splits(
        manifest, dataset, params["splits"]["protocols"], params["splits"]["val_fraction"], params["seed"]
    )
    with atomic_output(MANIFEST) as temporary:
        manifest.to_csv(temporary, index=False)
    with atomic_output(SPLITS) as temporary:
        splits.to_csv(temporary, index=False)
    write_text(CLASSES, "".join(f"{name}\n" for name in classes))
    incomplete = missing_modalities(everything)
    write_json(REPORT, {
        "samples": len(manifest), "recordings": int(manifest["recording_id"].nunique()),
        "classes": len(classes), "require": data["require"],
        "incomplete": len(incomplete), "dropped": len(everything) - len(manifest), "incomplete_samples": incomplete,
    })
    print(f"{len(manifest)} video samples, {manifest['recording_id'].nunique()} recordings, {len(classes)} classes"
          + (f"; {len(everything) - len(manifest)} dropped for lacking a modality" if len(everything) > len(manifest) else ""))
    for protocol in params["splits"]["protocols"]:
        counts = splits[protocol].value_counts()
        print(f"  {protocol}: " + ", ".join(f"{part} {counts.get(part, 0)}" for part in ("train", "val", "test")))


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
