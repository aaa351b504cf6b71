"""GAF against hand-computed values, algebraic properties, and pyts as the oracle."""
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.gaf import angular_field, fill_gaps, gaf_images, resample, scale_to_unit
from pipeline.signals import SignalError
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def pyts_gaf():
    """pyts's GramianAngularField (importing pyts costs ~20-30 s: once per module)."""
    from pyts.image import GramianAngularField

    def transform(series: np.ndarray, size: int, method: str) -> np.ndarray:
        return GramianAngularField(image_size=size, method=method).fit_transform(series)

    return transform


def three_axis(series):
    return np.stack([series, series, series], axis=1).astype(float)


def test_three_point_case_by_hand():
    # [-1, 0, 1] scales to itself: theta = pi, pi/2, 0; GASF = cos(theta_i + theta_j).
    images = gaf_images([three_axis([-1, 0, 1])], 3)
    expected = np.array([[1, 0, -1], [0, -1, 0], [-1, 0, 1]], dtype=float)
    for axis in range(3):
        np.testing.assert_allclose(images[0, axis], expected, atol=1e-7)
    # GADF = sin(theta_i - theta_j)
    difference = gaf_images([three_axis([-1, 0, 1])], 3, "difference")[0, 0]
    np.testing.assert_allclose(difference, [[0, 1, 0], [-1, 0, 1], [0, -1, 0]], atol=1e-7)


def test_three_point_case_matches_pyts(pyts_gaf):
    series = np.array([[-1.0, 0.0, 1.0], [2.0, 7.0, 3.0]])
    for method in ("summation", "difference"):
        ours = gaf_images([three_axis(row) for row in series], 3, method)[:, 0]
        np.testing.assert_allclose(ours, pyts_gaf(series, 3, method), atol=1e-6)


def test_paa_windows_by_hand():
    # 6 points to 4: pyts bounds floor(linspace(0, 6, 5)) = [0, 1, 3, 4, 6]
    padded = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    np.testing.assert_allclose(resample(padded, np.array([6]), 4), [[1.0, 2.5, 4.0, 5.5]])


def test_short_series_are_interpolated():
    padded = np.array([[0.0, 10.0, 0.0, 0.0]])  # only the first 2 points are the series
    np.testing.assert_allclose(resample(padded, np.array([2]), 5), [[0.0, 2.5, 5.0, 7.5, 10.0]])


