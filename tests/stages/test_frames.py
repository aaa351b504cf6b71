"""stages/frames.py run by hand: a manifest without any video (`data.require: any` on sensor
files alone) gets an empty frame cache, a report and a preview that say so, and one line."""
import argparse
import json

import h5py

from tests.fake_datasets import synthetic_manifest


def test_a_manifest_without_any_video_gets_an_empty_frame_cache(tmp_path, capsys):
    from pipeline.frames import frame_cache_has_video
    from pipeline.params import validate_params
    from stages.frames import main

    manifest = synthetic_manifest().assign(video="")
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    params = validate_params({"data": {"require": "any"}, "frames": {"per_video": 4, "size": 16}})
    args = argparse.Namespace(manifest=str(tmp_path / "manifest.csv"), output=tmp_path / "frames.h5",
                              report=tmp_path / "report.json", preview=tmp_path / "preview.png", no_progress=True)
    main(args, params)
    out = capsys.readouterr().out
    assert out == (f"no video in {tmp_path / 'manifest.csv'} ({len(manifest)} samples, sensor files only): "
                   f"{tmp_path / 'frames.h5'} holds no frame; the students will be skipped\n")
    assert not frame_cache_has_video(tmp_path / "frames.h5")
    with h5py.File(tmp_path / "frames.h5", "r") as cache:
        assert cache["frames"].shape == (0, 4, 16, 16, 3) and len(cache["sample_id"]) == 0
        assert cache.attrs["no_video"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["no_video"] is True and report["videos"] == 0 and report["without_video"] == len(manifest)
    assert (tmp_path / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "frames.h5", "manifest.csv", "preview.png", "report.json"]  # no temporary left

