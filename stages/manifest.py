"""Stage `manifest`: read the dataset's native layout into data/manifest.csv (one row per
video sample), data/classes.txt (label order) and data/splits.csv (train/val/test per
protocol)."""
from pipeline.datasets import build_manifest, check_labels, class_names
from pipeline.datasets.splits import make_splits
from pipeline.io import atomic_output, write_text
from stages.common import run_stage, stage_parser

MANIFEST = "data/manifest.csv"
CLASSES = "data/classes.txt"
SPLITS = "data/splits.csv"


def main(args, params):
    dataset, root = params["dataset"], params["data"]["root"]
    manifest = build_manifest(dataset, root)
    classes = class_names(dataset, root)
    check_labels(manifest, classes, f"{dataset} dataset at {root}")
    splits = make_splits(
        manifest, dataset, params["splits"]["protocols"], params["splits"]["val_fraction"], params["seed"]
    )
    with atomic_output(MANIFEST) as temporary:
        manifest.to_csv(temporary, index=False)
    with atomic_output(SPLITS) as temporary:
        splits.to_csv(temporary, index=False)
    write_text(CLASSES, "".join(f"{name}\n" for name in classes))
    print(f"{len(manifest)} video samples, {manifest['recording_id'].nunique()} recordings, {len(classes)} classes")
    for protocol in params["splits"]["protocols"]:
        print(f"  {protocol}: " + ", ".join(f"{k} {v}" for k, v in splits[protocol].value_counts().sort_index().items()))


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
