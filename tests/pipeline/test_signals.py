"""pipeline/signals.py: the x,y,z CSV reader and the check of timestamps that go back."""
import logging

import numpy as np
import pytest

from pipeline.signals import SignalError, check_timestamps, read_xyz_csv


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


# ---------------------------------------------------------------- timestamps going back
def test_check_timestamps_measures_the_step_from_the_latest_time(caplog):
    with caplog.at_level(logging.WARNING):
        check_timestamps("clip.csv", np.array([0.0, 0.1, 0.2, 0.17, 0.14, 0.3]), [2, 3, 4, 5, 6, 7], 0.05)
    # 0.17 is 0.03 behind 0.2 (within 0.05), 0.14 is 0.06 behind: the first beyond the jitter
    assert caplog.messages == [
        "clip.csv: line 6: timestamp steps back 0.06 s (to 0.14 s after 0.2 s), more than the 0.05 s "
        "jitter documented for this dataset; samples kept in file order"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_timestamps("flat.csv", np.array([0.0, 0.0, 0.1, 0.1]), [1, 2, 3, 4], 0.0)  # repeats are not back
    assert caplog.messages == []
