"""GSDM's temporal alignment (docs/method.md §5): the teacher's GAF map as a time profile read
at the clip positions of the student's sampled frames."""
import pandas as pd
import pytest
import torch

from pipeline.losses.sakdn import GraphSemanticMapping, time_profile_at


def banded_gaf_map(cells=8, band=2):
    """A GAF map bright where either instant is in time cell ``band`` (a GAF image's row and column)."""
    gaf_map = torch.zeros(1, cells, cells)
    gaf_map[0, band, :] = 1.0
    gaf_map[0, :, band] = 1.0
    return gaf_map


def test_a_bright_time_band_peaks_at_the_segment_that_samples_it():
    positions = torch.tensor([[0.0625, 0.3125, 0.5625, 0.8125]])  # frame centres of 4 segments
    profile = time_profile_at(banded_gaf_map(band=2), positions)  # band 2 of 8 = [0.25, 0.375)
    assert int(profile.argmax()) == 1
    later = time_profile_at(banded_gaf_map(band=6), positions)
    assert int(later.argmax()) == 3


def test_time_profile_interpolates_between_cell_centres_by_hand():
    gaf_map = torch.diag_embed(torch.tensor([[0.0, 2.0]]))  # 2 cells; profile (row + column means) / 2 = [0, 1]
    positions = torch.tensor([[0.25, 0.5, 0.75, 0.0, 1.0]])  # centres at 0.25 and 0.75
    torch.testing.assert_close(time_profile_at(gaf_map, positions), torch.tensor([[0.0, 0.5, 1.0, 0.0, 1.0]]))


def temporal_loss(student_bright_frame: int, importance="channel") -> float:
    """GSDM (temporal) between a teacher whose GAF map lights time cell 2 of 8 and a student
    whose map lights one of its 4 sampled frames."""
    term = GraphSemanticMapping([("conv4", "stage5")], importance=importance, align="temporal")
    teacher_features = banded_gaf_map().unsqueeze(1)  # (1, C=1, 8, 8)
    student_features = torch.full((1, 4, 1, 2, 2), 0.1)
    student_features[0, student_bright_frame] = 1.0
    teacher = {"logits": torch.zeros(1, 2), "fc2": torch.zeros(1, 3), "features": {"conv4": teacher_features},
               "gsdm_maps": {"conv4": teacher_features[:, 0]}}
    student = {"logits": torch.zeros(1, 2), "semantic": torch.zeros(1, 3), "features": {"stage5": student_features},
               "gsdm_weights": {"stage5": torch.ones(1, 1)}}
    targets = {"labels": torch.tensor([0]), "class_embeddings": torch.ones(2, 3),
               "segment_positions": torch.tensor([[0.0625, 0.3125, 0.5625, 0.8125]])}
    return term(student, [teacher], targets).item()


def test_temporal_gsdm_is_lowest_when_the_students_bright_frame_is_the_teachers_bright_time():
    losses = [temporal_loss(frame) for frame in range(4)]
    assert int(torch.tensor(losses).argmin()) == 1


def test_temporal_gsdm_needs_the_segment_positions():
    term = GraphSemanticMapping([("conv4", "stage5")], align="temporal")
    assert term.needs_segment_positions
    with pytest.raises(KeyError, match="segment_positions"):
        term._float32_forward({}, [{}], torch.ones(2, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="align must be one of"):
        GraphSemanticMapping([("conv4", "stage5")], align="diagonal")


def test_segment_positions_are_the_sampled_frames_centres(tmp_path):
    import h5py
    import numpy as np

    from pipeline.data import VideoClips

    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as cache:
        cache.create_dataset("sample_id", data=np.array(["s0", "s1"], dtype=object), dtype=h5py.string_dtype())
        cache["frames"] = np.zeros((2, 8, 4, 4, 3), np.uint8)
    samples = pd.DataFrame({"sample_id": ["s0", "s1"], "recording_id": ["r0", "r1"], "label": [0, 1]})
    centre = VideoClips(path, samples, 4, "centre")
    torch.testing.assert_close(centre.segment_positions([0, 1]), torch.tensor([[1.5, 3.5, 5.5, 7.5]] * 2) / 8)
    random = VideoClips(path, samples, 4, "random", seed=3)
    random.set_epoch(2)
    expected = (random.chosen_frames(1).float() + 0.5) / 8
    torch.testing.assert_close(random.segment_positions([1])[0], expected)
