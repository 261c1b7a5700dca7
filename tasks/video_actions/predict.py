"""Actions in video files from an exported SavedModel (not the Python model).

    python -m tasks.video_actions.predict --model exports/video_actions clip.mp4 [more.avi ...]
    python -m tasks.video_actions.predict --model exports/video_actions features.npy   # a features export

Each video is decoded and sampled exactly as in training (the rate, frame count and size are read from the
export's assets.extra/video_actions.json), then the export runs the CNN and the RNN on the raw uint8 frames.
Prints one JSON line per file: {"file": ..., "action": ..., "frames": n, "probabilities": {action: p}}.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from tasks.common.errors import DataError
from tasks.common.predict import load_export, print_json_lines
from tasks.common.run import main_guard
from tasks.video_actions.video_io import pad_frames, sample_frames


def read_input(path: str, settings: dict, input_name: str) -> np.ndarray:
    """One clip as the export wants it: padded uint8 frames (T, S, S, 3), or features (T, F) from a .npy."""
    if input_name == "features":
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(path, None, f"not a readable .npy of features ({error})") from None
        if features.ndim != 2:
            raise DataError(path, None, f"expected features of shape (frames, features), got {features.shape}")
        return features.astype(np.float32)
    frames = sample_frames(path, settings["fps"], settings["num_frames"], settings["frame_size"])
    return pad_frames(frames, settings["num_frames"])


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.video_actions.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exports/video_actions", help="export root (newest version) or a version dir")
    parser.add_argument("files", nargs="+", help="video files (.mp4, .avi, ...) or, for a features export, .npy files")
    args = parser.parse_args(argv)
    serve, directory = load_export(args.model, inputs={"frames", "features"}, outputs={"action", "probabilities"})
    settings = json.loads((directory / "assets.extra" / "video_actions.json").read_text(encoding="utf-8"))
    input_name = next(iter(serve.structured_input_signature[1]))
    bad = []  # (path, DataError): every good file is answered; the bad ones are reported once at the end
    for path in args.files:  # each line printed when ready
        try:
            clip = read_input(path, settings, input_name)
        except DataError as error:
            bad.append((path, error))
            continue
        outputs = serve(**{input_name: clip[None]})
        probabilities = outputs["probabilities"].numpy()[0]
        print_json_lines([{"file": path, "action": outputs["action"].numpy()[0], "frames": int(
            (clip.reshape(len(clip), -1) != 0).any(axis=1).sum()), "probabilities": {
            name: round(float(p), 4) for name, p in zip(settings["class_names"], probabilities)}}])
    if len(bad) == 1:
        raise bad[0][1]
    if bad:
        raise DataError(bad[0][0], None, f"{bad[0][1].reason}; and {len(bad) - 1} more unreadable file(s): "
                                         f"{', '.join(path for path, _ in bad[1:])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
