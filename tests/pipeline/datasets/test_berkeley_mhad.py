"""The Berkeley-MHAD adapter (pipeline/datasets/berkeley_mhad.py): the real sample in ../shared
(skipped when absent) and a small tree in its native layout written here, round-tripped
through build_manifest, splits, the signal reader and the frame decoder."""
import numpy as np
import pytest
from PIL import Image

from pipeline.datasets import DatasetError, build_manifest, read_signal
from pipeline.datasets.splits import TEST, make_splits
from pipeline.frames import FrameSpec, decode_sample
from pipeline.signals import SignalError
from tests.conftest import shared_path
from tests.fake_datasets import video_frames


@pytest.mark.shared
def test_real_berkeley_sample():
    root = shared_path("berkeley_mhad_sample")
    manifest = build_manifest("berkeley_mhad", root, require="any")
    assert len(manifest) == 11 and manifest["recording_id"].nunique() == 11
    sensors = [c for c in manifest.columns if c.startswith("sensor_")]
    assert len(sensors) == 6 and (manifest[sensors] != "").all().all()  # 66 files
    for _, row in manifest.iterrows():
        for column in sensors:
            signal = read_signal("berkeley_mhad", row[column], column[7:])
            assert len(signal.values) > 50 and np.all(np.diff(signal.timestamps) >= 0)
    with pytest.raises(DatasetError, match="no sample has every modality"):
        build_manifest("berkeley_mhad", root)  # the sample has no camera folders


@pytest.fixture
def berkeley_tree(tmp_path):
    rng = np.random.default_rng(1)
    for subject in (1, 9):
        for action in (1, 11):
            for sensor in range(1, 7):
                if (subject, action, sensor) == (9, 11, 4):
                    continue  # one accelerometer file missing
                folder = tmp_path / "Accelerometer" / f"Shimmer{sensor:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                values = rng.normal(size=(40, 3))
                stamps = 1309539264.0 + np.arange(40) / 30
                lines = [f"{x:.6f} {y:.6f} {z:.6f} {t:.6f}" for (x, y, z), t in zip(values, stamps)]
                (folder / f"acc_h{sensor:02d}_s{subject:02d}_a{action:02d}_r01.txt").write_text("\n".join(lines) + "\n")
            for cluster, camera in ((1, 1), (2, 3)):
                frames = tmp_path / "Camera" / f"Cluster{cluster:02d}" / f"Cam{camera:02d}" / f"S{subject:02d}" / f"A{action:02d}" / "R01"
                frames.mkdir(parents=True)
                for k, image in enumerate(video_frames(5)[..., 0]):
                    Image.fromarray(image).save(frames / f"img_l{cluster:02d}_c{camera:02d}_s{subject:02d}_a{action:02d}_r01_{k:05d}.pgm")
    return tmp_path


def test_berkeley_tree_round_trip(berkeley_tree):
    manifest = build_manifest("berkeley_mhad", berkeley_tree)
    assert len(manifest) == 6  # 4 recordings x 2 views, minus the recording missing a sensor
    assert sorted(manifest["view"].unique()) == [101, 203]
    kept = build_manifest("berkeley_mhad", berkeley_tree, require="any")
    lacking = kept[kept["recording_id"] == "s09_a11_r01"]
    assert len(lacking) == 2 and (lacking["sensor_shimmer04"] == "").all() and (lacking["sensor_shimmer05"] != "").all()
    splits = make_splits(manifest, "berkeley_mhad", ["cross_subject"], 0.0, 0)
    assert set(manifest.loc[splits["cross_subject"] == TEST, "subject"]) == {9}
    signal = read_signal("berkeley_mhad", manifest["sensor_shimmer02"][0], "shimmer02")
    assert signal.values.shape == (40, 3) and signal.timestamps[-1] == pytest.approx(39 / 30, abs=1e-5)
    frames, indices, count = decode_sample(manifest["video"][0], FrameSpec(5, 32))
    assert count == 5 and indices.tolist() == [0, 1, 2, 3, 4]
    assert (frames[..., 0] == frames[..., 1]).all() and frames[4, 16, 13, 0] == 140  # grey pgm -> 3 channels


def test_berkeley_bad_text_names_the_line(tmp_path):
    path = tmp_path / "acc.txt"
    path.write_text("0.1 0.2 0.3 100.0\n0.1 zz 0.3 100.1\n")
    with pytest.raises(SignalError, match=r"acc.txt: line 2: y value 'zz' is not a number"):
        read_signal("berkeley_mhad", path, "shimmer01")
