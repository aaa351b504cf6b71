"""pipeline/video_augment.py: the strong view keeps a clip's shape, moves all its frames alike,
never mirrors it (a swipe left stays a swipe left) and follows torch's seed."""
import torch

from pipeline.video_augment import strong_augment


def ramp_clips(count=6, frames=3, size=32) -> torch.Tensor:
    """Clips whose every frame rises from left (-1) to right (+1)."""
    ramp = torch.linspace(-1, 1, size).reshape(1, 1, 1, 1, size)
    return ramp.expand(count, frames, 3, size, size).contiguous()


def test_shape_dtype_and_seed():
    clips = ramp_clips()
    torch.manual_seed(0)
    first = strong_augment(clips)
    torch.manual_seed(0)
    assert torch.equal(first, strong_augment(clips))
    assert first.shape == clips.shape and first.dtype == clips.dtype and torch.isfinite(first).all()
    assert not torch.equal(first, clips)


def test_every_frame_of_a_clip_gets_the_same_transform():
    torch.manual_seed(1)
    out = strong_augment(ramp_clips())
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])  # identical input frames


def test_no_horizontal_flip():
    torch.manual_seed(2)
    for _ in range(20):
        out = strong_augment(ramp_clips(count=16))
        left, right = out[..., :, :4].mean(dim=(1, 2, 3, 4)), out[..., :, -4:].mean(dim=(1, 2, 3, 4))
        assert (right > left).all()  # the ramp still rises to the right in every clip
