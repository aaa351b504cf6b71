"""Action programs: joint-angle trajectories as functions of the action phase s in [0, 1].

A program returns only the pose keys it moves (arrays, or constants); ``action_pose``
fills the rest from the rest pose. Programs are the noise-free "ideal" movement; subject tempo/amplitude, trial
timing jitter and the smooth envelope into and out of rest are applied in ``motion``.
Mirror pairs are exact time reversals (swipe left/right, circle clockwise/counter
clockwise), and jogging/walking differ mostly in tempo and amplitude: on purpose, these
are hard for a temporal-average video model but easy for the wrist/thigh sensors.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline

from pipeline.synthetic.body import POSE_KEYS, Pose

CLASS_NAMES = [
    "right arm swipe to the left",
    "right arm swipe to the right",
    "right hand wave",
    "two hand front clap",
    "right arm throw",
    "right hand draw circle clockwise",
    "right hand draw circle counter clockwise",
    "jogging in place",
    "walking in place",
    "squat",
    "two hand push",
    "right arm curl",
]

# Standing relaxed: arms hanging slightly away from the body, elbows and knees a bit soft.
REST_POSE: dict[str, float] = {key: 0.0 for key in POSE_KEYS}
for _side in ("left", "right"):
    REST_POSE.update({f"{_side}_shoulder_elevation": 8.0, f"{_side}_shoulder_plane": 80.0,
                      f"{_side}_elbow": 12.0, f"{_side}_knee": 4.0})

# Nominal length (seconds) of the active part of each action, before subject tempo.
ACTIVE_DURATION = {
    "right arm swipe to the left": 1.5,
    "right arm swipe to the right": 1.5,
    "right hand wave": 2.0,
    "two hand front clap": 1.8,
    "right arm throw": 1.6,
    "right hand draw circle clockwise": 2.2,
    "right hand draw circle counter clockwise": 2.2,
    "jogging in place": 2.2,
    "walking in place": 2.4,
    "squat": 2.2,
    "two hand push": 2.0,
    "right arm curl": 2.0,
}


def _keyframes(phase: np.ndarray, keys: list[float], **values: list[float]) -> dict[str, np.ndarray]:
    """Smooth (C2, zero velocity at both ends) interpolation of each key's values."""
    return {name: CubicSpline(keys, series, bc_type="clamped")(np.clip(phase, 0.0, 1.0))
            for name, series in values.items()}


