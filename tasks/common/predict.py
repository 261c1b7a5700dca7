"""What every predict module shares: loading an export without the project's Python model, JSON lines out."""
from __future__ import annotations

import json
import sys

import numpy as np

from tasks.common.export import resolve_export


def load_export(path):
    """The serving signature of the newest (or given) version: (callable, version dir)."""
    import tensorflow as tf

    directory = resolve_export(path)
    loaded = tf.saved_model.load(str(directory))
    return loaded.signatures["serving_default"], directory


def to_python(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [to_python(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def print_json_lines(records, stream=None) -> None:
    """One JSON object per line (UTF-8 kept readable); `stream` defaults to the sys.stdout of the moment."""
    stream = stream or sys.stdout
    for record in records:
        stream.write(json.dumps({k: to_python(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
    stream.flush()
