"""Video files in and out with PyAV (FFmpeg): frames sampled by timestamp, resized and center-cropped.

The lesson samples a video at 1 frame per second: frame k is the picture on screen at k seconds. Here
that is the last decoded frame whose presentation time (pts * time_base, counted from the first frame)
is <= k / fps. Files are decoded sequentially, so it works for any codec and container (MP4/H.264, AVI/Xvid),
without trusting the container's duration or frame count, which AVI files often lack or get wrong.
"""
from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from tasks.common.errors import DataError

_EPSILON = 1e-6  # seconds: timestamps are rationals turned into floats
# FFmpeg's scaler converts in slices on several threads by default (PyAV's threads=0); one thread keeps the
# conversion independent of the machine and its load, one of the fixes that made generated clips reproducible.
_SCALER_THREADS = 1


def _resize_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    """Scales the short side to `size` (keeping the aspect ratio), then crops the center square."""
    scale = size / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    image = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA",
                             threads=_SCALER_THREADS)
    top, left = (height - size) // 2, (width - size) // 2
    return image[top:top + size, left:left + size]


def _frame_rate(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def sample_frames(path: str | os.PathLike, fps: float = 1.0, num_frames: int = 30, size: int = 64) -> np.ndarray:
    """Returns the frames on screen at 0, 1/fps, 2/fps, ... seconds: uint8 (n, size, size, 3), n <= num_frames.

    Sampling stops at the end of the video (a 10 s clip at 1 FPS gives 10 frames) or after `num_frames`.
    Raises DataError naming the file when it cannot be opened, has no video stream or yields no frame.
    """
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DataError(path, None, "cannot open video: the file is empty (0 bytes)")
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise DataError(path, None, f"cannot open video: {reason} (not a video file, or a damaged one)") from None
    sampled: list[np.ndarray] = []
    with container:
        if not container.streams.video:
            raise DataError(path, None, "no video stream in the file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = _frame_rate(stream)
        start = previous = previous_time = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                # Without a pts (some AVI muxers), the frame's index over the nominal rate is its time.
                time = frame.time if frame.time is not None else decoded / (rate or 1.0)
                decoded += 1
                start = time if start is None else start
                time -= start
                # Every target time before this frame's time showed the previous frame.
                while previous is not None and len(sampled) < num_frames and time > len(sampled) / fps + _EPSILON:
                    sampled.append(_resize_crop(previous, size))
                if len(sampled) >= num_frames:
                    break
                previous, previous_time = frame, time
        except av.FFmpegError as error:
            if previous is None:
                reason = getattr(error, "strerror", None) or str(error)
                raise DataError(path, None, f"cannot decode video: {reason} (no frame decoded)") from None
            # A truncated or damaged tail: keep what decoded, like a player would.
        if previous is not None and len(sampled) < num_frames:
            # The last frame stays on screen for one frame duration.
            duration = (float(previous.duration * previous.time_base) if previous.duration and previous.time_base
                        else (1.0 / rate if rate else 0.0))
            end = previous_time + duration
            while len(sampled) < num_frames and len(sampled) / fps < end - _EPSILON:
                sampled.append(_resize_crop(previous, size))
            if not sampled:  # a single-frame video shorter than the sampling step
                sampled.append(_resize_crop(previous, size))
    if not sampled:
        raise DataError(path, None, "no decodable video frames (empty or corrupt file)")
    return np.stack(sampled)


def pad_frames(frames: np.ndarray, num_frames: int) -> np.ndarray:
    """Pads a clip (n, ...) with all-zero frames to (num_frames, ...); an all-zero frame means 'masked'."""
    if len(frames) > num_frames:
        raise ValueError(f"clip has {len(frames)} frames, more than num_frames={num_frames}")
    padding = np.zeros((num_frames - len(frames),) + frames.shape[1:], frames.dtype)
    return np.concatenate([frames, padding])


def frame_mask(frames: np.ndarray) -> np.ndarray:
    """(..., T, H, W, C) -> (..., T) bool: True where a frame has any non-zero pixel (the model's rule too)."""
    return np.asarray(frames).reshape(frames.shape[:-3] + (-1,)).any(axis=-1)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, codec: str = "libx264",
                options: dict[str, str] | None = None) -> None:
    """Encodes uint8 RGB frames (n, H, W, 3) into a video file (MP4/H.264 by default; 'mpeg4' for AVI)."""
    height, width = frames.shape[1:3]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if options:
            stream.options = options
        for index, image in enumerate(frames):
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame = rgb.reformat(format=stream.pix_fmt, threads=_SCALER_THREADS)
            frame.pts, frame.time_base = index, 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
