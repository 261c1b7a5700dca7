"""An on-disk cache of per-clip arrays (sampled frames, backbone features), keyed by file content.

The key is the SHA-256 of the video file's bytes plus everything that changes the array (sampling rate,
frame count and size; the backbone's name and a digest of its weights). Renaming or moving a file keeps
its entry; editing the file or changing a setting makes a new one. A second epoch or a second run then
neither decodes nor convolves again.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tasks.common.atomic import atomic_write


def file_digest(path: str | os.PathLike, _memo: dict = {}) -> str:  # noqa: B006 - a per-process memo on purpose
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) so a file is read once per process."""
    stat = os.stat(path)
    memo_key = (os.fspath(path), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _memo:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        _memo[memo_key] = digest.hexdigest()
    return _memo[memo_key]


def array_digest(arrays) -> str:
    """SHA-256 of a list of arrays (e.g. a backbone's weights): its identity in cache keys."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class ArrayCache:
    """Stores one .npy per (kind, content key) under `root`; `root=None` disables caching."""

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root else None
        self.hits = self.misses = 0

    def key(self, path: str | os.PathLike, **settings) -> str:
        """The cache key of a file's array under these settings."""
        text = json.dumps({"file": file_digest(path), **settings}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npy"

    def get(self, kind: str, key: str) -> np.ndarray | None:
        """The cached array, or None (also when the entry is unreadable: it is then recomputed)."""
        if self.root is None:
            return None
        path = self._path(kind, key)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return array

    def put(self, kind: str, key: str, array: np.ndarray) -> None:
        """Writes atomically (temporary file, then rename), so a killed run never leaves half an entry."""
        if self.root is None:
            return
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda temporary: np.save(temporary, array, allow_pickle=False), replace=True)
