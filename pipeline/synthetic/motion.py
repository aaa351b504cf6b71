"""Subjects, trials and recordings: turn an ideal action program into one person's motion.

Every random draw comes from ``numpy.random.default_rng`` seeded from the dataset seed and
the identity of what is drawn (subject, class, trial), never from call order, so the data
do not depend on worker count or scheduling.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.synthetic.actions import ACTIVE_DURATION, CLASS_NAMES, REST_POSE, action_centre, action_pose
from pipeline.synthetic.body import POSE_KEYS, BodyShape, Pose, Skeleton, forward_kinematics

# Independent random streams: the same (seed, subject, ...) must not reuse numbers
# between, say, the body proportions and the sensor noise.
SUBJECT_STREAM, TRIAL_STREAM, SENSOR_STREAM, VIDEO_STREAM, SCENE_STREAM = range(1, 6)
# Fraction of the active phase spent easing in from rest and back out to it.
EASE_FRACTION = 0.2
NOMINAL_REST = 0.4   # seconds of stillness before and after the action


def random_generator(seed: int, stream: int, *identity: int) -> np.random.Generator:
    """A generator determined only by the dataset seed, the purpose and the identity."""
    return np.random.default_rng([seed, stream, *identity])


@dataclass(frozen=True)
class SubjectProfile:
    """What stays the same for one person across all their recordings."""

    shape: BodyShape
    tempo: float        # multiplies every action's duration
    amplitude: float    # multiplies every joint excursion around the action's centre pose
    colours: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # RGB in [0, 1]


@dataclass(frozen=True)
class TrialVariation:
    """What differs between repetitions: timing and small pose deviations."""

    rest_before: float = NOMINAL_REST
    rest_after: float = NOMINAL_REST
    duration_scale: float = 1.0
    # Amplitudes a_k of the time-warp terms a_k sin(2 pi k x) / (2 pi k), k = 1, 2, ...;
    # their absolute sum stays below 1 so the warp is monotone (time never runs backwards).
    warp: tuple[float, ...] = ()
    pose_offsets: dict[str, float] = field(default_factory=dict)   # degrees, added while active


def draw_subject(seed: int, subject: int) -> SubjectProfile:
    """Body proportions, tempo, amplitude and clothes of ``subject`` (1-based)."""
    rng = random_generator(seed, SUBJECT_STREAM, subject)
    shape = BodyShape().scaled(
        height=rng.uniform(0.88, 1.12), arm=rng.uniform(0.93, 1.07),
        leg=rng.uniform(0.94, 1.06), width=rng.uniform(0.9, 1.12),
    )
    # Clothes differ only slightly between subjects (a person is not recognised by colour
    # alone) and are identical on the left and right (so mirror motions stay ambiguous).
    shirt = np.clip(np.array([0.20, 0.35, 0.65]) + rng.uniform(-0.08, 0.08, 3), 0, 1)
    trousers = np.clip(np.array([0.25, 0.25, 0.30]) + rng.uniform(-0.06, 0.06, 3), 0, 1)
    skin = np.clip(np.array([0.85, 0.65, 0.52]) * rng.uniform(0.75, 1.05), 0, 1)
    hair = np.clip(np.array([0.20, 0.14, 0.08]) * rng.uniform(0.5, 1.5), 0, 1)
    colours = {"shirt": shirt, "trousers": trousers, "skin": skin, "hair": hair,
               "shoes": np.array([0.12, 0.12, 0.12])}
    return SubjectProfile(
        shape=shape, tempo=rng.uniform(0.8, 1.25), amplitude=rng.uniform(0.85, 1.15),
        colours={name: tuple(float(channel) for channel in value) for name, value in colours.items()},
    )


def draw_trial(seed: int, subject: int, class_position: int, trial: int) -> TrialVariation:
    """Timing jitter and pose noise of one repetition (``class_position``: 0-based index
    into CLASS_NAMES, so a class's data do not depend on which other classes are chosen)."""
    rng = random_generator(seed, TRIAL_STREAM, subject, class_position, trial)
    start_shift = rng.uniform(-0.15, 0.15)
    return TrialVariation(
        rest_before=NOMINAL_REST + start_shift, rest_after=NOMINAL_REST - 0.5 * start_shift,
        duration_scale=rng.uniform(0.92, 1.08),
        warp=tuple(float(value) for value in rng.uniform(-0.3, 0.3, 2)),
        pose_offsets={key: float(rng.normal(0.0, 2.0)) for key in POSE_KEYS if key != "bounce"},
    )


def _smootherstep(value: np.ndarray) -> np.ndarray:
    value = np.clip(value, 0.0, 1.0)
    return value ** 3 * (value * (value * 6 - 15) + 10)


def envelope(phase: np.ndarray) -> np.ndarray:
    """0 at rest, 1 in the middle of the action; C2-smooth (no acceleration steps)."""
    return _smootherstep(phase / EASE_FRACTION) * _smootherstep((1.0 - phase) / EASE_FRACTION)


@dataclass(frozen=True)
class Recording:
    """One subject performing one action once; evaluates its motion at any times."""

    class_name: str
    subject: SubjectProfile
    trial: TrialVariation = TrialVariation()

    @property
    def active_duration(self) -> float:
        return ACTIVE_DURATION[self.class_name] * self.subject.tempo * self.trial.duration_scale

    @property
    def duration(self) -> float:
        """Total length in seconds: rest, action, rest."""
        return self.trial.rest_before + self.active_duration + self.trial.rest_after

    def phase(self, times: np.ndarray) -> np.ndarray:
        """Action phase in [0, 1] at each time (0 during the first rest, 1 during the last),
        through the trial's smooth monotone time warp."""
        linear = np.clip((np.asarray(times, dtype=float) - self.trial.rest_before) / self.active_duration, 0.0, 1.0)
        warped = linear.copy()
        for order, amplitude in enumerate(self.trial.warp, start=1):
            warped += amplitude * np.sin(2 * np.pi * order * linear) / (2 * np.pi * order)
        return warped

    def pose(self, times: np.ndarray) -> Pose:
        """Joint angles at each time: the program with its excursions around the centre pose
        scaled by the subject's amplitude, plus the trial's offsets, eased in from and out to
        rest by the envelope."""
        phase = self.phase(times)
        ideal = action_pose(self.class_name, phase)
        centre = action_centre(self.class_name)
        weight = envelope(phase)
        return {key: REST_POSE[key] + weight * (
                    centre[key] - REST_POSE[key] + self.subject.amplitude * (ideal[key] - centre[key])
                    + self.trial.pose_offsets.get(key, 0.0))
                for key in POSE_KEYS}

    def skeleton(self, times: np.ndarray) -> Skeleton:
        """Joint positions and segment frames at each time."""
        return forward_kinematics(self.subject.shape, self.pose(times))


def class_index(class_name: str) -> int:
    """Position of ``class_name`` in CLASS_NAMES (0-based); used for seeding and ids."""
    return CLASS_NAMES.index(class_name)
