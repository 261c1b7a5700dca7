"""One training run: command line -> resolved config, run directory, seeds and tf.distribute strategy.

Rerunning the same command after a crash resumes: without `--run-dir`, the newest unfinished run of the
task (no metrics.json yet) whose saved config equals the resolved one is reused, and Keras's
BackupAndRestore state in its checkpoints/ continues from the last finished epoch.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import fcntl
import logging
import os
import shutil
import time
from pathlib import Path

import yaml

from tasks.common.atomic import is_temporary_of
from tasks.common.config import config_to_dict, load_config, save_config
from tasks.common.errors import ConfigError, RunDirError, TaskError

log = logging.getLogger(__name__)
# Run dirs this process created; main_guard removes one that holds nothing but its config.yaml
# when the run fails before training wrote anything (a data error), so failed attempts leave no litter.
_created_run_dirs: list[Path] = []


@dataclasses.dataclass
class Run:
    """Where a run writes and how it computes; built by `start_run`."""

    task: str
    config: object  # the task's Config dataclass, resolved
    run_dir: Path  # runs/<task>/<timestamp>/ : config.yaml, tensorboard/, checkpoints/, metrics.json
    strategy: object  # tf.distribute.Strategy; build and compile models inside strategy.scope()
    is_chief: bool = True  # only the chief writes metrics.json and the export
    worker_dir: Path | None = None  # where this worker writes logs and checkpoints (run_dir on the chief)
    resumed: bool = False

    @property
    def tensorboard_dir(self) -> Path:
        return self.worker_dir / "tensorboard"

    @property
    def checkpoint_dir(self) -> Path:
        return self.worker_dir / "checkpoints"


def build_parser(task: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m tasks.{task}.train", description=description)
    parser.add_argument("--config", help=f"YAML config (e.g. configs/{task}.yaml); defaults when omitted")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--run-dir", help="run directory; default: resume the newest unfinished run with the same "
                                          "config, else a new runs/<task>/<timestamp>/")
    parser.add_argument("--strategy", choices=["default", "mirrored", "multi_worker"],
                        help="tf.distribute strategy (overrides train.strategy); multi_worker reads TF_CONFIG")
    return parser


def make_strategy(name: str):
    """The tf.distribute strategy by config name. Must run before any other TF op in the process."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("--strategy multi_worker needs the TF_CONFIG environment variable "
                             "(cluster and task); see README 'Training on several machines'")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _chief_and_worker_id(strategy) -> tuple[bool, str | None]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, None
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, f"{task_type}-{task_id}"


LOCK_NAME = ".lock"  # run_dir/.lock: flock-ed by the one process that writes the run dir; holds its pid
_held_locks: dict[Path, int] = {}  # run dir (resolved) -> descriptor of its .lock, open (and locked) for our life


def _try_lock(lock: Path, create: bool = True) -> int | None:
    """A descriptor of `lock` holding an exclusive flock, or None when another process holds it (or, with
    create=False, when there is no lock file).

    The kernel drops a flock when its process dies, however it dies, so a lock of a killed run needs no
    cleanup. A lock file unlinked by its releasing owner between our open and our flock is retried.
    """
    while True:
        try:
            descriptor = os.open(lock, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        try:
            same = os.stat(lock).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)


def _lock_owner(run_dir: Path) -> int | str | None:
    """Who holds run_dir's lock: a pid, "another process" (no pid written yet), or None (nobody, or we do)."""
    lock = run_dir / LOCK_NAME
    if run_dir.resolve() in _held_locks or not lock.exists():
        return None
    try:
        descriptor = _try_lock(lock, create=False)
    except OSError:  # a read-only copy of a run dir cannot be locked, nor written by anyone
        return None
    if descriptor is not None:
        os.close(descriptor)  # free: closing drops our probe's lock
        return None
    try:
        return int(lock.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return "another process"


def acquire_run_dir(run_dir: Path) -> None:
    """Makes this process the run dir's only writer: an flock on run_dir/.lock, held until the process exits.

    A second process gets a RunDirError naming the owner's pid, so two processes never write one
    checkpoints/; after a kill the kernel has already dropped the lock, so the same command resumes.
    """
    import atexit

    key = run_dir.resolve()
    if key in _held_locks:
        return
    for attempt in range(3):  # another process's _lock_owner probe holds the lock for microseconds
        descriptor = _try_lock(run_dir / LOCK_NAME)
        if descriptor is not None:
            break
        time.sleep(0.05)
    else:
        owner = _lock_owner(run_dir)
        owner = f"process {owner}" if isinstance(owner, int) else "another process"
        raise RunDirError(f"{run_dir} is in use by {owner} (its {LOCK_NAME}); wait for it to finish "
                          "or choose another --run-dir")
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _held_locks[key] = descriptor
    atexit.register(release_run_dir, run_dir)


def release_run_dir(run_dir: Path) -> None:
    """Drops run_dir's lock if this process holds it, and removes the lock file (a finished run needs none)."""
    descriptor = _held_locks.pop(Path(run_dir).resolve(), None)
    if descriptor is None:
        return
    # Unlinked while still locked: a process that opened the old file meanwhile sees a new inode and retries.
    (Path(run_dir) / LOCK_NAME).unlink(missing_ok=True)
    os.close(descriptor)


def _find_resumable(task_root: Path, resolved: dict) -> Path | None:
    """Newest run dir with the same config, no metrics.json and no live owner: a run that was interrupted."""
    if not task_root.is_dir():
        return None
    for candidate in sorted((p for p in task_root.iterdir() if p.is_dir()), reverse=True):
        config_file = candidate / "config.yaml"
        if (candidate / "metrics.json").exists() or not config_file.exists() or _lock_owner(candidate):
            continue
        if yaml.safe_load(config_file.read_text(encoding="utf-8")) == resolved:
            return candidate
    return None


def _new_run_dir(task_root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 1000)]:
        candidate = task_root / f"{stamp}{suffix}"
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise RunDirError(f"cannot create a new run dir under {task_root}: 1000 run dirs named {stamp}* exist")


