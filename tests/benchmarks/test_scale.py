"""benchmarks/scale.py: its linear fit and a child's peak memory."""
import pytest


def test_scale_linear_fit_by_hand():
    from benchmarks.scale import linear_fit

    fit = linear_fit([100, 200, 400], [12.0, 22.0, 42.0])  # 0.1 s per video + 2 s
    assert fit["seconds_per_video"] == pytest.approx(0.1) and fit["intercept_seconds"] == pytest.approx(2.0)
    assert fit["r2"] == pytest.approx(1.0) and fit["mmact_36k_minutes"] == pytest.approx((3600 + 2) / 60, abs=0.1)


def test_scale_measures_a_childs_peak_memory(tmp_path):
    import sys

    from benchmarks.scale import measured

    allocate = "import time, numpy; a = numpy.ones(300 * 2**20 // 8); print(a.sum() > 0); time.sleep(0.5)"
    ballast = b"\x01" * (1500 * 2**20)  # resident: this process is larger than the child
    seconds, peak_mb, stdout = measured([sys.executable, "-c", allocate], tmp_path, tmp_path / "log")
    assert stdout.strip() == "True" and seconds > 0
    assert 300 <= peak_mb < 1000  # the child's own peak, not this process's size at the fork
    del ballast
    with pytest.raises(SystemExit, match="failed"):
        measured([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, tmp_path / "log")
