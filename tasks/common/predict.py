"""What every predict module shares: loading an export without the project's Python model, JSON lines out."""
from __future__ import annotations

import json
import sys

import numpy as np

from tasks.common.errors import ExportError
from tasks.common.export import resolve_export


def open_export(path, inputs=None, outputs=(), signatures=()):
    """Loads the newest (or given) version and checks it is this task's: (loaded SavedModel, version dir).

    `inputs` (one of these input names, e.g. {"text"}) and `outputs` (all of these) describe the
    serving_default signature a task's predict needs; `signatures` are other signatures it calls. Another
    task's export then fails with one line saying what it takes, not a KeyError or TypeError traceback.
    """
    import tensorflow as tf

    directory = resolve_export(path)
    try:
        loaded = tf.saved_model.load(str(directory))
    except (OSError, ValueError, tf.errors.OpError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"{directory}: not a readable SavedModel ({first})") from None
    missing = [name for name in ("serving_default", *signatures) if name not in loaded.signatures]
    if missing:
        raise ExportError(f"{directory}: no {missing[0]!r} signature (it has {sorted(loaded.signatures)}); "
                          "is it the export of another task?")
    serve = loaded.signatures["serving_default"]
    taken = sorted(serve.structured_input_signature[1])
    given = sorted(serve.structured_outputs)
    if (inputs and not set(taken) & set(inputs)) or not set(outputs) <= set(given):
        raise ExportError(f"{directory}: its serving signature takes {taken} and returns {given}; this task "
                          f"needs {sorted(inputs or taken)} -> {sorted(outputs)}: is it the export of another task?")
    return loaded, directory


def load_export(path, inputs=None, outputs=()):
    """The serving signature of the newest (or given) version, checked like `open_export`: (callable, version dir)."""
    loaded, directory = open_export(path, inputs, outputs)
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
