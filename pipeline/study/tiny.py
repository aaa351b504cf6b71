"""The tiny configuration: an overlay on params.yaml under which every stage takes seconds on
a CPU (4 synthetic subjects, 3 classes, 16-pixel frames, 2 epochs, narrow networks). The test
suite's DVC project, the GPU smoke run (``benchmarks.gpu``) and smoke studies train on it:

    params = deep_update(load_yaml("params.yaml"), copy.deepcopy(TINY))
"""
from __future__ import annotations

from pipeline.params_compose import deep_update

__all__ = ["TINY", "deep_update"]

TINY = {
    "synthetic": {
        "num_subjects": 4, "trials": 1, "num_scenes": 2, "num_sessions": 2,
        "views": [{"azimuth": 0, "distance": 4.0}, {"azimuth": 90, "distance": 6.0}],
        "classes": ["right hand wave", "squat", "right arm swipe to the left"],
        "video_size": 64, "workers": 1,
    },
    "splits": {"protocols": ["cross_subject", "cross_view"]},
    "frames": {"per_video": 4, "size": 16, "workers": 1},
    "gaf": {"image_size": 32},
    "teacher": {"width_mult": 0.125, "spamfm_reduction": 2, "epochs": 2, "batch_size": 4},
    "student": {"weights": None, "num_segments": 2, "epochs": 2, "batch_size": 4},
    "distill": {"layer_pairs": [["conv3", "stage5"]]},
    "train": {"threads": 1},
}
