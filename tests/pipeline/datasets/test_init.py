"""pipeline.datasets (the adapters' registry): an unknown dataset or an empty root, and bad
sensor input through every dataset's reader (read_signal): non-finite values, truncated or
long rows, encodings and timestamps that go back. Each error names the file, the line and
the axis; each warning names the file, the line and the step."""
import logging

import numpy as np
import pytest

from pipeline.datasets import DatasetError, build_manifest, read_signal
from pipeline.datasets import mmact
from pipeline.signals import SignalError
from tests.conftest import shared_path

MMACT_T0 = "20181016_13:37:28"


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def mmact_rows(*rows):
    """``(milliseconds after 13:37:28, 'x,y,z')`` -> MMAct lines."""
    return "".join(f"{MMACT_T0}.{ms * 1000:06d},{xyz}\n" for ms, xyz in rows)


# ---------------------------------------------------------------- non-finite values (text)
@pytest.mark.parametrize(
    "dataset, name, text, message",
    [
        ("synthetic", "inf.csv", "t,x,y,z\n0,1,2,3\n1,inf,5,6\n", r"inf.csv: line 3: x value 'inf' is not a finite number"),
        ("synthetic", "neg.csv", "t,x,y,z\n0,1,2,3\n1,4,-inf,6\n", r"neg.csv: line 3: y value '-inf' is not a finite number"),
        ("synthetic", "nan.csv", "t,x,y,z\n0,1,2,3\n1,4,5,nan\n", r"nan.csv: line 3: z value 'nan' is not a finite number"),
        ("synthetic", "big.csv", "t,x,y,z\n0,1,2,3\n1,4,5,1e309\n", r"big.csv: line 3: z value '1e309' overflows float64"),
        ("synthetic", "time.csv", "0,1,2,3\ninf,4,5,6\n", r"time.csv: line 2: t value 'inf' is not a finite number"),
        ("berkeley_mhad", "acc.txt", "0.1 0.2 0.3 100.0\n0.1 0.2 1e309 100.1\n", r"acc.txt: line 2: z value '1e309' overflows float64"),
        ("berkeley_mhad", "nan.txt", "0.1 0.2 0.3 100.0\nNaN 0.2 0.3 100.1\n", r"nan.txt: line 2: x value 'NaN' is not a finite number"),
        ("mmact", "clip.csv", mmact_rows((0, "1,2,3"), (10, "1,Infinity,3")), r"clip.csv: line 2: y value 'Infinity' is not a finite number"),
        ("mmact", "huge.csv", mmact_rows((0, "1,2,3"), (10, "-1e400,2,3")), r"huge.csv: line 2: x value '-1e400' overflows float64"),
    ],
)
def test_non_finite_values_name_file_line_and_axis(tmp_path, dataset, name, text, message):
    with pytest.raises(SignalError, match=message):
        read_signal(dataset, write(tmp_path, name, text), "acc")


def test_empty_cell_is_still_a_gap(tmp_path):
    signal = read_signal("synthetic", write(tmp_path, "gap.csv", "t,x,y,z\n0,1,2,3\n1.0,,2.0,3.0\n2,7,8,9\n"), "acc")
    np.testing.assert_array_equal(signal.values, [[1, 2, 3], [np.nan, 2, 3], [7, 8, 9]])
    np.testing.assert_array_equal(signal.timestamps, [0, 1, 2])


# ---------------------------------------------------------------- rows with too few / many fields
@pytest.mark.parametrize(
    "dataset, text, message",
    [
        ("synthetic", "t,x,y,z\n0,1,2,3\n2.44,-2.48\n2,7,8,9\n", r"line 3: expected 4 columns t,x,y,z, got 2"),
        ("synthetic", "t,x,y,z\n0,1,2,3\n1,4,5,6,7\n", r"line 3: expected 4 columns t,x,y,z, got 5"),
        ("synthetic", "0,1,2,3\n\n1,4,5\n", r"line 3: expected 4 columns t,x,y,z, got 3"),  # blank line counted
        ("berkeley_mhad", "0.1 0.2 0.3 100.0\n0.1 0.2 100.1\n", r"line 2: expected 4 values 'x y z timestamp', got 3"),
        ("berkeley_mhad", "0.1 0.2 0.3 100.0\n0.1 0.2 0.3 100.1 7\n", r"line 2: expected 4 values 'x y z timestamp', got 5"),
        ("mmact", mmact_rows((0, "1,2,3")) + f"{MMACT_T0}.010000,1,2\n", r"line 2: expected 4 fields 'time,x,y,z', got 3"),
        ("mmact", mmact_rows((0, "1,2,3"), (10, "1,2,3,4")), r"line 2: expected 4 fields 'time,x,y,z', got 5"),
    ],
)
def test_rows_with_wrong_field_count_name_the_line(tmp_path, dataset, text, message):
    with pytest.raises(SignalError, match=rf"rows.txt: {message}"):
        read_signal(dataset, write(tmp_path, "rows.txt", text), "acc")


