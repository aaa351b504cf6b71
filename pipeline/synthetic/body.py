"""Articulated body: proportions and forward kinematics evaluated for a whole time array.

World frame: x forward (the body faces +x), y to the body's left, z up, metres.
Joint angles are in degrees. The shoulder uses the plane-of-elevation convention (ISB):
``plane`` is the azimuth of the plane the arm is raised in (0 = straight forward, 90 =
out to the side, negative = across the body), ``elevation`` is how far the arm is raised
from hanging down, and ``twist`` rotates the arm about its own long axis (positive =
external rotation). Unlike flexion/abduction angles, a horizontal sweep of a raised arm is
then a change of a single angle, and every angle means the same on both sides (mirror
symmetric), so left/right programs are written once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Pose keys: joint angles in degrees, and ``bounce``: vertical lift of the whole body off
# the ground in metres (for jogging's flight phase).
SIDES = ("left", "right")
# +1 on the left (towards +y), -1 on the right: mirrors every lateral rotation.
SIDE_SIGN = {"left": 1.0, "right": -1.0}
POSE_KEYS = (
    "torso_pitch", "torso_yaw", "bounce",
    *(f"{side}_{joint}" for side in SIDES for joint in (
        "shoulder_elevation", "shoulder_plane", "shoulder_twist", "elbow", "hip", "knee",
    )),
)
# Softness (metres) of the smooth minimum that picks the supporting foot: a hard minimum
# would put a kink in the pelvis height, i.e. a spike in the thigh accelerometer.
SUPPORT_SOFTNESS = 0.01

Pose = dict[str, np.ndarray]


def rotation_y(angle: np.ndarray) -> np.ndarray:
    """Rotations about y by ``angle`` (radians, shape (n,)) as an (n, 3, 3) array."""
    cos, sin = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([cos, zero, sin, zero, one, zero, -sin, zero, cos], axis=-1).reshape(-1, 3, 3)


def rotation_z(angle: np.ndarray) -> np.ndarray:
    """Rotations about z by ``angle`` (radians, shape (n,)) as an (n, 3, 3) array."""
    cos, sin = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], axis=-1).reshape(-1, 3, 3)


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths and half-widths in metres (defaults: an adult about 1.77 m tall)."""

    torso: float = 0.50              # hip-joint level to the base of the neck
    neck: float = 0.09
    head_radius: float = 0.105
    shoulder_half_width: float = 0.185
    shoulder_drop: float = 0.04      # shoulder joints sit slightly below the neck base
    hip_half_width: float = 0.095
    upper_arm: float = 0.29
    forearm: float = 0.26
    hand: float = 0.08
    thigh: float = 0.44
    shank: float = 0.42
    ankle_height: float = 0.08
    foot: float = 0.22

    def scaled(self, height: float, arm: float = 1.0, leg: float = 1.0, width: float = 1.0) -> BodyShape:
        """This shape scaled overall by ``height`` and additionally per limb group."""
        return BodyShape(
            torso=self.torso * height, neck=self.neck * height,
            head_radius=self.head_radius * height,
            shoulder_half_width=self.shoulder_half_width * height * width,
            shoulder_drop=self.shoulder_drop * height,
            hip_half_width=self.hip_half_width * height * width,
            upper_arm=self.upper_arm * height * arm, forearm=self.forearm * height * arm,
            hand=self.hand * height * arm,
            thigh=self.thigh * height * leg, shank=self.shank * height * leg,
            ankle_height=self.ankle_height * height, foot=self.foot * height,
        )


@dataclass(frozen=True)
class Skeleton:
    """Joint positions (n, 3) and segment orientations (n, 3, 3; columns = the segment's
    axes in world coordinates) for n time points."""

    joints: dict[str, np.ndarray]
    frames: dict[str, np.ndarray]


def _smooth_minimum(first: np.ndarray, second: np.ndarray, softness: float) -> np.ndarray:
    low = np.minimum(first, second)
    return low - softness * np.log(np.exp((low - first) / softness) + np.exp((low - second) / softness))


def forward_kinematics(shape: BodyShape, pose: Pose) -> Skeleton:
    """Joint positions and segment frames for every time point of ``pose``.

    The body is then placed on the ground: the lower ankle (smoothly) stands at ankle
    height, raised by ``pose['bounce']``, and the feet's mean forward position is kept at
    x = 0 so planted feet do not slide when the hips bend (squats).
    """
    radians = {key: np.radians(np.asarray(pose[key], dtype=float)) for key in POSE_KEYS if key != "bounce"}
    count = len(radians["torso_pitch"])
    torso = rotation_z(radians["torso_yaw"]) @ rotation_y(radians["torso_pitch"])
    pelvis = np.zeros((count, 3))
    neck = pelvis + torso @ np.array([0.0, 0.0, shape.torso])
    joints = {
        "pelvis": pelvis, "neck": neck,
        "head": neck + torso @ np.array([0.0, 0.0, shape.neck + shape.head_radius]),
    }
    frames = {"torso": torso}
    for side in SIDES:
        sign = SIDE_SIGN[side]
        plane = sign * radians[f"{side}_shoulder_plane"]
        # Raise the arm within the rotated plane, then undo the plane rotation about the arm
        # so that the plane angle alone does not spin the arm (ISB Y-X-Y decomposition).
        upper_arm = (torso @ rotation_z(plane) @ rotation_y(-radians[f"{side}_shoulder_elevation"])
                     @ rotation_z(-plane) @ rotation_z(sign * radians[f"{side}_shoulder_twist"]))
        forearm = upper_arm @ rotation_y(-radians[f"{side}_elbow"])
        shoulder = neck + torso @ np.array([0.0, sign * shape.shoulder_half_width, -shape.shoulder_drop])
        elbow = shoulder + upper_arm @ np.array([0.0, 0.0, -shape.upper_arm])
        wrist = elbow + forearm @ np.array([0.0, 0.0, -shape.forearm])
        thigh = rotation_y(-radians[f"{side}_hip"])
        shank = thigh @ rotation_y(radians[f"{side}_knee"])
        hip = pelvis + np.array([0.0, sign * shape.hip_half_width, 0.0])
        knee = hip + thigh @ np.array([0.0, 0.0, -shape.thigh])
        ankle = knee + shank @ np.array([0.0, 0.0, -shape.shank])
        joints.update({
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_hand": wrist + forearm @ np.array([0.0, 0.0, -shape.hand]),
            f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle,
            # The foot stays level (heel to toe, just above the sole) whatever the knee does.
            f"{side}_heel": ankle + np.array([-0.2 * shape.foot, 0.0, -0.6 * shape.ankle_height]),
            f"{side}_toe": ankle + np.array([0.8 * shape.foot, 0.0, -0.6 * shape.ankle_height]),
        })
        frames.update({f"{side}_upper_arm": upper_arm, f"{side}_forearm": forearm,
                       f"{side}_thigh": thigh, f"{side}_shank": shank})
    support = _smooth_minimum(joints["left_ankle"][:, 2], joints["right_ankle"][:, 2], SUPPORT_SOFTNESS)
    offset = np.zeros((count, 3))
    offset[:, 0] = -(joints["left_ankle"][:, 0] + joints["right_ankle"][:, 0]) / 2
    offset[:, 2] = shape.ankle_height - support + np.asarray(pose["bounce"], dtype=float)
    return Skeleton({name: position + offset for name, position in joints.items()}, frames)
