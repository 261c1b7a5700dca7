"""Decoding and per-frame feature extraction speed of video_actions, in frames per second.

    python -m benchmarks.video_decode [--clips 24] [--repeats 3] [--json benchmarks/results/video_decode.json]

Rows (medians over interleaved repetitions, so machine load hits them alike):
- decode_all: PyAV decodes every source frame of the clips (the floor of any sampler reading files).
- sample_1fps: `video_io.sample_frames` at 1 FPS, 64x64 (decode + pick by timestamp + resize/crop);
  reported per sampled frame and per source frame decoded.
- cache_read: the same sampled frames read back from the content-keyed cache (what a second run does).
- small_cnn: the task's frame normalization + per-frame CNN, forward (8 clips x 32 frames, 64x64).
- MobileNetV3Small_64 / _112: a keras.applications backbone (random weights; speed does not depend on them).
Clips are the built-in generator's MP4 files (written to a temporary folder) and one 320x240 25 fps
MPEG-4 AVI like UCF101's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="built-in clips to generate and decode")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.repeats < 1:
        parser.error("--clips and --repeats must be >= 1")
    return args


def make_clips(folder: Path, count: int) -> list[Path]:
    """Built-in MP4 clips plus one UCF101-like AVI (320x240, 25 fps, 10 s)."""
    from tasks.video_actions.data_builtin import ACTIONS, render_clip
    from tasks.video_actions.video_io import write_video

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        fps = int(rng.choice([4, 5, 6, 8]))
        path = folder / f"clip_{i}.mp4"
        write_video(path, render_clip(ACTIONS[i % len(ACTIONS)], float(rng.uniform(10, 30)), fps, 64, rng), fps)
        paths.append(path)
    big = np.repeat(np.repeat(render_clip("walk_right", 10, 25, 80, rng), 3, axis=1), 4, axis=2)[:, :240, :320]
    avi = folder / "ucf_like.avi"
    write_video(avi, big, 25, codec="mpeg4")
    return paths + [avi]


def decode_all(paths) -> int:
    frames = 0
    for path in paths:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                frames += 1
    return frames


def main(argv=None):
    args = parse_args(argv)
    import keras

    from tasks.video_actions.cache import ArrayCache
    from tasks.video_actions.config import ModelConfig
    from tasks.video_actions.model import build_model, frame_features_model
    from tasks.video_actions.video_io import sample_frames

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_clips(Path(tmp), args.clips)
        source_frames = decode_all(paths)
        cache = ArrayCache(Path(tmp) / "cache")
        keys = [cache.key(p, bench=1) for p in paths]

        def sample():
            return sum(len(sample_frames(path, 1.0, 30, 64)) for path in paths)

        for path, key in zip(paths, keys):  # filled once, outside the timed jobs
            cache.put("frames", key, sample_frames(path, 1.0, 30, 64))

        def read_cache():
            return sum(len(cache.get("frames", key)) for key in keys)

        batch = np.random.default_rng(0).integers(0, 255, (256, 64, 64, 3), dtype=np.uint8)
        small = frame_features_model(build_model(ModelConfig(), 8, frame_size=64))  # normalization + CNN
        clips = batch.reshape(8, 32, 64, 64, 3)
        mobile_64 = keras.applications.MobileNetV3Small(include_top=False, pooling="avg", weights=None,
                                                        input_shape=(64, 64, 3))
        mobile_112 = keras.applications.MobileNetV3Small(include_top=False, pooling="avg", weights=None,
                                                         input_shape=(112, 112, 3))
        batch_112 = np.random.default_rng(0).integers(0, 255, (256, 112, 112, 3), dtype=np.uint8)
        forward = {
            "small_cnn": lambda: (small.predict(clips, batch_size=8, verbose=0), len(batch))[1],
            "MobileNetV3Small_64": lambda: (mobile_64.predict(batch.astype("float32"), batch_size=256,
                                                               verbose=0), len(batch))[1],
            "MobileNetV3Small_112": lambda: (mobile_112.predict(batch_112.astype("float32"), batch_size=256,
                                                                 verbose=0), len(batch_112))[1],
        }
        for fn in forward.values():
            fn()  # trace once, outside the timing
        jobs = {"decode_all": lambda: decode_all(paths), "sample_1fps": sample, "cache_read": read_cache, **forward}
        times = {name: [] for name in jobs}
        counts = {}
        for _ in range(args.repeats):
            for name, job in jobs.items():
                started = time.perf_counter()
                counts[name] = job()
                times[name].append(time.perf_counter() - started)
    rows = []
    for name in jobs:
        seconds = statistics.median(times[name])
        row = {"name": name, "frames": counts[name], "seconds": round(seconds, 4),
               "frames_per_second": round(counts[name] / seconds, 1)}
        if name == "sample_1fps":
            row["source_frames_per_second"] = round(source_frames / seconds, 1)
        rows.append(row)
    print(f"{'row':<22}{'frames':>8}{'seconds':>10}{'frames/s':>12}  note")
    for row in rows:
        note = f"{row['source_frames_per_second']:.0f} source frames/s decoded" if "source_frames_per_second" in row else ""
        print(f"{row['name']:<22}{row['frames']:>8}{row['seconds']:>10.3f}{row['frames_per_second']:>12.1f}  {note}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"clips": len(paths), "source_frames": source_frames, "rows": rows},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
