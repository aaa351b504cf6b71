"""GAF time-crop augmentation (pipeline.data.random_time_crop)."""
import numpy as np
import torch

from pipeline.data import random_time_crop, random_time_warp
from pipeline.gaf import gaf_images


def gasf(signal: np.ndarray, size: int) -> torch.Tensor:
    return torch.from_numpy(gaf_images(signal[None], size)[0]).float()


def test_off_returns_the_images_untouched():
    images = {"acc": torch.randn(2, 3, 8, 8)}
    assert random_time_crop(images, 1.0) is images


def test_a_crop_is_a_time_window_symmetric_and_shared_by_the_sensors():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    signal = np.cumsum(rng.normal(size=(200, 3)), axis=0)
    image = gasf(signal, 32)
    out = random_time_crop({"acc": image[None].repeat(4, 1, 1, 1), "gyro": image[None].repeat(4, 1, 1, 1)}, 0.5)
    assert out["acc"].shape == (4, 3, 32, 32)
    assert torch.equal(out["acc"], out["gyro"])  # synchronised sensors: the same window
    # Same scale and shift on both axes: a symmetric field stays symmetric.
    assert torch.allclose(out["acc"], out["acc"].transpose(-1, -2), atol=1e-5)
    assert not torch.allclose(out["acc"][0], image, atol=1e-3)


def test_a_full_window_with_no_shift_is_the_identity():
    torch.manual_seed(0)
    image = torch.randn(1, 3, 16, 16)
    out = random_time_crop({"acc": image}, 0.999999)
    assert torch.allclose(out["acc"], image, atol=1e-3)


# ------------------------------------------------------------------ time warp
def test_warp_off_returns_the_images_untouched():
    images = {"acc": torch.randn(2, 3, 8, 8)}
    assert random_time_warp(images, 0.0) is images


def test_a_warped_image_is_the_field_of_the_warped_series():
    from pipeline.data import random_time_warp

    fine = np.linspace(0, 1, 4000)
    series = lambda u: np.stack([np.sin(2 * np.pi * u) + u, np.cos(3 * u), u ** 2], axis=1)  # noqa: E731
    size, strength = 32, 0.8
    image = gasf(series(fine), size)
    torch.manual_seed(3)
    out = random_time_warp({"acc": image[None], "gyro": image[None]}, strength)
    torch.manual_seed(3)
    amount = float((torch.rand(1) * 2 - 1) * strength)
    assert abs(amount) > 0.3  # a real warp, not a near-identity
    # The warped series: time t maps to w(t) on [-1, 1], i.e. u = (w(2t - 1) + 1) / 2 on [0, 1].
    t = 2 * fine - 1
    warped_time = (t + amount * np.sin(np.pi * (t + 1)) / np.pi + 1) / 2
    expected = gasf(series(warped_time), size)
    assert torch.equal(out["acc"], out["gyro"])  # synchronised sensors: the same warp
    assert torch.allclose(out["acc"], out["acc"].transpose(-1, -2), atol=1e-5)  # same warp on both axes
    error = (out["acc"][0] - expected).abs()
    # Resampling a 32 px field differs from averaging the warped series over PAA windows where
    # the field changes fast; typical pixels agree closely.
    assert error.mean() < 0.04 and error.flatten().quantile(0.9) < 0.1, (error.mean(), error.max())
    assert (image - expected).abs().mean() > 5 * error.mean()  # the warp changed the image