def _choose_run_dir(task: str, config, explicit: str | None, multi_worker: bool) -> tuple[Path, bool, bool]:
    """(run dir, resumed, created by this process)."""
    resolved = config_to_dict(config)
    if explicit:
        run_dir = Path(explicit)
        if run_dir.exists() and not run_dir.is_dir():
            raise RunDirError(f"--run-dir {run_dir} is a file, not a directory")
        if (run_dir / "metrics.json").exists():
            raise RunDirError(f"{run_dir} holds a finished run (metrics.json exists); choose another --run-dir")
        saved = run_dir / "config.yaml"
        # .lock, workers/ and config.yaml's temporary file are this project's own: the chief of a multi-worker
        # run may be writing them while another worker looks (seen as a flaky crash of worker 1)
        if run_dir.is_dir() and not saved.exists() and any(p.name not in (LOCK_NAME, "workers")
                                                           and not is_temporary_of(p, saved)
                                                           for p in run_dir.iterdir()):
            # Someone else's files: appending to their history.csv or reading their val_accuracy is wrong.
            raise RunDirError(f"--run-dir {run_dir} is not empty and is not a run dir (no config.yaml); "
                              "choose a new or empty directory")
        if saved.exists() and yaml.safe_load(saved.read_text(encoding="utf-8")) != resolved:
            raise RunDirError(f"{run_dir} holds a run with a different config ({saved}); "
                              "choose another --run-dir or rerun with the same config to resume")
        return run_dir, saved.exists(), not run_dir.exists()
    if multi_worker:  # workers must agree on one directory; timestamps taken on each may differ
        raise RunDirError("--strategy multi_worker needs an explicit --run-dir shared by all workers")
    task_root = Path(config.train.runs_dir) / task
    previous = _find_resumable(task_root, resolved)
    if previous is not None:
        return previous, True, False
    return _new_run_dir(task_root), False, True


def start_run(task: str, config_cls, argv=None, description: str | None = None) -> Run:
    """Parses the command line, resolves the config, prepares the run dir and seeds; see the module docstring."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser(task, description).parse_args(argv)
    overrides = list(args.overrides) + ([f"train.strategy={args.strategy}"] if args.strategy else [])
    config = load_config(config_cls, args.config, overrides)
    strategy = make_strategy(config.train.strategy)  # before any other TF op
    import keras

    keras.utils.set_random_seed(config.train.seed)
    is_chief, worker_id = _chief_and_worker_id(strategy)
    run_dir, resumed, created = _choose_run_dir(task, config, args.run_dir, config.train.strategy == "multi_worker")
    worker_dir = run_dir if is_chief else run_dir / "workers" / worker_id
    if is_chief and created:  # only a directory this process made may be removed again
        _created_run_dirs.append(run_dir)
    worker_dir.mkdir(parents=True, exist_ok=True)
    if is_chief:
        acquire_run_dir(run_dir)
        save_config(config, run_dir / "config.yaml")
    log.info("%s run dir %s (%s)", "resuming" if resumed else "starting", run_dir, task)
    return Run(task=task, config=config, run_dir=run_dir, strategy=strategy, is_chief=is_chief,
               worker_dir=worker_dir, resumed=resumed)


def _remove_unused_run_dirs() -> None:
    """Deletes run dirs this process created that still hold only config.yaml and empty folders."""
    while _created_run_dirs:
        run_dir = _created_run_dirs.pop()
        release_run_dir(run_dir)
        files = [p for p in run_dir.rglob("*") if not p.is_dir()] if run_dir.is_dir() else None
        if files is not None and all(p == run_dir / "config.yaml" for p in files):
            shutil.rmtree(run_dir)
            log.info("removed %s: the run failed before writing anything", run_dir)


# OSErrors a user causes with a path they gave (a missing file, a folder without write permission, a full
# disk); they name the file, so they print as one line too. Any other exception is a bug: it keeps its traceback.
_USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
_USER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error the user caused (a TaskError or a file error), else None (a bug)."""
    if isinstance(error, TaskError):
        return str(error)
    if isinstance(error, OSError) and error.filename is not None and (
            isinstance(error, _USER_OS_ERRORS) or error.errno in _USER_ERRNOS):
        return f"{error.filename}: {error.strerror or error}"
    return None


def main_guard(main):
    """Wraps an entry point's main: the project's own errors (TaskError) and the file errors a user causes
    print one line and exit 2; any other exception is a bug and keeps its traceback."""
    import functools
    import sys

    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except (TaskError, OSError) as error:
            message = user_error_message(error)
            if message is None or os.environ.get("RNN_TASKS_DEBUG"):
                raise
            print(f"error: {message} (set RNN_TASKS_DEBUG=1 for a traceback)", file=sys.stderr)
            _remove_unused_run_dirs()
            raise SystemExit(2) from None

    return wrapped
