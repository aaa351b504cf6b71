"""Video rendering of the body: pinhole camera, capsule limbs with a z-buffer, scenes.

Everything is vectorised over all frames of a video at once: for each body part, the
distance from every pixel of its bounding box to the part's image segment, for every
frame, in one numpy expression.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.synthetic.body import Skeleton
from pipeline.synthetic.motion import SCENE_STREAM, SubjectProfile, random_generator

CAMERA_HEIGHT = 1.3          # metres: about chest height
LOOK_AT = np.array([0.0, 0.0, 0.95])   # body centre
FIELD_OF_VIEW = 34.0         # vertical, degrees: a standing adult fills ~3/4 of the frame at 4 m
HORIZON = 0.7                # fraction of the image height where the backdrop's floor starts
FRAME_NOISE = 0.012          # per-pixel camera noise, fraction of full scale

# Body parts: (first point, second point, radius in metres for a 1.77 m person, colour).
# A sphere is a part whose two points coincide.
BODY_PARTS = (
    ("abdomen_bottom", "abdomen_top", 0.13, "shirt"),
    ("left_shoulder", "right_shoulder", 0.065, "shirt"),
    ("left_hip", "right_hip", 0.085, "trousers"),
    ("neck", "head", 0.045, "skin"),
    ("head", "head", 0.105, "skin"),
    ("hair", "hair", 0.1, "hair"),
    *((f"{side}_{first}", f"{side}_{second}", radius, colour)
      for side in ("left", "right")
      for first, second, radius, colour in (
          ("shoulder", "elbow", 0.048, "shirt"), ("elbow", "wrist", 0.038, "skin"),
          ("wrist", "hand", 0.042, "skin"), ("hip", "knee", 0.07, "trousers"),
          ("knee", "ankle", 0.052, "trousers"), ("heel", "toe", 0.04, "shoes"),
      )),
)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera without roll; ``right``/``down``/``forward`` are unit world vectors."""

    position: np.ndarray
    right: np.ndarray
    down: np.ndarray
    forward: np.ndarray
    focal: float     # pixels
    size: int        # square image side in pixels

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image column, row (pixels) and depth (metres, at least 0.1) of world points (..., 3)."""
        relative = points - self.position
        depth = np.maximum(relative @ self.forward, 0.1)
        centre = self.size / 2
        return (centre + self.focal * (relative @ self.right) / depth,
                centre + self.focal * (relative @ self.down) / depth, depth)


def camera_for_view(azimuth: float, distance: float, size: int) -> Camera:
    """Camera ``distance`` metres from the body at ``azimuth`` degrees (0 = in front of the
    person, 90 = at their left side), at chest height, looking at the body centre."""
    angle = np.radians(azimuth)
    position = np.array([distance * np.cos(angle), distance * np.sin(angle), CAMERA_HEIGHT])
    forward = LOOK_AT - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    focal = size / 2 / np.tan(np.radians(FIELD_OF_VIEW) / 2)
    return Camera(position, right, down, forward, float(focal), size)


def scene_background(seed: int, scene: int, size: int) -> np.ndarray:
    """Backdrop (size, size, 3) float32 in [0, 1], the same for every video of the scene:
    scene 1 a plain wall-and-floor gradient, later scenes with random static clutter."""
    rows = (np.arange(size, dtype=np.float32) + 0.5) / size
    wall = np.array([0.80, 0.79, 0.74], np.float32) - 0.12 * rows[:, None]
    floor = np.array([0.58, 0.52, 0.46], np.float32) - 0.08 * (rows[:, None] - HORIZON)
    column = np.where(rows[:, None] < HORIZON, wall, floor)
    image = np.repeat(column[:, None, :], size, axis=1).copy()
    if scene == 1:
        return image
    rng = random_generator(seed, SCENE_STREAM, scene)
    rows_grid, columns_grid = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for _ in range(int(rng.integers(10, 17))):
        # Muted colours (half grey), like furniture and posters rather than test patterns.
        colour = (0.5 * rng.uniform(0.1, 0.9, 3) + 0.5 * rng.uniform(0.3, 0.8)).astype(np.float32)
        centre_x, centre_y = rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.95)
        half_width, half_height = rng.uniform(0.03, 0.18), rng.uniform(0.03, 0.2)
        if rng.random() < 0.5:
            mask = (np.abs(columns_grid - centre_x) < half_width) & (np.abs(rows_grid - centre_y) < half_height)
        else:
            mask = ((columns_grid - centre_x) / half_width) ** 2 + ((rows_grid - centre_y) / half_height) ** 2 < 1
        image[mask] = colour
    return image


def scene_occluders(seed: int, scene: int, num_scenes: int) -> list[tuple[float, float, float, float, tuple]]:
    """Foreground objects of the last scene (none elsewhere), as rectangles in the vertical
    plane through the body facing the camera: (left, right) lateral metres from the body
    centre (positive = image right), (bottom, top) heights in metres, and an RGB colour.
    Defined in body-plane metres they hide the same part of the body from every view."""
    if scene != num_scenes or num_scenes == 1:
        return []
    rng = random_generator(seed, SCENE_STREAM, scene, 1)
    side = rng.choice([-1.0, 1.0])
    pillar_centre, pillar_half_width = side * rng.uniform(0.25, 0.4), rng.uniform(0.08, 0.12)
    box_centre, box_half_width = rng.uniform(-0.25, 0.25), rng.uniform(0.3, 0.45)
    return [
        (pillar_centre - pillar_half_width, pillar_centre + pillar_half_width, -1.0, 3.0, (0.55, 0.55, 0.58)),
        (box_centre - box_half_width, box_centre + box_half_width, -1.0, rng.uniform(0.45, 0.7), (0.50, 0.36, 0.22)),
    ]


def _part_points(skeleton: Skeleton, scale: float) -> dict[str, np.ndarray]:
    """Joint positions plus the extra points the drawing needs (torso ends, hair centre)."""
    points = dict(skeleton.joints)
    torso = skeleton.frames["torso"]
    points["abdomen_bottom"] = skeleton.joints["pelvis"] + torso @ np.array([0.0, 0.0, 0.09 * scale])
    points["abdomen_top"] = skeleton.joints["neck"] - torso @ np.array([0.0, 0.0, 0.1 * scale])
    # Hair sits back and up on the head, so the face shows from the front and hair from behind.
    points["hair"] = skeleton.joints["head"] + torso @ (np.array([-0.03, 0.0, 0.025]) * scale)
    return points


def render_body(skeleton: Skeleton, subject: SubjectProfile, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Body colour (frames, size, size, 3) and coverage mask (frames, size, size) of the
    skeleton at each of its time points, drawn nearest-surface-first with a z-buffer."""
    scale = subject.shape.head_radius / 0.105
    points = _part_points(skeleton, scale)
    frame_count, size = len(skeleton.joints["pelvis"]), camera.size
    depth_buffer = np.full((frame_count, size, size), np.inf, np.float32)
    part_index = np.full((frame_count, size, size), -1, np.int16)
    shading = np.zeros((frame_count, size, size), np.float32)
    projected = {name: [value.astype(np.float32) for value in camera.project(position)]
                 for name, position in points.items()}
    pixel_centres = np.arange(size, dtype=np.float32) + 0.5
    for index, (first, second, radius, _) in enumerate(BODY_PARTS):
        radius *= scale
        column_a, row_a, depth_a = projected[first]
        column_b, row_b, depth_b = projected[second]
        radius_a, radius_b = radius * camera.focal / depth_a, radius * camera.focal / depth_b
        # Only the pixels this part can reach in any frame.
        left = int(np.clip(np.floor(min((column_a - radius_a).min(), (column_b - radius_b).min())), 0, size))
        right = int(np.clip(np.ceil(max((column_a + radius_a).max(), (column_b + radius_b).max())) + 1, 0, size))
        top = int(np.clip(np.floor(min((row_a - radius_a).min(), (row_b - radius_b).min())), 0, size))
        bottom = int(np.clip(np.ceil(max((row_a + radius_a).max(), (row_b + radius_b).max())) + 1, 0, size))
        if left >= right or top >= bottom:
            continue
        to_pixel_x = pixel_centres[None, None, left:right] - column_a[:, None, None]
        to_pixel_y = pixel_centres[None, top:bottom, None] - row_a[:, None, None]
        along_x = (column_b - column_a)[:, None, None]
        along_y = (row_b - row_a)[:, None, None]
        length_squared = along_x ** 2 + along_y ** 2
        inverse_length = np.where(length_squared > 1e-6, 1.0 / np.maximum(length_squared, 1e-6), 0.0)
        # Closest point of the segment: parameter t in [0, 1] along it.
        t = np.clip((to_pixel_x * along_x + to_pixel_y * along_y) * inverse_length, 0.0, 1.0)
        offset_x = to_pixel_x - t * along_x
        offset_y = to_pixel_y - t * along_y
        distance_squared = offset_x ** 2 + offset_y ** 2
        pixel_radius = radius_a[:, None, None] + t * (radius_b - radius_a)[:, None, None]
        inside = distance_squared < pixel_radius ** 2
        # Height of the round surface above the axis: gives depth and cylinder shading.
        bulge = np.sqrt(np.clip(1.0 - distance_squared / np.maximum(pixel_radius ** 2, 1e-6), 0.0, 1.0))
        depth = depth_a[:, None, None] + t * (depth_b - depth_a)[:, None, None] - bulge * radius
        region = (slice(None), slice(top, bottom), slice(left, right))
        nearer = inside & (depth < depth_buffer[region])
        np.copyto(depth_buffer[region], depth, where=nearer)
        np.copyto(part_index[region], np.int16(index), where=nearer)
        np.copyto(shading[region], 0.55 + 0.45 * bulge, where=nearer)
    palette = np.array([subject.colours[colour] for *_, colour in BODY_PARTS], np.float32)
    covered = part_index >= 0
    colour = palette[np.maximum(part_index, 0)] * shading[..., None]
    return colour, covered


