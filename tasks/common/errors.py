"""Errors that point at the user's input, and a counter for rows skipped on request."""
from __future__ import annotations

import collections
import logging
import os

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad user data: the message names the file, the row (when known) and what is wrong.

    `DataError("reviews.csv", 12, "empty text")` reads "reviews.csv:12: empty text".
    """

    def __init__(self, path: str | os.PathLike | None, row: int | None, message: str):
        self.path, self.row, self.reason = (str(path) if path is not None else None), row, message
        where = self.path or "<input>"
        if row is not None:
            where = f"{where}:{row}"
        super().__init__(f"{where}: {message}")


class SkipCounter:
    """Either raises a DataError or counts it, as the config's `on_bad_row` ("error" | "skip") says."""

    def __init__(self, on_bad_row: str = "error"):
        if on_bad_row not in ("error", "skip"):
            raise ValueError(f"on_bad_row must be 'error' or 'skip', got {on_bad_row!r}")
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