# ---------------------------------------------------------------- encodings
@pytest.mark.parametrize(
    "dataset, content, message",
    [
        ("synthetic", b"t,x,y,z\n0,1,2,3\n1,4\xe9,5,6\n", r"line 3: not UTF-8 text \(byte 0xe9 at offset 19\)"),
        ("synthetic", b"\xef\xbb\xbft,x,y,z\r\n0,1,2,3\r\n\xff,4,5,6\r\n", r"line 3: not UTF-8 text \(byte 0xff at offset 21\)"),
        ("berkeley_mhad", b"0.1 0.2 0.3 100.0\n0.1 0.2\xff 0.3 100.1\n", r"line 2: not UTF-8 text \(byte 0xff at offset 25\)"),
        ("mmact", b"\x80" + mmact_rows((0, "1,2,3")).encode(), r"line 1: not UTF-8 text \(byte 0x80 at offset 0\)"),
    ],
)
def test_non_utf8_byte_names_file_and_line(tmp_path, dataset, content, message):
    with pytest.raises(SignalError, match=rf"latin1.txt: {message}"):
        read_signal(dataset, write(tmp_path, "latin1.txt", content), "acc")


@pytest.mark.parametrize(
    "dataset, text",
    [
        ("synthetic", "t,x,y,z\n0,1,2,3\n0.5,4,5,6\n"),
        ("berkeley_mhad", "1 2 3 100.0\n4 5 6 100.5\n"),
        ("mmact", mmact_rows((0, "1,2,3"), (500, "4,5,6"))),
    ],
)
def test_utf8_byte_order_mark_is_accepted(tmp_path, dataset, text):
    signal = read_signal(dataset, write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.encode()), "acc")
    np.testing.assert_array_equal(signal.values, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_allclose(signal.timestamps, [0.0, 0.5])


# ---------------------------------------------------------------- timestamps going back
def test_synthetic_timestamps_going_back_warn_and_keep_file_order(tmp_path, caplog):
    path = write(tmp_path, "wrist_acc.csv", "t,x,y,z\n0,1,1,1\n1,2,2,2\n0.5,3,3,3\n0.25,4,4,4\n2,5,5,5\n")
    with caplog.at_level(logging.WARNING):
        signal = read_signal("synthetic", path, "wrist_acc")
    np.testing.assert_array_equal(signal.timestamps, [0, 1, 0.5, 0.25, 2])  # not sorted
    np.testing.assert_array_equal(signal.values[:, 0], [1, 2, 3, 4, 5])
    assert len(caplog.records) == 1
    assert caplog.messages[0].startswith(f"{path}: line 4: timestamp steps back 0.5 s (to 0.5 s after 1 s)")
    assert "2 samples in all, up to 0.75 s back" in caplog.messages[0]


def test_berkeley_timestamps_going_back_warn(tmp_path, caplog):
    path = write(tmp_path, "acc.txt", "1 2 3 100.00\n1 2 3 100.03\n1 2 3 100.02\n")
    with caplog.at_level(logging.WARNING):
        read_signal("berkeley_mhad", path, "shimmer01")
    assert len(caplog.messages) == 1 and f"{path}: line 3: timestamp steps back 0.01 s" in caplog.messages[0]


def test_mmact_jitter_within_45_ms_is_quiet_beyond_it_warns(tmp_path, caplog):
    assert mmact.TIMESTAMP_JITTER == 0.045
    within = write(tmp_path, "within.csv", mmact_rows((0, "1,2,3"), (100, "1,2,3"), (55, "1,2,3"), (110, "1,2,3")))
    with caplog.at_level(logging.WARNING):
        read_signal("mmact", within, "gyro")
    assert caplog.messages == []
    beyond = write(tmp_path, "beyond.csv", mmact_rows((0, "1,2,3"), (100, "1,2,3"), (40, "1,2,3"), (110, "1,2,3")))
    with caplog.at_level(logging.WARNING):
        signal = read_signal("mmact", beyond, "gyro")
    np.testing.assert_allclose(signal.timestamps, [0, 0.1, 0.04, 0.11])
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith(f"{beyond}: line 3: timestamp steps back 0.06 s (to 0.04 s after 0.1 s)")


@pytest.mark.shared
def test_real_mmact_clip_steps_back_45_ms_at_most_and_reads_quietly(caplog):
    with caplog.at_level(logging.WARNING):
        signal = read_signal("mmact", shared_path("mmact_sample", "carrying.csv"), "acc_phone")
    assert caplog.messages == []
    behind = np.maximum.accumulate(signal.timestamps) - signal.timestamps
    assert behind.max() == pytest.approx(0.045, abs=1e-9)
    assert int(np.argmax(behind)) + 1 == 461  # file line 461: 45 ms behind the line before


# ---------------------------------------------------------------- unknown datasets
def test_unknown_dataset_and_empty_root(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'kinetics'"):
        build_manifest("kinetics", tmp_path)
    with pytest.raises(DatasetError, match="no MMAct files found"):
        build_manifest("mmact", tmp_path)
    with pytest.raises(DatasetError, match="no Berkeley-MHAD files found"):
        build_manifest("berkeley_mhad", tmp_path)
