"""The MMAct adapter (pipeline/datasets/mmact.py): the real clip in ../shared (skipped when
absent) and a small tree in its native layout written here, round-tripped through
build_manifest, every split protocol, the signal reader and the frame decoder."""
import numpy as np
import pytest

from pipeline.datasets import DatasetError, build_manifest, class_names, read_signal
from pipeline.datasets.splits import TEST, TRAIN, make_splits
from pipeline.frames import FrameSpec, decode_sample
from pipeline.signals import SignalError
from tests.conftest import shared_path, write_video
from tests.fake_datasets import video_frames


@pytest.mark.shared
def test_real_mmact_clip_with_timestamps():
    signal = read_signal("mmact", shared_path("mmact_sample", "carrying.csv"), "acc_phone")
    assert signal.values.shape == (890, 3)
    assert signal.timestamps[0] == 0 and signal.timestamps[1] == pytest.approx(0.01)
    steps = np.diff(signal.timestamps)
    assert np.median(steps) == pytest.approx(0.01)  # 100 Hz
    assert (steps < 0).sum() == 6 and steps.min() > -0.05  # MMAct's logging jitters: kept in file order
    assert signal.timestamps[-1] == pytest.approx(8.925)
    assert abs(signal.values[0, 1] + 9.051605) < 1e-9  # phone upright: gravity on y, m/s^2


MMACT_SENSORS = ("acc_phone_clip", "acc_watch_clip", "gyro_clip", "orientation_clip")


@pytest.fixture
def mmact_tree(tmp_path):
    rng = np.random.default_rng(2)
    for subject in (1, 17):
        for scene in (1, 2):
            for session in (1, 5):
                for action in ("carrying_heavy", "waving_hand"):
                    where = f"subject{subject:02d}/scene{scene}/session{session}"
                    for sensor in MMACT_SENSORS:
                        if (subject, scene, session, action, sensor) == (17, 2, 5, "waving_hand", "gyro_clip"):
                            continue
                        folder = tmp_path / "Sensor_trimmed" / sensor / where
                        folder.mkdir(parents=True, exist_ok=True)
                        rows = [f"20181016_13:37:{28 + k // 100:02d}.{(k % 100) * 10000:06d},{x:.5f},{y:.5f},{z:.5f}"
                                for k, (x, y, z) in enumerate(rng.normal(size=(30, 3)))]
                        (folder / f"{action}.csv").write_text("\n".join(rows) + "\n")
                    for camera in (1, 4):
                        folder = tmp_path / "RGB" / f"subject{subject:02d}" / f"cam{camera}" / f"scene{scene}" / f"session{session}"
                        folder.mkdir(parents=True, exist_ok=True)
                        (folder / f"{action}.mp4").write_bytes(b"")  # decoded in one case below
    return tmp_path


def test_mmact_tree_round_trip_all_protocols(mmact_tree):
    manifest = build_manifest("mmact", mmact_tree)
    assert len(manifest) == 15 * 2  # 16 recordings minus the one lacking gyro, x 2 cameras
    names = class_names("mmact", mmact_tree)
    assert manifest.loc[manifest["class_name"] == "waving hand", "label"].unique().tolist() == [names.index("waving hand")]
    protocols = ["cross_subject", "cross_view", "cross_scene", "cross_session"]
    splits = make_splits(manifest, "mmact", protocols, 0.0, 0)
    for protocol, column, held_out in (("cross_subject", "subject", {17}), ("cross_view", "view", {4}),
                                       ("cross_scene", "scene", {2}), ("cross_session", "session", {5})):
        assert set(manifest.loc[splits[protocol] == TEST, column]) == held_out, protocol
        assert held_out.isdisjoint(manifest.loc[splits[protocol] == TRAIN, column])
    kept = build_manifest("mmact", mmact_tree, require="any")
    missing = kept[kept["sensor_gyro"] == ""]
    assert len(missing) == 2 and (missing["sensor_acc_phone"] != "").all()
    signal = read_signal("mmact", manifest["sensor_acc_watch"][0], "acc_watch")
    assert signal.values.shape == (30, 3) and signal.timestamps[1] == pytest.approx(0.01)


def test_mmact_video_decodes(mmact_tree):
    video = mmact_tree / "RGB/subject01/cam1/scene1/session1/carrying_heavy.mp4"
    write_video(video, video_frames(6))
    frames, _, count = decode_sample(str(video), FrameSpec(3, 16))
    assert count == 6 and frames.shape == (3, 16, 16, 3)


def test_mmact_label_comes_from_the_name(mmact_tree):
    strange = mmact_tree / "Sensor_trimmed/gyro_clip/subject01/scene1/session1/moonwalking.csv"
    strange.write_text("20181016_13:37:28.000000,1,2,3\n")
    with pytest.raises(DatasetError, match="moonwalking.csv: action 'moonwalking' is not in the MMAct class list"):
        build_manifest("mmact", mmact_tree)


def test_mmact_bad_timestamp(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("20181016_13:37:28.612000,1,2,3\nyesterday,1,2,3\n")
    with pytest.raises(SignalError, match="x.csv: line 2: timestamp 'yesterday' does not match"):
        read_signal("mmact", path, "gyro")
