"""stages/manifest.py run by hand: the manifest stage reports each split's validation subset."""
import argparse
import json

from tests.fake_datasets import SYNTHETIC_TESTS, synthetic_manifest


def test_manifest_stage_reports_validation(tmp_path, capsys):
    from pipeline.params import validate_params
    from pipeline.synthetic.actions import CLASS_NAMES
    from stages.manifest import main

    root = tmp_path / "synthetic"
    (root / "videos").mkdir(parents=True)
    manifest = synthetic_manifest()
    manifest.to_csv(root / "metadata.csv", index=False)
    (root / "classes.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES))
    for video in manifest["video"]:
        (root / video).touch()  # the adapter checks that videos exist; nothing reads them here
    params = validate_params({"dataset": "synthetic", "data": {"root": str(root)},
                              "splits": {"protocols": list(SYNTHETIC_TESTS)}})
    args = argparse.Namespace(manifest=tmp_path / "manifest.csv", classes=tmp_path / "classes.txt",
                              splits=tmp_path / "splits.csv", report=tmp_path / "report.json")
    main(args, params)
    report = json.loads((tmp_path / "report.json").read_text())["validation"]
    assert list(report) == list(SYNTHETIC_TESTS)
    assert report["cross_subject"]["axis"] == "subject" and len(report["cross_subject"]["values"]) == 1
    assert report["cross_session"]["fallback"] is True
    lines = [line for line in capsys.readouterr().out.splitlines() if "validation:" in line]
    assert len(lines) == 4 and "fallback" in lines[3] and lines[0].startswith("  cross_subject: train ")
