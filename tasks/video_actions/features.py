"""Per-frame features of a frozen backbone, computed once per clip and cached by file content and backbone.

The cache key is the video file's SHA-256, the sampling settings and the backbone's name plus a digest of
its weights, so a second run (or a new RNN config) neither decodes nor convolves again, while new weights
or new sampling settings never reuse stale features. Clips that are not files (TFDS) are computed each run.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks.video_actions.cache import ArrayCache, array_digest
from tasks.video_actions.data import Split, VideoData
from tasks.video_actions.evaluate import step_lengths


def backbone_identity(backbone) -> dict:
    """What makes a backbone's features what they are: its name and all its weights."""
    return {"backbone": backbone.name, "weights": array_digest(backbone.get_weights())}


def split_features(split: Split, backbone, cache: ArrayCache, settings: dict, stats: dict) -> Split:
    """(clips, T, S, S, 3) frames -> (clips, T, F) float32 features; padded frames get all-zero rows."""
    rows = []
    for frames, length, name in zip(split.inputs, step_lengths(split.inputs), split.names):
        key = cache.key(name, **settings) if Path(name).is_file() else None
        features = cache.get("features", key) if key else None
        if features is None:
            started = time.perf_counter()
            features = backbone.predict(frames[:length], batch_size=64, verbose=0).astype(np.float32)
            stats["frames"] += int(length)
            stats["seconds"] += time.perf_counter() - started
            if key:
                cache.put("features", key, features)
        padded = np.zeros((len(frames), features.shape[-1]), np.float32)
        padded[:length] = features
        rows.append(padded)
    return Split(np.stack(rows), split.labels, split.names)


def extract_features(data: VideoData, backbone, cache_dir: str | None, sampling: dict) -> tuple[VideoData, dict]:
    """Replaces the frames of every split by backbone features; returns the new data and speed stats."""
    cache = ArrayCache(cache_dir)
    settings = dict(kind="features", **sampling, **backbone_identity(backbone))
    stats = {"frames": 0, "seconds": 0.0}
    splits = {name: split_features(getattr(data, name), backbone, cache, settings, stats)
              for name in ("train", "val", "test")}
    stats["cache_hits"] = cache.hits
    if stats["seconds"]:
        stats["frames_per_second"] = stats["frames"] / stats["seconds"]
    return dataclasses.replace(data, kind="features", **splits), stats
