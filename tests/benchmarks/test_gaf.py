"""A tiny smoke version of benchmarks/gaf.py: its images are checked against pyts, and the
check can fail."""
import numpy as np
from scipy.io import savemat

from tests.benchmarks.helpers import positive_and_finite


def test_gaf_benchmark_checks_its_images_against_pyts(tmp_path, monkeypatch):
    """One test only: the benchmark imports pyts (~30 s)."""
    from benchmarks import gaf

    inertial = tmp_path / "utd" / "Inertial"
    inertial.mkdir(parents=True)
    rng = np.random.default_rng(1)
    # 4 recordings, 2 sensors (acc, gyro) each; two of equal length (pyts's grouped call),
    # one too short for S=64 (left out for both).
    for trial, length in enumerate((40, 70, 100, 100), start=1):
        signal = np.cumsum(rng.normal(size=(length, 6)), axis=0)
        savemat(inertial / f"a1_s1_t{trial}_inertial.mat", {"d_iner": signal})
    argv = ["--root", str(tmp_path / "utd"), "--sizes", "32", "64", "--repeats", "1"]

    result = gaf.main(argv)
    assert result["recordings"] == 4
    assert result["sizes"]["S32"]["signals"] == 8 and result["sizes"]["S32"]["images_shape"] == [8, 3, 32, 32]
    assert result["sizes"]["S64"]["signals"] == 6 and result["sizes"]["S64"]["images_shape"] == [6, 3, 64, 64]
    assert result["matches_pyts"] is True
    for size in result["sizes"].values():
        assert size["matches_pyts"] is True and size["max_abs_difference"] < 1e-5
        assert positive_and_finite(size["ours_seconds"]) and positive_and_finite(size["pyts_seconds"])
        assert positive_and_finite(size["ours_one_thread_seconds"]) and size["threads"] >= 1
    assert positive_and_finite(result["speedup_vs_pyts"])

    # The flag can fail: a GAF with its sign flipped no longer matches pyts.
    correct = gaf.gaf_images
    monkeypatch.setattr(gaf, "gaf_images", lambda signals, size, **options: -correct(signals, size, **options))
    broken = gaf.main(argv)
    assert broken["matches_pyts"] is False
    assert not any(size["matches_pyts"] for size in broken["sizes"].values())
