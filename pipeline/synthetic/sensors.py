"""Wearable sensors derived from the body motion: what an IMU strapped to a segment reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.synthetic.body import Skeleton
from pipeline.synthetic.motion import SENSOR_STREAM, Recording, random_generator

SENSORS = ("wrist_acc", "wrist_gyro", "phone_acc")
GRAVITY = 9.81   # m/s^2; world gravity vector is (0, 0, -GRAVITY)
# Time step (s) of the central differences: small enough to be exact for human motion at
# 50 Hz sampling, large enough that float64 round-off stays negligible (~1e-9 g).
DIFFERENCE_STEP = 1e-3
# (bias half-range, white-noise standard deviation) in the sensor's unit (g or deg/s).
NOISE = {"wrist_acc": (0.03, 0.02), "wrist_gyro": (1.5, 2.0), "phone_acc": (0.03, 0.02)}


def _phone_position(recording: Recording, skeleton: Skeleton) -> np.ndarray:
    """Right front trouser pocket: on the thigh surface, 40% of the way down to the knee."""
    shape = recording.subject.shape
    offset = np.array([0.06, -0.03, -0.4 * shape.thigh])
    return skeleton.joints["right_hip"] + skeleton.frames["right_thigh"] @ offset


def _accelerometer(positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Specific force in the sensor frame, in g, from positions at (t - h, t, t + h)."""
    before, now, after = positions
    acceleration = (after - 2 * now + before) / DIFFERENCE_STEP ** 2
    specific_force = acceleration - np.array([0.0, 0.0, -GRAVITY])
    # R^T f: world vector expressed in the sensor frame (R's columns are the sensor axes).
    return np.einsum("nji,nj->ni", rotations[1], specific_force) / GRAVITY


def _gyroscope(rotations: np.ndarray) -> np.ndarray:
    """Body-frame angular velocity in deg/s: the skew part of R^T dR/dt."""
    before, now, after = rotations
    skew = np.swapaxes(now, 1, 2) @ ((after - before) / (2 * DIFFERENCE_STEP))
    omega = 0.5 * np.stack([skew[:, 2, 1] - skew[:, 1, 2], skew[:, 0, 2] - skew[:, 2, 0],
                            skew[:, 1, 0] - skew[:, 0, 1]], axis=-1)
    return np.degrees(omega)


def ideal_sensor_readings(recording: Recording, times: np.ndarray) -> dict[str, np.ndarray]:
    """Noise-free readings (n, 3) of every sensor at ``times``: accelerometers in g (at
    rest +1 g along world up, expressed in the sensor frame), gyroscope in deg/s.
    The wrist sensors are fixed to the right forearm, the phone to the right thigh."""
    times = np.asarray(times, dtype=float)
    count = len(times)
    skeleton = recording.skeleton(np.concatenate([times - DIFFERENCE_STEP, times, times + DIFFERENCE_STEP]))

    def by_offset(values: np.ndarray) -> np.ndarray:
        return values.reshape(3, count, *values.shape[1:])

    forearm = by_offset(skeleton.frames["right_forearm"])
    thigh = by_offset(skeleton.frames["right_thigh"])
    return {
        "wrist_acc": _accelerometer(by_offset(skeleton.joints["right_wrist"]), forearm),
        "wrist_gyro": _gyroscope(forearm),
        "phone_acc": _accelerometer(by_offset(_phone_position(recording, skeleton)), thigh),
    }


def sensor_readings(recording: Recording, times: np.ndarray, seed: int, identity: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Ideal readings plus a constant per-recording bias and white noise, drawn from a
    generator seeded by ``seed`` and ``identity`` (subject, class, trial)."""
    rng = random_generator(seed, SENSOR_STREAM, *identity)
    readings = {}
    for sensor, values in ideal_sensor_readings(recording, times).items():
        bias_range, noise = NOISE[sensor]
        readings[sensor] = values + rng.uniform(-bias_range, bias_range, 3) + rng.normal(0.0, noise, values.shape)
    return readings


def write_sensor_csv(path: Path, times: np.ndarray, values: np.ndarray) -> None:
    """Write ``t,x,y,z`` rows with a fixed format so the bytes are deterministic."""
    table = np.column_stack([times, values])
    np.savetxt(path, table, fmt="%.6f", delimiter=",", header="t,x,y,z", comments="")