def _both_arms(angles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same arm angles on both sides (symmetric two-handed actions)."""
    return {f"{side}_{name}": value for side in ("left", "right") for name, value in angles.items()}


def _lift(angle: np.ndarray) -> np.ndarray:
    """One leg's lift profile over a stride: up during half the cycle, planted the other half."""
    return np.clip(np.sin(angle), 0.0, None) ** 2


def swipe_left(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Raise the right arm out to the right, sweep it horizontally across to the left, lower it."""
    return _keyframes(
        phase, [0.0, 0.25, 0.5, 0.75, 1.0],
        right_shoulder_elevation=[8, 82, 90, 82, 8],
        right_shoulder_plane=[80, 65, 10, -45, -45],
        right_elbow=[12, 20, 12, 25, 12],
        torso_yaw=[0, -10, 0, 12, 0],
    )


def swipe_right(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Exactly the time reversal of ``swipe_left``."""
    return swipe_left(1.0 - phase)


def wave(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Right upper arm out to the side, forearm up, hand swinging side to side four times."""
    return {
        "right_shoulder_elevation": 85, "right_shoulder_plane": 85, "right_shoulder_twist": 90,
        "right_elbow": 95 + 30 * np.sin(2 * np.pi * 4 * phase),
    }


def clap(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Both arms forward, opening and closing so the hands meet in front of the chest three times."""
    closing = 0.5 - 0.5 * np.cos(2 * np.pi * 3 * phase)   # 0 = open, 1 = hands together
    return _both_arms({
        "shoulder_elevation": 72 - 2 * closing, "shoulder_plane": 40 - 72 * closing,
        "elbow": 35 + 5 * closing,
    })


def throw(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Overarm throw: wind the right arm up and back, whip it forward and across, recover."""
    return _keyframes(
        phase, [0.0, 0.4, 0.55, 0.68, 1.0],
        right_shoulder_elevation=[8, 115, 100, 50, 8],
        right_shoulder_plane=[80, 100, 20, -20, 60],
        right_shoulder_twist=[0, 90, 20, 0, 0],
        right_elbow=[12, 110, 15, 25, 12],
        torso_yaw=[0, -25, 15, 12, 0],
        torso_pitch=[0, -5, 15, 18, 0],
    )


def circle_clockwise(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Two circles with the extended right arm, clockwise as seen by the subject (top,
    then the subject's right, bottom, left); a camera in front sees them counter clockwise."""
    angle = 2 * np.pi * 2 * phase
    return {
        "right_shoulder_elevation": 72 + 28 * np.cos(angle),
        "right_shoulder_plane": 15 + 30 * np.sin(angle),
        "right_elbow": 20,
    }


def circle_counter_clockwise(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Exactly the time reversal of ``circle_clockwise``."""
    return circle_clockwise(1.0 - phase)


def _in_place_gait(phase: np.ndarray, strides: float, hip: float, knee: float, arm_swing: float,
                   elbow: float, bounce: float, lean: float) -> dict[str, np.ndarray]:
    """Alternating knee lifts on the spot with opposite arm swing."""
    angle = 2 * np.pi * strides * phase
    pose = {"torso_pitch": lean, "bounce": bounce * np.sin(angle) ** 2}
    for side, offset in (("left", 0.0), ("right", np.pi)):
        lift = _lift(angle + offset)
        pose.update({
            f"{side}_hip": hip * lift, f"{side}_knee": 4 + knee * lift,
            # The arm swings forward while the opposite knee rises.
            f"{side}_shoulder_elevation": 10 - arm_swing * np.sin(angle + offset),
            f"{side}_shoulder_plane": 0, f"{side}_elbow": elbow,
        })
    return pose


def jogging(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Fast, high knee lifts with bent arms and a small flight phase (3.5 strides)."""
    return _in_place_gait(phase, strides=3.5, hip=65, knee=95, arm_swing=30, elbow=90,
                          bounce=0.05, lean=6)


def walking(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Slow, low alternating steps with loose arms (2 strides)."""
    return _in_place_gait(phase, strides=2.0, hip=35, knee=55, arm_swing=15, elbow=20,
                          bounce=0.0, lean=2)


def squat(phase: np.ndarray) -> dict[str, np.ndarray]:
    """One slow squat: hips back and down, torso leaning forward, arms forward for balance."""
    keys = [0.0, 0.45, 0.55, 1.0]
    pose = _keyframes(phase, keys, torso_pitch=[0, 35, 35, 0])
    for side in ("left", "right"):
        pose.update(_keyframes(
            phase, keys,
            **{f"{side}_hip": [0, 95, 95, 0], f"{side}_knee": [4, 115, 115, 4],
               f"{side}_shoulder_elevation": [8, 80, 80, 8], f"{side}_shoulder_plane": [80, 10, 10, 80],
               f"{side}_elbow": [12, 10, 10, 12]},
        ))
    return pose


def push(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Two pushes: both hands from the chest straight forward, with a slight forward lean."""
    keys = [0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0]
    pose = _keyframes(phase, keys, torso_pitch=[0, 0, 10, 0, 10, 0, 0])
    arm = _keyframes(
        phase, keys,
        shoulder_elevation=[8, 50, 85, 50, 85, 50, 8],
        shoulder_plane=[80, 25, 12, 25, 12, 25, 80],
        elbow=[12, 120, 5, 120, 5, 120, 12],
    )
    return pose | _both_arms(arm)


def curl(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Two biceps curls of the right forearm with the upper arm kept by the side."""
    return _keyframes(
        phase, [0.0, 0.25, 0.5, 0.75, 1.0],
        right_elbow=[12, 140, 15, 140, 12],
        right_shoulder_elevation=[8, 15, 8, 15, 8],
    )


PROGRAMS: dict[str, Callable[[np.ndarray], dict]] = dict(zip(CLASS_NAMES, [
    swipe_left, swipe_right, wave, clap, throw, circle_clockwise, circle_counter_clockwise,
    jogging, walking, squat, push, curl,
]))


def action_pose(class_name: str, phase: np.ndarray) -> Pose:
    """The full ideal pose of ``class_name`` at each phase value (keys not moved stay at rest)."""
    phase = np.asarray(phase, dtype=float)
    moved = PROGRAMS[class_name](phase)
    return {key: np.broadcast_to(np.asarray(moved.get(key, REST_POSE[key]), dtype=float), phase.shape).copy()
            for key in POSE_KEYS}


@functools.lru_cache(maxsize=None)
def action_centre(class_name: str) -> dict[str, float]:
    """The program's pose averaged over its phase: the centre that a subject's larger or
    smaller movements scale around (scaling around rest would, e.g., stop clapping hands
    from meeting)."""
    pose = action_pose(class_name, np.linspace(0.0, 1.0, 201))
    return {key: float(value.mean()) for key, value in pose.items()}