def render_frames(skeleton: Skeleton, subject: SubjectProfile, camera: Camera, background: np.ndarray,
                  occluders: list, rng: np.random.Generator) -> np.ndarray:
    """Finished uint8 RGB frames (frames, size, size, 3): backdrop, body, foreground
    occluders, then a per-video brightness change and per-frame camera noise from ``rng``."""
    colour, covered = render_body(skeleton, subject, camera)
    frames = np.where(covered[..., None], colour, background[None])
    size = camera.size
    lateral = np.array([camera.right[0], camera.right[1], 0.0])
    lateral /= np.linalg.norm(lateral)
    for left, right, bottom, top, occluder_colour in occluders:
        corners = np.array([side * lateral + [0.0, 0.0, height] for side in (left, right) for height in (bottom, top)])
        columns, rows, _ = camera.project(corners)
        first_column, last_column = np.clip(np.round([columns.min(), columns.max()]).astype(int), 0, size)
        first_row, last_row = np.clip(np.round([rows.min(), rows.max()]).astype(int), 0, size)
        # Lit from the left: a horizontal brightness ramp makes it read as a solid object.
        ramp = np.linspace(1.1, 0.8, max(last_column - first_column, 1), dtype=np.float32)[:, None]
        frames[:, first_row:last_row, first_column:last_column] = np.asarray(occluder_colour, np.float32) * ramp
    brightness = np.float32(rng.uniform(0.85, 1.15))
    noise = rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(FRAME_NOISE)
    return np.clip((frames * brightness + noise) * 255 + 0.5, 0, 255).astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode uint8 RGB frames (n, height, width, 3) as MPEG-4 Part 2 (yuv420p) with PyAV."""
    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # About 1.5 bits per pixel: clean at these small sizes.
        stream.bit_rate = int(1.5 * width * height * fps)
        stream.thread_count = 1   # single-threaded encoding is bit-exact run to run
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
