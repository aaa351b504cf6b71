"""The synthetic dataset's adapter: missing videos are an error with `require: all`, and with
`require: any` samples kept on their sensor files alone."""
import pytest

from tests.fake_datasets import synthetic_manifest


def synthetic_root(folder, videos: bool):
    from pipeline.synthetic.actions import CLASS_NAMES

    manifest = synthetic_manifest(num_subjects=2, trials=1, num_scenes=1, num_sessions=1, num_views=2)
    (folder / "videos").mkdir(parents=True)
    manifest.to_csv(folder / "metadata.csv", index=False)
    (folder / "classes.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES))
    if videos:
        for video in manifest["video"][1:]:  # the first one is missing
            (folder / video).touch()
    return folder


def test_missing_videos_are_an_error_unless_samples_without_video_are_wanted(tmp_path, caplog):
    from pipeline.datasets import build_manifest
    from pipeline.errors import DatasetError

    root = synthetic_root(tmp_path / "partial", videos=True)
    with pytest.raises(DatasetError, match=r"partial: 1 videos listed in metadata\.csv are missing, e\.g\. .*avi "
                                           r"\(data\.require: any keeps their samples, sensors only\)"):
        build_manifest("synthetic", root)
    kept = build_manifest("synthetic", root, require="any")
    assert kept["video"].eq("").sum() == 1 and kept["video"].iloc[0] == ""
    assert "1 videos listed in metadata.csv are missing" in caplog.text

    sensors_only = build_manifest("synthetic", synthetic_root(tmp_path / "none", videos=False), require="any")
    assert sensors_only["video"].eq("").all() and sensors_only["sensor_wrist_acc"].ne("").all()
