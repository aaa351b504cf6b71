"""The default pipeline's models learn: `dvc repro` with params.yaml's models and losses
(ImageNet MobileNetV2 student, VGG11 teachers with SPAMFM, SAKDN) on a smaller synthetic
dataset (4 well-separated actions, 6 subjects) gets every model clearly above chance on
held-out subjects. The tiny project of the other end-to-end tests trains too briefly to
show this; a pipeline that silently stopped learning would pass them."""
from __future__ import annotations

import json

import pytest

from tests.conftest import reproduced_project

pytestmark = pytest.mark.slow

CLASSES = ["right hand wave", "squat", "jogging in place", "two hand push"]
LEARNABLE = {
    "synthetic": {"num_subjects": 6, "trials": 2, "num_scenes": 1, "num_sessions": 1,
                  "views": [{"azimuth": 0, "distance": 4.0}], "classes": CLASSES, "video_size": 64},
    "splits": {"protocols": ["cross_subject"]},  # the last 2 subjects are test: 16 recordings
    "frames": {"per_video": 8, "size": 48},
    "gaf": {"image_size": 32},
    "teacher": {"width_mult": 0.125, "epochs": 15, "batch_size": 8},
    "student": {"epochs": 12, "batch_size": 4},  # BatchNorm statistics need enough steps
    "distill": {"layer_pairs": [["conv3", "stage5"]]},
}
CHANCE = 100.0 / len(CLASSES)


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    root = reproduced_project(tmp_path_factory.mktemp("learning"), LEARNABLE)
    return json.loads((root / "metrics" / "cross_subject.json").read_text())


def test_every_model_beats_chance_by_a_clear_margin(learned):
    assert learned["teachers"]["fused"]["accuracy"] >= 2 * CHANCE, learned["teachers"]
    for model in ("baseline", "student"):
        assert learned[model]["accuracy"] >= 2 * CHANCE, (model, learned[model])
        assert learned[model]["f_measure"] >= 1.5 * CHANCE, (model, learned[model])
