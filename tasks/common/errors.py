"""The project's own error types, and a counter for rows skipped on request.

Every error a user can cause (a bad config value, a bad row, an unusable run dir or export) is a
`TaskError`; the entry points' `main_guard` prints those as one line and lets anything else (a bug) keep
its traceback. `TaskError` is also a `ValueError`, so callers' `except ValueError` keep working.
"""
from __future__ import annotations

import collections
import logging
import os

log = logging.getLogger(__name__)


class TaskError(ValueError):
    """Base of every error the user's input, config or files cause; main_guard prints it as one line."""


class ConfigError(TaskError):
    """A config key is unknown, has the wrong type or a bad value (also an option that contradicts it)."""


class RunDirError(TaskError):
    """The run dir cannot be used: another live process owns it, it holds a finished run or foreign files."""


class ExportError(TaskError):
    """--model is not a readable SavedModel, or is the export of another task."""


class ExportNotFoundError(ExportError, FileNotFoundError):
    """No SavedModel at --model; also a FileNotFoundError, which is what callers caught before."""


class DataError(TaskError):
    """Bad user data: the message names the file, the row (when known) and what is wrong.

    `DataError("reviews.csv", 12, "empty text")` reads "reviews.csv:12: empty text". Without a path or a
    row it is only the reason (`DataError(None, None, "missing rating")`): a loader adds the place when it
    catches it, or the data as a whole is wrong (too few patients of a label).
    """

    def __init__(self, path: str | os.PathLike | None, row: int | None, message: str):
        self.path, self.row, self.reason = (str(path) if path is not None else None), row, message
        if self.path is None and row is None:
            super().__init__(message)
            return
        where = self.path or "<input>"
        if row is not None:
            where = f"{where}:{row}"
        super().__init__(f"{where}: {message}")


class SkipCounter:
    """Either raises a DataError or counts it, as the config's `on_bad_row` ("error" | "skip") says."""

    def __init__(self, on_bad_row: str = "error"):
        if on_bad_row not in ("error", "skip"):
            raise ConfigError(f"on_bad_row must be 'error' or 'skip', got {on_bad_row!r}")
        self.on_bad_row = on_bad_row
        self.counts: collections.Counter[str] = collections.Counter()  # file -> rows skipped
        self.examples: dict[str, str] = {}  # file -> first reason, for the log line

    def bad(self, path, row, message: str) -> None:
        """Reports one bad row: raises in "error" mode, counts it in "skip" mode."""
        error = DataError(path, row, message)
        if self.on_bad_row == "error":
            raise error
        self.counts[str(path)] += 1
        self.examples.setdefault(str(path), str(error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> dict[str, int]:
        """Logs one line per file with skipped rows and returns {file: count}."""
        for path, count in self.counts.items():
            log.warning("skipped %d bad row(s) in %s (first: %s)", count, path, self.examples[path])
        return dict(self.counts)