def test_scaling_maps_to_unit_interval_and_constant_to_zero():
    scaled, constant = scale_to_unit(np.array([[2.0, 4.0, 6.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(scaled, [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert constant.tolist() == [False, True]


def test_matches_pyts_on_random_walks(pyts_gaf):
    rng = np.random.default_rng(1)
    signals = [rng.normal(size=(length, 3)).cumsum(axis=0) for length in rng.integers(64, 300, 40)]
    for size in (16, 64):
        for method in ("summation", "difference"):
            ours = gaf_images(signals, size, method)
            for signal, image in zip(signals, ours):
                np.testing.assert_allclose(image, pyts_gaf(signal.T, size, method), atol=2e-6)


@pytest.mark.shared
def test_matches_pyts_on_real_utd_mhad_inertial(pyts_gaf):
    from pipeline.datasets.utd_mhad import read_signal

    files = sorted(shared_path("utd_mhad", "Inertial").glob("*_inertial.mat"))
    assert len(files) == 861
    signals = [read_signal(path, sensor).values for path in files[::4] for sensor in ("acc", "gyro")]
    for size in (64, 128):
        usable = [signal for signal in signals if len(signal) >= size]
        ours = gaf_images(usable, size)
        worst = max(np.abs(image - pyts_gaf(signal.T, size, "summation")).max() for signal, image in zip(usable, ours))
        assert worst < 2e-6


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 80), st.just(3)), elements=finite), st.integers(2, 24))
def test_field_properties(signal, size):
    summation = gaf_images([signal], size)[0]
    difference = gaf_images([signal], size, "difference")[0]
    assert np.all(np.abs(summation) <= 1 + 1e-6) and np.all(np.abs(difference) <= 1 + 1e-6)
    np.testing.assert_allclose(summation, summation.transpose(0, 2, 1), atol=1e-6)  # symmetric
    np.testing.assert_allclose(difference, -difference.transpose(0, 2, 1), atol=1e-6)  # antisymmetric
    # diagonal: cos(2 theta) = 2 x^2 - 1 with x the scaled series
    padded = np.ascontiguousarray(signal.T)
    scaled, _ = scale_to_unit(resample(padded, np.full(3, len(signal)), size))
    np.testing.assert_allclose(np.diagonal(summation, axis1=1, axis2=2), 2 * scaled**2 - 1, atol=1e-5)


def test_gaps_are_interpolated():
    signal = three_axis(np.arange(10.0))
    gapped = signal.copy()
    gapped[3:6, 1] = np.nan
    np.testing.assert_allclose(gaf_images([gapped], 5), gaf_images([signal], 5), atol=1e-6)


def test_constant_axis_warns_and_scales_to_zero(caplog):
    signal = three_axis(np.arange(8.0))
    signal[:, 2] = 4.2
    with caplog.at_level(logging.WARNING):
        image = gaf_images([signal], 4, names=["rec_7 (acc)"])[0]
    assert "rec_7 (acc): axis z is constant" in caplog.text
    np.testing.assert_allclose(image[2], -1.0)  # x~ = 0: cos(pi/2 + pi/2) = -1
    assert np.ptp(image[0]) > 0


@pytest.mark.parametrize(
    "signal, message",
    [
        (np.zeros((0, 3)), "rec_1: expected a non-empty"),
        (np.zeros((5, 2)), "rec_1: expected a non-empty"),
        (np.column_stack([np.arange(5.0), np.full(5, np.nan), np.arange(5.0)]), "rec_1: axis y has no numeric value"),
    ],
)
def test_bad_signals_name_the_signal(signal, message):
    with pytest.raises(SignalError, match=message):
        gaf_images([signal], 4, names=["rec_1"])


def test_angular_field_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        angular_field(np.zeros((1, 3)), "product")


# ---------------------------------------------------------------- huge finite values
def test_kernels_do_not_overflow_on_huge_values_by_hand():
    # 1e308 + 1e308 overflows: cumulative sums, spans and interpolation slopes must not form it
    np.testing.assert_array_equal(resample(np.array([[1e308, 1e308, -1e308, -1e308]]), np.array([4]), 2), [[1e308, -1e308]])
    np.testing.assert_array_equal(resample(np.array([[1e308, -1e308, 0.0]]), np.array([2]), 3), [[1e308, 0.0, -1e308]])
    top = np.finfo(np.float64).max
    np.testing.assert_array_equal(resample(np.full((1, 7), top), np.array([7]), 3), [[top, top, top]])
    scaled, constant = scale_to_unit(np.array([[1e308, -1e308, 0.0], [-top, top, 0.5 * top], [top, top, top]]))
    np.testing.assert_allclose(scaled, [[1.0, -1.0, 0.0], [-1.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    assert constant.tolist() == [False, False, True]
    np.testing.assert_array_equal(fill_gaps(np.array([1e308, np.nan, -1e308])), [1e308, 0.0, -1e308])


def test_huge_signal_gives_the_image_of_the_same_signal_scaled_down():
    # PAA to 2 points: means 1e308 and -5e307 -> scaled 1, -1 -> angles 0, pi
    huge = three_axis([1e308, 1e308, -1e308, 0.0])
    huge[:, 1] *= -1
    images = gaf_images([huge], 2)[0]
    np.testing.assert_array_equal(images[0], [[1, -1], [-1, 1]])
    np.testing.assert_array_equal(images[1], [[1, -1], [-1, 1]])  # -1, 1: the same field
    np.testing.assert_allclose(gaf_images([huge / 1e300], 2)[0], images, atol=1e-6)
    rng = np.random.default_rng(3)
    walk = rng.uniform(-1.7, 1.7, size=(300, 3)) * 1e308  # neighbours sum past the largest float
    walk[40:45, 2] = np.nan  # a gap between huge values is interpolated too
    for method in ("summation", "difference"):
        for size in (16, 64, 400):  # PAA and interpolation
            big, small = gaf_images([walk], size, method)[0], gaf_images([walk / 1e300], size, method)[0]
            assert np.isfinite(big).all()
            np.testing.assert_allclose(big, small, atol=1e-6)


# any finite float, with the largest magnitudes drawn often enough to meet each other
any_finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, np.finfo(np.float64).max, -np.finfo(np.float64).max]),
)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 60), st.just(3)), elements=any_finite), st.integers(2, 20))
def test_any_finite_signal_gives_a_finite_image(signal, size):
    for method in ("summation", "difference"):
        image = gaf_images([signal], size, method)[0]
        assert np.isfinite(image).all() and np.all(np.abs(image) <= 1 + 1e-6)


def test_infinite_input_names_the_signal_axis_and_sample():
    signal = three_axis(np.arange(6.0))
    signal[4, 1] = -np.inf
    with pytest.raises(SignalError, match=r"rec_2 \(gyro\): axis y: sample 5 is -inf"):
        gaf_images([three_axis(np.arange(6.0)), signal], 4, names=["rec_1 (gyro)", "rec_2 (gyro)"])


def test_non_finite_result_is_an_error_naming_the_signal(monkeypatch):
    import pipeline.gaf

    def broken(series):  # stands in for any overflow left in the kernels
        scaled = np.zeros_like(series)
        scaled[4, 0] = np.nan
        return scaled, np.zeros(len(series), dtype=bool)

    monkeypatch.setattr(pipeline.gaf, "scale_to_unit", broken)
    signals = [three_axis(np.arange(6.0)), three_axis(np.arange(6.0))]
    with pytest.raises(SignalError, match=r"rec_b: axis y: the GAF image is not finite"):
        gaf_images(signals, 3, names=["rec_a", "rec_b"])


def test_threaded_conversion_equals_one_thread_and_writes_the_dtype_asked_for():
    rng = np.random.default_rng(0)
    signals = [rng.normal(size=(int(rng.integers(20, 90)), 3)) for _ in range(300)]
    one = gaf_images(signals, 16, threads=1)
    assert np.array_equal(gaf_images(signals, 16, threads=3), one)  # the field in three parts
    half = gaf_images(signals, 16, dtype=np.float16, threads=2)
    assert half.dtype == np.float16 and np.array_equal(half, one.astype(np.float16))


def test_the_first_bad_signal_is_reported_whatever_the_thread_count():
    signals = [three_axis(np.arange(40.0)) for _ in range(300)]
    signals[10] = three_axis(np.r_[np.arange(39.0), np.inf])
    signals[290] = three_axis(np.r_[np.inf, np.arange(39.0)])
    for threads in (1, 3):
        with pytest.raises(SignalError, match="signal 10: axis x: sample 40 is inf"):
            gaf_images(signals, 8, threads=threads)
