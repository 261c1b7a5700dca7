"""The built-in data set: a seeded generator that renders a stick figure acting, written as MP4 files.

Eight actions, six of which are three pairs that are each other's reversal in time (sit_down / stand_up,
fall_down / get_up, walk_left / walk_right), plus wave and jump. Each clip of the second action of a pair
is a clip of the first one played backwards, frame for frame (`stand_up/stand_up_007.mp4` is
`sit_down/sit_down_007.mp4` reversed), and the loader keeps the two in one split (`backward_source`). So a
model that ignores frame order (the mean of frame features) sees the same frames twice with two labels: on
the pairs it gets at most one of the two right, exactly, not 0.5 give or take the luck of 60 test clips;
an RNN can tell them apart. Clips vary in position, size, speed, length, source frame rate, colours,
background and noise, and the files go into one folder per class, the layout a user's own data (UCF101) has.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tasks.common.materialize import materialize
from tasks.video_actions.config import DataConfig
from tasks.video_actions.video_io import write_video

log = logging.getLogger(__name__)

# The forward motions go stand -> sit, stand -> lie, left -> right; these play them backwards (action: source).
_PLAYED_BACKWARDS = {"stand_up": "sit_down", "get_up": "fall_down", "walk_left": "walk_right"}
ACTIONS = ("fall_down", "get_up", "jump", "sit_down", "stand_up", "walk_left", "walk_right", "wave")
_SUPERSAMPLE = 2  # draw 2x larger, then shrink: anti-aliased lines at 64 px
_GENERATOR_VERSION = 5  # bump when the rendering or encoding changes, so old folders are not reused
# The same clip must encode to the same bytes on every machine: x264's output depends on its thread count (auto =
# the CPUs it may use), and its macroblock tree gave different bytes from one run to the next on these 64 px clips.
_X264 = {"crf": "20", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}

# Limb lengths as fractions of the figure's height.
TORSO, THIGH, SHIN, UPPER_ARM, FOREARM, HEAD = 0.34, 0.24, 0.24, 0.17, 0.16, 0.08


def _pose(**angles) -> dict:
    """A pose: hip offset (dx, dy in figure heights, dy up) and limb angles in radians from 'straight down'."""
    pose = dict(dx=0.0, dy=0.0, torso=math.pi, thigh_l=0.08, shin_l=0.0, thigh_r=-0.08, shin_r=0.0,
                arm_l=0.25, fore_l=0.0, arm_r=-0.25, fore_r=0.0)
    pose.update(angles)
    return pose


def _mix(a: dict, b: dict, w: float) -> dict:
    return {k: (1 - w) * a[k] + w * b[k] for k in a}


def _ease(w: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(w, 0.0), 1.0))


def _standing() -> dict:
    return _pose()


def _sitting(facing: int) -> dict:
    # Hips drop to seat height; thighs point forward, shins straight down, hands on the knees.
    return _pose(dy=-(THIGH + SHIN - SHIN), torso=math.pi - 0.12 * facing, thigh_l=facing * math.pi / 2,
                 shin_l=-facing * math.pi / 2, thigh_r=facing * (math.pi / 2 - 0.1), shin_r=-facing * (math.pi / 2 - 0.1),
                 arm_l=facing * 0.9, fore_l=facing * 0.6, arm_r=facing * 0.8, fore_r=facing * 0.7)


def _lying(facing: int) -> dict:
    # Flat on the ground: hips near the floor, torso and legs horizontal, arms along the body.
    # The head ends on the side opposite to `facing`, the feet on the `facing` side.
    return _pose(dy=-(THIGH + SHIN) + 0.04, dx=-0.15 * facing, torso=math.pi + facing * math.pi / 2,
                 thigh_l=facing * math.pi / 2, thigh_r=facing * (math.pi / 2 - 0.08),
                 arm_l=facing * math.pi / 2 - 0.15, arm_r=facing * math.pi / 2 + 0.15)


def _transition_poses(start: dict, end: dict, times: np.ndarray, rng) -> list[dict]:
    """Holds `start`, moves to `end` over 1.5-5 s at a random moment, holds `end` (>= 2 s each side)."""
    length = times[-1] + (times[1] - times[0] if len(times) > 1 else 1.0)
    duration = rng.uniform(1.5, min(5.0, length - 4.0))
    begin = rng.uniform(2.0, length - 2.0 - duration)
    return [_mix(start, end, _ease((t - begin) / duration)) for t in times]


def _walk_poses(times: np.ndarray, rng, span: float) -> list[dict]:
    """Walks from left to right (dx in figure heights), pausing a random while at either end; legs swing."""
    length = times[-1] + (times[1] - times[0] if len(times) > 1 else 1.0)
    pause_start, pause_end = rng.uniform(0, 2.5), rng.uniform(0, 2.5)
    step_hz, phase = rng.uniform(0.8, 1.4), rng.uniform(0, 2 * math.pi)
    poses = []
    for t in times:
        w = min(max((t - pause_start) / (length - pause_start - pause_end), 0.0), 1.0)
        moving = 0.0 < w < 1.0
        swing = 0.45 * math.sin(2 * math.pi * step_hz * t + phase) if moving else 0.0
        poses.append(_pose(dx=-span / 2 + span * w, dy=0.02 * abs(swing), thigh_l=0.08 + swing, thigh_r=-0.08 - swing,
                           shin_l=-0.3 * max(swing, 0), shin_r=0.3 * max(-swing, 0), arm_l=0.25 - swing, arm_r=-0.25 + swing))
    return poses


def _wave_poses(times: np.ndarray, rng) -> list[dict]:
    side = rng.choice([-1, 1])
    hz, phase = rng.uniform(0.6, 1.5), rng.uniform(0, 2 * math.pi)
    poses = []
    for t in times:
        arm = side * rng.uniform(2.3, 2.6)
        poses.append(_pose(**{"arm_l" if side > 0 else "arm_r": arm,
                              "fore_l" if side > 0 else "fore_r": side * 0.7 * math.sin(2 * math.pi * hz * t + phase)}))
    return poses


def _jump_poses(times: np.ndarray, rng) -> list[dict]:
    hz, phase = rng.uniform(0.5, 1.0), rng.uniform(0, 2 * math.pi)
    poses = []
    for t in times:
        c = math.sin(2 * math.pi * hz * t + phase)  # > 0 in the air, < 0 crouching
        crouch = max(-c, 0.0)
        poses.append(_pose(dy=0.35 * max(c, 0.0) - 0.15 * crouch, thigh_l=0.08 + 0.9 * crouch, shin_l=-1.6 * crouch,
                           thigh_r=-0.08 - 0.9 * crouch, shin_r=1.6 * crouch, arm_l=0.25 + 2.4 * max(c, 0.0),
                           arm_r=-0.25 - 2.4 * max(c, 0.0)))
    return poses


def action_poses(action: str, times: np.ndarray, rng: np.random.Generator, span: float) -> list[dict]:
    """The pose at each time of a clip of `action`; reversal partners are the forward action played backwards."""
    facing = int(rng.choice([-1, 1]))  # sideways poses face either way, whatever the action
    if action in ("sit_down", "stand_up"):
        poses = _transition_poses(_standing(), _sitting(facing), times, rng)
    elif action in ("fall_down", "get_up"):
        poses = _transition_poses(_standing(), _lying(facing), times, rng)
    elif action in ("walk_left", "walk_right"):
        poses = _walk_poses(times, rng, span)
    elif action == "wave":
        poses = _wave_poses(times, rng)
    elif action == "jump":
        poses = _jump_poses(times, rng)
    else:
        raise ValueError(f"unknown built-in action {action!r}; known: {list(ACTIONS)}")
    return poses[::-1] if action in _PLAYED_BACKWARDS else poses


def _limb(start, angle, length):
    return start[0] + length * math.sin(angle), start[1] + length * math.cos(angle)  # y grows downwards


def _segments(pose: dict, hip_x: float, ground_y: float, height: float):
    """Line segments (pixel coordinates, y down) and head circle of a pose."""
    hip = (hip_x + pose["dx"] * height, ground_y - (THIGH + SHIN + pose["dy"]) * height)
    neck = _limb(hip, pose["torso"], TORSO * height)
    lines = [(hip, neck)]
    for side in ("l", "r"):
        knee = _limb(hip, pose[f"thigh_{side}"], THIGH * height)
        foot = _limb(knee, pose[f"thigh_{side}"] + pose[f"shin_{side}"], SHIN * height)
        elbow = _limb(neck, pose[f"arm_{side}"], UPPER_ARM * height)
        hand = _limb(elbow, pose[f"arm_{side}"] + pose[f"fore_{side}"], FOREARM * height)
        lines += [(hip, knee), (knee, foot), (neck, elbow), (elbow, hand)]
    head = _limb(neck, pose["torso"], HEAD * height)
    return lines, head


def _background(rng, size: int) -> Image.Image:
    """A random two-colour vertical gradient (a wall and a floor, of any colours), drawn at display size."""
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, size)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp) * np.ones((size, size, 1))
    return Image.fromarray(image.astype(np.uint8))


def render_clip(action: str, seconds: float, source_fps: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Renders one clip: uint8 (frames, size, size, 3)."""
    times = np.arange(int(round(seconds * source_fps))) / source_fps
    height = rng.uniform(0.5, 0.8) * size  # figure height in pixels
    span = (size * rng.uniform(0.45, 0.7) - 0.3 * height) / height  # walking distance, in figure heights
    hip_x = size / 2 + rng.uniform(-0.12, 0.12) * size
    ground_y = size - rng.uniform(0.04, 0.15) * size
    poses = action_poses(action, times, rng, span)
    background = _background(rng, size).resize((size * _SUPERSAMPLE,) * 2, Image.NEAREST)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    while np.abs(np.subtract(colour, np.asarray(background).reshape(-1, 3).mean(0))).sum() < 200:
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))  # keep the figure visible on its background
    width = max(1, round(rng.uniform(0.04, 0.06) * size * _SUPERSAMPLE))
    noise = rng.uniform(1.0, 6.0)  # sensor noise, in grey levels
    frames = np.empty((len(times), size, size, 3), np.uint8)
    for i, pose in enumerate(poses):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        jitter = rng.normal(0, 0.4, 2) * _SUPERSAMPLE  # a hand-held camera
        scale = lambda p: ((p[0] + jitter[0]) * _SUPERSAMPLE, (p[1] + jitter[1]) * _SUPERSAMPLE)  # noqa: E731
        lines, head = _segments(pose, hip_x, ground_y, height)
        for a, b in lines:
            draw.line([scale(a), scale(b)], fill=colour, width=width)
        cx, cy = scale(head)
        r = HEAD * height * _SUPERSAMPLE
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        small = np.asarray(image.resize((size, size), Image.BILINEAR), np.float32)
        frames[i] = np.clip(small + rng.normal(0, noise, small.shape), 0, 255).astype(np.uint8)
    return frames


