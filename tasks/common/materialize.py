"""Built-in data written once, as real files, in a folder named by the generator's settings.

`materialize(root, settings, write)` returns `root/<hash of settings>/` holding what `write(folder)` makes.
The first call writes it through `atomic_dir` (a staging folder renamed into place when complete, with a
record `.generated.json` of the settings and of every file's size); later calls with the same settings
find the record and reuse the folder; other settings get another folder. A folder of that name that has
no record, lacks a recorded file, or holds a file the generator did not write is left untouched: a
`DataError` says which and what to do.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

from tasks.common.atomic import atomic_dir, remove_stale_staging
from tasks.common.errors import DataError

log = logging.getLogger(__name__)

RECORD = ".generated.json"
_ELSEWHERE = "it is left untouched: move it away, or set data.builtin_dir to another folder"


def settings_folder(root: str | os.PathLike, settings: dict) -> Path:
    """root/<first 12 hex digits of the SHA-256 of the settings as sorted JSON>."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return Path(root) / hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _file_sizes(folder: Path) -> dict[str, int]:
    """Every file under `folder` but the record, as relative POSIX path -> size in bytes."""
    return {path.relative_to(folder).as_posix(): path.stat().st_size
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != RECORD}


def _check(folder: Path, settings: dict) -> None:
    """Raises DataError unless `folder` is complete, as the generator wrote it for `settings`."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(folder, None, f"exists without a readable {RECORD}, so the built-in generator did not "
                                      f"write it; {_ELSEWHERE}") from None
    wanted = json.loads(json.dumps(settings, default=str))  # as the record holds them (tuples as lists)
    if record.get("settings") != wanted:
        raise DataError(folder / RECORD, None, f"records settings {record.get('settings')}, not {wanted}; "
                                               f"{_ELSEWHERE}")
    found, written = _file_sizes(folder), record.get("files", {})
    foreign = sorted(set(found) - set(written))
    if foreign:
        raise DataError(folder / foreign[0], None, f"was not written by the built-in generator; {_ELSEWHERE}")
    changed = sorted(name for name, size in written.items() if found.get(name) != size)
    if changed:
        raise DataError(folder / changed[0], None, "is missing or changed since the built-in generator wrote it; "
                                                   f"delete {folder} to generate it again")


def materialize(root: str | os.PathLike, settings: dict, write: Callable[[Path], object]) -> Path:
    """The folder of the files `write(folder)` makes for these settings, written once (see the module docstring).

    `settings` is JSON-able and holds everything the files depend on, the generator's name and version too.
    """
    folder = settings_folder(root, settings)
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(folder.parent)  # a killed writer's half folder never had the folder's name
        try:
            with atomic_dir(folder.parent, folder.name) as staging:
                write(staging)
                record = {"settings": settings, "files": _file_sizes(staging)}
                (staging / RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n",
                                              encoding="utf-8")
            log.info("wrote the built-in data to %s", folder)
        except FileExistsError:
            if not folder.exists():  # not the rename: the writer's own error
                raise
            log.info("another process wrote %s first; using it", folder)
    _check(folder, settings)
    return folder
