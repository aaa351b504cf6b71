"""Dataset adapters: the real files in ../shared (skipped when absent) and small trees in
each native layout written here, round-tripped through build_manifest, splits, signal
readers and the frame decoder."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from pipeline.datasets import DatasetError, build_manifest, class_names, read_signal
from pipeline.datasets.splits import TEST, TRAIN, make_splits
from pipeline.frames import FrameSpec, decode_sample
from pipeline.signals import SignalError
from tests.conftest import shared_path, write_video


# ---------------------------------------------------------------- real data in ../shared
@pytest.mark.shared
def test_real_utd_mhad_manifest_and_splits():
    root = shared_path("utd_mhad")
    manifest = build_manifest("utd_mhad", root, vision="depth")
    assert len(manifest) == 861 and manifest["recording_id"].is_unique
    assert manifest["label"].nunique() == 27 and manifest["subject"].nunique() == 8
    assert not {"a8_s1_t4", "a23_s6_t4", "a27_s8_t4"} & set(manifest["recording_id"])
    splits = make_splits(manifest, "utd_mhad", ["subject_specific", "cross_subject"], 0.0, seed=0)
    assert splits["subject_specific"].value_counts().to_dict() == {TRAIN: 432, TEST: 429}
    assert set(manifest.loc[splits["cross_subject"] == TRAIN, "subject"]) == {1, 3, 5, 7}
    assert set(manifest.loc[splits["cross_subject"] == TEST, "subject"]) == {2, 4, 6, 8}
    assert class_names("utd_mhad", root)[26] == "squat two arms stretch out"  # cleaned, no trailing blank


@pytest.mark.shared
def test_real_utd_mhad_depth_frames():
    path = shared_path("utd_mhad", "Depth", "a3_s2_t1_depth.mat")
    frames, indices, count = decode_sample(str(path), FrameSpec(8, 64, dataset="utd_mhad"))
    assert frames.shape == (8, 64, 64, 3) and count > 40
    assert (frames[..., 0] == frames[..., 2]).all()  # grey replicated to 3 channels
    assert 0.05 < (frames[..., 0] > 0).mean() < 0.6  # the cropped silhouette fills a good part


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


# ---------------------------------------------------------------- native trees written here
def tiny_frames(count=6, size=32, level=60):
    frames = np.zeros((count, size, size, 3), dtype=np.uint8)
    for k in range(count):
        frames[k, 8:24, 4 + 2 * k : 12 + 2 * k] = level + 20 * k
    return frames


@pytest.fixture
def utd_tree(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("Inertial", "Depth", "RGB"):
        (tmp_path / folder).mkdir()
    for action in (1, 27):
        for subject in (1, 2):
            for trial in (1, 3):
                name = f"a{action}_s{subject}_t{trial}"
                savemat(tmp_path / "Inertial" / f"{name}_inertial.mat", {"d_iner": rng.normal(size=(120, 6))})
                depth = np.zeros((240, 320, 10), dtype=np.uint16)
                depth[80:200, 140:180] = 2500
                if name != "a27_s2_t3":  # one depth clip missing
                    savemat(tmp_path / "Depth" / f"{name}_depth.mat", {"d_depth": depth})
                write_video(tmp_path / "RGB" / f"{name}_color.avi", tiny_frames())
    return tmp_path


def test_utd_tree_round_trip(utd_tree):
    depth = build_manifest("utd_mhad", utd_tree, vision="depth")
    assert len(depth) == 7 and "a27_s2_t3" not in set(depth["recording_id"])
    assert depth.loc[depth["recording_id"] == "a27_s1_t1", "class_name"].item() == "squat two arms stretch out"
    kept = build_manifest("utd_mhad", utd_tree, vision="depth", require="any")
    assert len(kept) == 8 and kept.loc[kept["recording_id"] == "a27_s2_t3", "video"].item() == ""
    rgb = build_manifest("utd_mhad", utd_tree, vision="rgb")
    assert len(rgb) == 8 and rgb["video"].str.endswith("_color.avi").all()
    splits = make_splits(rgb, "utd_mhad", ["subject_specific", "cross_subject"], 0.0, 0)
    assert set(rgb.loc[splits["subject_specific"] == TEST, "trial"]) == {3}
    row = depth.iloc[0]
    acc, gyro = read_signal("utd_mhad", row["sensor_acc"], "acc"), read_signal("utd_mhad", row["sensor_gyro"], "gyro")
    assert acc.values.shape == gyro.values.shape == (120, 3) and not np.allclose(acc.values, gyro.values)
    frames, _, count = decode_sample(row["video"], FrameSpec(4, 16, dataset="utd_mhad"))
    assert count == 10 and frames.shape == (4, 16, 16, 3)
    assert frames.max() == 1 + round(254 * (4000 - 2500) / 3000)  # default FrameSpec range 1000..4000 mm
    assert frames[:, 0, 0].max() == 0  # background stays black after the subject crop
    frames, _, count = decode_sample(rgb.iloc[0]["video"], FrameSpec(6, 32, dataset="utd_mhad"))
    assert count == 6 and abs(int(frames[5, 10:22, 15:21, 0].mean()) - 160) <= 12  # decoded by decord
    assert frames[5, 10:22, 15:21, 0].mean() > frames[0, 10:22, 15:21, 0].mean() + 40  # box moved in


def test_utd_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        build_manifest("utd_mhad", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="expected Inertial/aA_sS_tT_inertial.mat"):
        build_manifest("utd_mhad", tmp_path)
    with pytest.raises(DatasetError, match="vision must be one of"):
        build_manifest("utd_mhad", tmp_path, vision="thermal")


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
                for k, image in enumerate(tiny_frames(5)[..., 0]):
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
    write_video(video, tiny_frames(6))
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


def test_unknown_dataset_and_empty_root(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'kinetics'"):
        build_manifest("kinetics", tmp_path)
    with pytest.raises(DatasetError, match="no MMAct files found"):
        build_manifest("mmact", tmp_path)
    with pytest.raises(DatasetError, match="no Berkeley-MHAD files found"):
        build_manifest("berkeley_mhad", tmp_path)
