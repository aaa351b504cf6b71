"""The synthetic sensors (pipeline/synthetic/sensors.py): readings at rest and a gyroscope of a
known rotation."""
from __future__ import annotations

import numpy as np

from pipeline.synthetic import CLASS_NAMES
from pipeline.synthetic.body import rotation_z
from pipeline.synthetic.motion import Recording, draw_subject, draw_trial
from pipeline.synthetic.sensors import _gyroscope, ideal_sensor_readings


def test_rest_pose_reads_one_g_and_no_rotation():
    for class_name in CLASS_NAMES:
        recording = Recording(class_name, draw_subject(0, 1), draw_trial(0, 1, CLASS_NAMES.index(class_name), 1))
        rest_times = np.linspace(0.0, recording.trial.rest_before - 0.01, 10)
        readings = ideal_sensor_readings(recording, rest_times)
        for sensor in ("wrist_acc", "phone_acc"):
            np.testing.assert_allclose(np.linalg.norm(readings[sensor], axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(readings["wrist_gyro"], 0.0, atol=1e-6)
        # +1 g along world up, expressed in the forearm's frame.
        forearm = recording.skeleton(rest_times).frames["right_forearm"]
        np.testing.assert_allclose(readings["wrist_acc"], forearm[:, 2, :], atol=1e-6)


def test_gyroscope_of_a_known_rotation():
    rate = 90.0   # deg/s about z
    times = np.arange(5) * 0.1
    step = 1e-3
    rotations = np.stack([rotation_z(np.radians(rate * (times + offset))) for offset in (-step, 0.0, step)])
    np.testing.assert_allclose(_gyroscope(rotations), np.tile([0.0, 0.0, rate], (5, 1)), atol=1e-4)
