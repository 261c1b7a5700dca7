"""Simulated feature sequences with the hard parts of real ones: few clips, long clips, unscaled channels.

    python -m tasks.video_actions.simulate out.npz [--channels 3] [--stride 3] [--seed 0]

One tracked value per video frame (say the height of a hand): the arm rises from rest, holds, and returns.
Two classes differ only by a subtle shape over time: `draw` dips briefly below rest before rising (reaching
for something at the hip) and again after lowering (putting it back); `point` rises and falls smoothly.
Onset, durations, heights, dip depth, drift and noise vary per clip, so neither the mean value, nor the
peak, nor the length tells the classes apart: only the shape of the sequence does, so an order-blind
model stays near chance. With `--channels 3`, two more channels ride along on very different scales
(a horizontal position in pixels around 300, a confidence around 0.01, of which only the first carries
a weak trace of the dip), the unscaled-channel problem. Written as the `.npz` that `data.source=features`
reads: `features`, `labels` (strings), `class_names`, `split` (40 train, 10 val, 150 test by default).
Used by the docs' tables and the tests; real data is never shipped or downloaded.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CLASS_NAMES = ("draw", "point")


def _smooth_step(t: np.ndarray, start: float, width: float) -> np.ndarray:
    """0 before start, 1 after start + width, a cosine ramp between."""
    phase = np.clip((t - start) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * phase)


def _bump(t: np.ndarray, center: float, width: float) -> np.ndarray:
    """A smooth bump of height 1 around `center`, zero beyond +-width."""
    phase = np.clip((t - center) / width, -1.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * phase)


# How each variant draws a clip: dip depth (fraction of the height), dip width (fraction of the steps), camera
# offset and drift (+-), and whether each clip is z-normalized on its own (as the UCR/UEA archives ship them).
VARIANTS = {
    "hard": dict(depth=(0.1, 0.25), width=(0.03, 0.05), offset=0.3, drift=0.2, znorm=False),
    "calibrated": dict(depth=(0.05, 0.2), width=(0.05, 0.08), offset=0.3, drift=0.2, znorm=True),
    "aligned": dict(depth=(0.05, 0.2), width=(0.05, 0.08), offset=0.3, drift=0.2, znorm=True, onset=(0.22, 0.28),
                    draw_delay=(0.01, 0.04)),
}


def simulate_clip(draw: bool, steps: int, rng: np.random.Generator, variant: str = "hard") -> np.ndarray:
    """One clip (steps,) of the tracked height; `draw` adds the two dips."""
    v = VARIANTS[variant]
    t = np.arange(steps, dtype=np.float64)
    rise_start = rng.uniform(*v.get("onset", (0.15, 0.35))) * steps
    rise_width = rng.uniform(0.08, 0.14) * steps
    fall_start = rise_start + rise_width + rng.uniform(0.2, 0.35) * steps
    if draw and "draw_delay" in v:  # drawing takes longer: the rise starts later and the hold ends sooner
        delay = rng.uniform(*v["draw_delay"]) * steps
        rise_start, fall_start = rise_start + delay, fall_start - delay
    fall_width = rng.uniform(0.08, 0.14) * steps
    height = rng.uniform(1.0, 1.6)
    y = height * (_smooth_step(t, rise_start, rise_width) - _smooth_step(t, fall_start, fall_width))
    if draw:  # the reach before the rise and after the fall, ~7% of the steps each, 10-25% of the height
        width = rng.uniform(*v["width"]) * steps
        y -= rng.uniform(*v["depth"]) * height * _bump(t, rise_start - 0.3 * width, width)
        y -= rng.uniform(*v["depth"]) * height * _bump(t, fall_start + fall_width + 0.3 * width, width)
    y += rng.uniform(-v["offset"], v["offset"]) + rng.uniform(-v["drift"], v["drift"]) * t / steps  # camera
    y = y + rng.normal(0.0, 0.03, steps)
    return (y - y.mean()) / y.std() if v["znorm"] else y


def simulate_features(num_clips: int, steps: int = 150, channels: int = 1, seed: int = 0, variant: str = "hard"):
    """(clips, steps, channels) float32 features and their string labels, classes balanced and shuffled."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    rng = np.random.default_rng(seed)
    labels = np.array([CLASS_NAMES[i % 2] for i in range(num_clips)])
    rng.shuffle(labels)
    rows = []
    for label in labels:
        height = simulate_clip(label == "draw", steps, rng, variant)
        if channels == 3:
            x_pixels = 300 + rng.normal(0, 40) + 60 * np.gradient(height) * steps / 10 + rng.normal(0, 5, steps)
            confidence = 0.01 * (1 + 0.1 * rng.normal(size=steps))  # a tiny-scale nuisance channel
            rows.append(np.stack([height, x_pixels, confidence], axis=-1))
        else:
            rows.append(height[:, None])
    return np.stack(rows).astype(np.float32), labels


def write_npz(path, train: int = 40, val: int = 10, test: int = 150, steps: int = 150, channels: int = 1,
              stride: int = 1, seed: int = 0, variant: str = "hard") -> Path:
    """Writes the simulated set as a features .npz with a `split` array; `stride` keeps every stride-th frame."""
    features, labels = simulate_features(train + val + test, steps, channels, seed, variant)
    split = np.array(["train"] * train + ["val"] * val + ["test"] * test)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features[:, ::stride], labels=labels, class_names=np.array(CLASS_NAMES), split=split)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.video_actions.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="the .npz to write")
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--val", type=int, default=10)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument("--stride", type=int, default=1, help="keep every stride-th frame (3: 150 -> 50 steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="hard", choices=sorted(VARIANTS),
                        help="hard (default): shallow dips, offset and drift; calibrated: wider dips, each clip "
                             "z-normalized, 1-NN DTW ~0.9; aligned: calibrated with onsets close together and "
                             "draw clips rising later (timing differs too), as motion traces cut to the action (docs)")
    args = parser.parse_args(argv)
    print(write_npz(args.path, args.train, args.val, args.test, args.steps, args.channels, args.stride, args.seed,
                    args.variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
