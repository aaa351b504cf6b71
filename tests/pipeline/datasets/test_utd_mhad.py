"""The UTD-MHAD adapter (pipeline/datasets/utd_mhad.py): the real files in ../shared (skipped
when absent) and a small tree in its native layout written here, round-tripped through
build_manifest, splits, signal readers and the frame decoder; its inertial .mat reader and
its depth clips."""
import numpy as np
import pytest
from scipy.io import savemat

from pipeline.datasets import DatasetError, build_manifest, class_names, read_signal
from pipeline.datasets.splits import TEST, TRAIN, make_splits
from pipeline.datasets.utd_mhad import read_signal as read_utd_signal
from pipeline.frames import FrameSpec, decode_sample
from pipeline.signals import SignalError
from tests.conftest import shared_path
from tests.fake_datasets import write_utd_mhad


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


# ---------------------------------------------------------------- native trees written here
@pytest.fixture
def utd_tree(tmp_path):
    return write_utd_mhad(tmp_path, actions=(1, 27), subjects=(1, 2), trials=(1, 3), depth_frames=10, rgb=True,
                          missing_depth=("a27_s2_t3",))


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


# ------------------------------------------------------------------ depth clips
def save_depth(path, depth_hwf):
    from scipy.io import savemat

    savemat(str(path), {"d_depth": depth_hwf})
    return path


def depth_clip(dtype=np.uint16):
    depth = np.zeros((24, 32, 5), dtype=dtype)  # H x W x F as UTD-MHAD stores it
    depth[8:20, 10:22] = 2000 + np.arange(5)  # a subject 2 m away
    return depth


def test_depth_clips_of_integer_millimetres_read_silently(tmp_path, caplog):
    from pipeline.datasets.utd_mhad import read_depth

    for dtype in (np.uint16, np.float64, np.int32):  # integer-valued floats are fine
        depth = read_depth(save_depth(tmp_path / f"a1_s1_t1_{np.dtype(dtype).name}_depth.mat", depth_clip(dtype)))
        assert depth.dtype == np.uint16 and depth.shape == (5, 24, 32)
        assert depth[3, 10, 12] == 2003 and depth[3, 0, 0] == 0
    assert caplog.records == []


@pytest.mark.parametrize("problem, expected", [
    ("zero", "all zero"),
    ("fraction", "not integer millimetres"),
    ("negative", "negative values"),
])
def test_suspicious_depth_clips_are_reported_naming_the_file(tmp_path, caplog, problem, expected):
    from pipeline.datasets.utd_mhad import read_depth

    depth = depth_clip(np.float64)
    if problem == "zero":
        depth[:] = 0
    elif problem == "fraction":
        depth[8:20, 10:22] += 0.6  # 2000.6 -> 2001 (rounded, the old cast truncated to 2000)
    else:
        depth[0, 0] = -5
    path = save_depth(tmp_path / "a1_s1_t1_depth.mat", depth)
    with caplog.at_level("WARNING"):
        clip = read_depth(path)
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert str(path) in caplog.text and expected in caplog.text
    assert clip.dtype == np.uint16
    if problem == "fraction":
        assert clip[0, 10, 12] == 2001 and clip[4, 10, 12] == 2005
    if problem == "negative":
        assert clip[:, 0, 0].tolist() == [0] * 5 and clip[0, 10, 12] == 2000  # no reading, not 65531


@pytest.mark.shared
def test_real_depth_clips_read_without_warnings(caplog):
    from pipeline.datasets.utd_mhad import read_depth

    clips = sorted(shared_path("utd_mhad", "Depth").glob("*_depth.mat"))[::43][:20]  # spread over the 861
    with caplog.at_level("WARNING"):
        for path in clips:
            depth = read_depth(path)
            assert depth.dtype == np.uint16 and depth.shape[1:] == (240, 320) and depth.any()
    assert len(clips) == 20 and caplog.records == []


# ------------------------------------------------------------------ inertial .mat files
@pytest.mark.shared
def test_utd_mhad_inertial_reader():
    path = shared_path("utd_mhad", "Inertial", "a1_s1_t1_inertial.mat")
    acc, gyro = read_utd_signal(path, "acc"), read_utd_signal(path, "gyro")
    assert acc.values.shape == gyro.values.shape and 107 <= len(acc.values) <= 326
    # a wrist accelerometer at rest reads about 1 g; the gyroscope is in deg/s
    assert 0.7 < np.linalg.norm(acc.values[:5], axis=1).mean() < 1.3
    assert np.abs(gyro.values).max() > 10
    with pytest.raises(SignalError, match="not 'mag'"):
        read_utd_signal(path, "mag")


def test_utd_reader_rejects_other_files(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "x.mat", {"d_depth": np.zeros((2, 2))})
    with pytest.raises(SignalError, match="x.mat: no variable 'd_iner'"):
        read_utd_signal(tmp_path / "x.mat", "acc")
    (tmp_path / "junk.mat").write_text("not matlab")
    with pytest.raises(SignalError, match="junk.mat: not a readable MATLAB file"):
        read_utd_signal(tmp_path / "junk.mat", "acc")


@pytest.mark.parametrize(
    "row, column, value, where",
    [(2, 3, np.inf, r"d_iner row 3, column 4 \(gyro x\): value inf"),
     (0, 2, np.nan, r"d_iner row 1, column 3 \(acc z\): value nan"),
     (9, 5, -np.inf, r"d_iner row 10, column 6 \(gyro z\): value -inf")],
)
def test_utd_mat_non_finite_names_row_and_column(tmp_path, row, column, value, where):
    inertial = np.arange(60.0).reshape(10, 6)
    inertial[row, column] = value
    path = tmp_path / "a1_s1_t1_inertial.mat"
    savemat(path, {"d_iner": inertial})
    for sensor in ("acc", "gyro"):  # a damaged file is rejected whichever half is asked for
        with pytest.raises(SignalError, match=rf"a1_s1_t1_inertial.mat: {where} is not finite"):
            read_signal("utd_mhad", path, sensor)
