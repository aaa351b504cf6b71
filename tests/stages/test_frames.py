"""stages/frames.py run by hand: a manifest without any video (`data.require: any` on sensor
files alone) is one line naming the manifest and the keys, not a traceback."""
import argparse

import pytest

from tests.pipeline.datasets.test_splits import synthetic_manifest


def test_a_manifest_without_any_video_is_one_line_naming_it(tmp_path):
    from pipeline.frames import FrameError
    from pipeline.params import validate_params
    from stages.frames import main

    manifest = synthetic_manifest().assign(video="")
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    params = validate_params({"data": {"require": "any"}})
    args = argparse.Namespace(manifest=str(tmp_path / "manifest.csv"), output=tmp_path / "frames.h5",
                              report=tmp_path / "report.json", preview=tmp_path / "preview.png", no_progress=True)
    with pytest.raises(FrameError, match=r"manifest\.csv: no sample has a video \(data\.vision: rgb, "
                                         r"data\.require: any\)"):
        main(args, params)
    assert list(tmp_path.iterdir()) == [tmp_path / "manifest.csv"]  # nothing written
