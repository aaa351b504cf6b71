import numpy as np
import pytest

from pipeline.datasets.utd_mhad import read_signal as read_utd_signal
from pipeline.signals import SignalError, read_xyz_csv
from tests.conftest import shared_path


def write(tmp_path, text, name="wrist_acc.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header(tmp_path):
    signal = read_xyz_csv(write(tmp_path, "t,x,y,z\n0.0,1,2,3\n0.02,4,5,6\n"))
    np.testing.assert_array_equal(signal.values, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(signal.timestamps, [0.0, 0.02])


def test_csv_without_header(tmp_path):
    assert read_xyz_csv(write(tmp_path, "0,1,2,3\n1,4,5,6\n")).values.shape == (2, 3)


def test_empty_fields_are_gaps(tmp_path):
    signal = read_xyz_csv(write(tmp_path, "t,x,y,z\n0,1,2,3\n1,,5,6\n2,7,8,9\n"))
    assert np.isnan(signal.values[1, 0]) and signal.values[2, 0] == 7


def test_non_numeric_row_names_file_and_line(tmp_path):
    path = write(tmp_path, "t,x,y,z\n0,1,2,3\n1,4,oops,6\n")
    with pytest.raises(SignalError, match=r"wrist_acc.csv: line 3: y value 'oops' is not a number"):
        read_xyz_csv(path)


@pytest.mark.parametrize("text", ["", "\n\n", "t,x,y,z\n"])
def test_empty_signal(tmp_path, text):
    with pytest.raises(SignalError, match="wrist_acc.csv: empty signal"):
        read_xyz_csv(write(tmp_path, text))


def test_all_missing_axis(tmp_path):
    with pytest.raises(SignalError, match="axis z has no numeric value"):
        read_xyz_csv(write(tmp_path, "t,x,y,z\n0,1,2,\n1,4,5,\n"))


def test_wrong_columns_and_header(tmp_path):
    with pytest.raises(SignalError, match="expected 4 columns"):
        read_xyz_csv(write(tmp_path, "0,1,2\n1,2,3\n"))
    with pytest.raises(SignalError, match="expected header 't,x,y,z'"):
        read_xyz_csv(write(tmp_path, "time,a,b,c\n0,1,2,3\n"))


def test_missing_file(tmp_path):
    with pytest.raises(SignalError, match="nothere.csv: cannot read"):
        read_xyz_csv(tmp_path / "nothere.csv")


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
