"""The synthetic motions (pipeline/synthetic/motion.py): mirror actions are time reversals."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.synthetic.motion import Recording, TrialVariation, draw_subject


@pytest.mark.parametrize("forward, backward", [
    ("right arm swipe to the left", "right arm swipe to the right"),
    ("right hand draw circle clockwise", "right hand draw circle counter clockwise"),
])
def test_mirror_actions_are_time_reversals(forward, backward):
    subject = draw_subject(5, 2)
    first, second = Recording(forward, subject, TrialVariation()), Recording(backward, subject, TrialVariation())
    assert first.duration == pytest.approx(second.duration)
    times = np.linspace(0.0, first.duration, 101)
    wrist = first.skeleton(times).joints["right_wrist"]
    reversed_wrist = second.skeleton(first.duration - times).joints["right_wrist"]
    np.testing.assert_allclose(wrist, reversed_wrist, atol=1e-9)
    assert np.ptp(wrist, axis=0).max() > 0.4   # and the hand really moves (metres)
