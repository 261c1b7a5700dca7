"""Writing generated files without ever replacing one the user made.

A generator (built-in data) records what it wrote in `<folder>/.generated.json` (file name -> SHA-256).
A file is (re)written only when it is absent or still holds exactly what the project wrote before;
anything else is the user's and a `DataError` says so instead of replacing it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tasks.common.errors import DataError

MANIFEST = ".generated.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(folder: Path) -> dict:
    try:
        return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def write_generated(path: str | os.PathLike, text: str) -> Path:
    """Writes `text` to `path` atomically unless the file is the user's (see the module docstring)."""
    path = Path(path)
    data = text.encode("utf-8")
    written = _manifest(path.parent)
    if path.exists() or path.is_symlink():
        current = path.read_bytes() if path.is_file() else None
        if current == data:
            return path
        if current is None or written.get(path.name) != _digest(current):
            raise DataError(path, None, "exists and was not written by the built-in generator; it is left "
                                        "untouched: point data.builtin_dir at another folder, or load it as your data")
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    # Recorded before the rename: a kill between the two leaves a record of a file that is then regenerated.
    written[path.name] = _digest(data)
    manifest_staging = path.parent / f"{MANIFEST}.{os.getpid()}.tmp"
    manifest_staging.write_text(json.dumps(written, indent=1) + "\n", encoding="utf-8")
    os.replace(manifest_staging, path.parent / MANIFEST)
    os.replace(staging, path)
    return path