def builtin_settings(config: DataConfig) -> dict:
    """What the generated clips depend on: other settings get another folder, never these files."""
    return dict(version=_GENERATOR_VERSION, clips_per_class=config.builtin_clips_per_class,
                seconds=list(config.builtin_seconds), source_fps=list(config.builtin_source_fps),
                size=config.builtin_frame_size, seed=config.builtin_seed)


def backward_source(path: Path) -> Path | None:
    """The clip that a built-in clip plays backwards (stand_up/stand_up_007.mp4 -> sit_down/sit_down_007.mp4)."""
    action = path.parent.name
    if action not in _PLAYED_BACKWARDS or not path.name.startswith(action):
        return None
    source = _PLAYED_BACKWARDS[action]
    return path.parent.parent / source / (source + path.name[len(action):])


def generate_builtin(config: DataConfig) -> Path:
    """The built-in clips (MP4/H.264, one folder per action), written once (tasks/common/materialize.py)."""
    def write(root: Path) -> None:
        log.info("generating %d built-in clips", config.builtin_clips_per_class * len(ACTIONS))
        rng = np.random.default_rng(config.builtin_seed)
        low, high = config.builtin_seconds
        partner = {source: action for action, source in _PLAYED_BACKWARDS.items()}
        for action in ACTIONS:
            (root / action).mkdir()
        for action in (a for a in ACTIONS if a not in _PLAYED_BACKWARDS):
            for index in range(config.builtin_clips_per_class):
                seconds = float(rng.uniform(low, high))
                source_fps = int(rng.choice(config.builtin_source_fps))
                frames = render_clip(action, seconds, source_fps, config.builtin_frame_size, rng)
                for name, ordered in ((action, frames), (partner.get(action), frames[::-1])):
                    if name:
                        write_video(root / name / f"{name}_{index:03d}.mp4", ordered, source_fps, options=_X264)

    return materialize(config.builtin_dir, builtin_settings(config), write)
