"""GAF time-crop augmentation (pipeline.data.random_time_crop)."""
import numpy as np
import torch

from pipeline.data import random_time_crop
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
