"""Writing a file or a folder so that a reader sees the old one or the whole new one, never half.

`atomic_write` writes a file beside its target and renames it into place; `atomic_dir` fills a hidden
staging folder and renames it to its name when complete. Neither replaces anything unless the caller
says the target is the project's own (`replace=True`): a file or folder of that name is the user's.
"""
from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"  # .staging-<pid>-<random>: the pid tells a killed writer's folder from a live one
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1  # linux/fcntl.h, linux/fs.h


def pid_alive(pid: int) -> bool:
    """True if a process with this pid runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a libc older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_RENAMEAT2 = _renameat2()


def rename_no_replace(source: Path, target: Path) -> None:
    """Renames `source` to `target` in one step, or raises FileExistsError if `target` exists (file or folder).

    os.rename would silently replace a file or an empty folder; Linux's renameat2(RENAME_NOREPLACE) checks
    and renames at once. Where it is missing (another OS, a file system without it) the check comes first.
    """
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(target))
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    try:
        os.rename(source, target)
    except OSError as error:  # a folder that appeared since the check (a file or empty folder is replaced)
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(error.errno, os.strerror(error.errno), str(target)) from error
        raise


def _fsync(path: Path) -> None:
    """Flushes a file, or a folder's entries, to disk, so a rename never lands before the data it names."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:  # some file systems cannot fsync a folder
        if error.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(descriptor)


def _temporary_path(path: Path) -> Path:
    """The hidden name `atomic_write` writes `path` under before renaming it (unique per process and call)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def is_temporary_of(candidate: Path, path: Path) -> bool:
    """True if `candidate` is a temporary file `atomic_write` is writing (or left) for `path`, in any process."""
    return (candidate.parent == path.parent and candidate.name.startswith(f".{path.stem}.")
            and candidate.name.endswith(f".tmp{path.suffix}"))


def atomic_write(path: str | os.PathLike, content: str | bytes | Callable[[Path], object], *,
                 replace: bool = False, encoding: str = "utf-8") -> Path:
    """Writes `content` to `path` through a hidden temporary file in the same folder, fsynced, then renamed.

    `content` is the text or bytes, or a function that writes the file at the path it is given (np.save,
    DataFrame.to_csv; the temporary name keeps the suffix). The file is created with the umask's mode,
    like open(). An existing `path` is replaced only with `replace=True` (a file the project made: a run's
    metrics.json, a cache entry); otherwise FileExistsError and it is left as it was.
    """
    path = Path(path)
    temporary = _temporary_path(path)
    try:
        if callable(content):
            content(temporary)
        else:
            data = content.encode(encoding) if isinstance(content, str) else content
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
                file.write(data)
        _fsync(temporary)
        if replace:
            os.replace(temporary, path)
        else:
            rename_no_replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return path


def make_staging(parent: Path) -> Path:
    """A new hidden .staging-<pid>-<random> folder in `parent`, made with os.mkdir so the umask sets its mode.

    (tempfile.mkdtemp would make it 0700 whatever the umask, and the renamed folder would be unreadable to
    a server running as another user.)
    """
    while True:
        staging = parent / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue


def remove_stale_staging(parent: Path) -> None:
    """Deletes the staging folders in `parent` left by killed writers (their pid no longer runs)."""
    for path in Path(parent).glob(f"{STAGING_PREFIX}*"):
        pid = path.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by a killed writer", path)


class atomic_dir:  # noqa: N801  (used like a function: `with atomic_dir(parent, name) as staging:`)
    """A folder that appears complete or not at all: fill the staging folder the block gets, and when the
    block ends without an error it is fsynced and renamed to `parent / name` (an error removes it).

    `name` is a string, or a function choosing a free name that is called again when another writer took
    the name meanwhile. A string `name` that exists is never replaced: FileExistsError. The final path is
    `.path` after the block.
    """

    def __init__(self, parent: str | os.PathLike, name: str | Callable[[], str]):
        self.parent, self.name, self.path = Path(parent), name, None

    def __enter__(self) -> Path:
        self.staging = make_staging(self.parent)
        return self.staging

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            if kind is not None:
                return False
            for folder, _, files in os.walk(self.staging):
                for name in files:
                    _fsync(Path(folder) / name)
                _fsync(Path(folder))
            while True:
                target = self.parent / (self.name() if callable(self.name) else self.name)
                try:
                    rename_no_replace(self.staging, target)
                    break
                except FileExistsError:
                    if not callable(self.name):
                        raise
            _fsync(self.parent)
            self.path = target
            return False
        finally:
            if self.path is None:
                shutil.rmtree(self.staging, ignore_errors=True)
