"""Reads the user's tables (CSV, TSV, JSON lines, Parquet) with pandas, with errors that name file and line.

The returned frame's index is the line number a user sees in an editor (1-based; for CSV/TSV the header
is line 1, so the first data row is line 2; for Parquet it is the 1-based row number). Loaders pass
that index to `DataError` so every message points at the right place.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import pandas as pd

from tasks.common.errors import DataError

READERS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")
# Python's csv module refuses fields over 131,072 characters by default; pandas reads them, so the line
# counter must too (a long review is data, not an error).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Decodes a whole file, naming the line of the first undecodable byte."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a file") from None
    except OSError as error:
        raise DataError(path, None, f"cannot read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(path, line, f"line is not valid {encoding} (byte 0x{data[error.start]:02x} at "
                        f"offset {error.start}); re-save the file as UTF-8") from None


def _record_lines(text: str, delimiter: str) -> list[int]:
    """First line of each non-blank record, following quoted fields that span lines."""
    starts, previous_end = [], 0
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for record in reader:
        if record:  # pandas skips blank lines too
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts


def _check_header(path: Path, text: str, delimiter: str, line: int) -> None:
    """A repeated column name is an error: pandas would rename the copy ("text.1") and read the first silently."""
    header = next(csv.reader(io.StringIO(text.split("\n", line - 1)[-1]), delimiter=delimiter), [])
    seen = set()
    for name in header:
        if name.strip() in seen:
            raise DataError(path, line, f"column {name.strip()!r} appears more than once in the header")
        seen.add(name.strip())


def _read_delimited(path: Path, text: str, delimiter: str, **kwargs) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, **kwargs)
    except pd.errors.ParserError as error:
        raise DataError(path, None, f"cannot parse as {'TSV' if delimiter == chr(9) else 'CSV'}: {error}") from None
    lines = _record_lines(text, delimiter)
    if kwargs.get("header", "infer") is not None:
        _check_header(path, text, delimiter, lines[0] if lines else 1)
        lines = lines[1:]
    if len(lines) == len(frame):
        frame.index = pd.Index(lines, name="line")
    else:  # unusual quoting; fall back to the row count a user would see below the header
        frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return frame


def iter_json_lines(text: str, path):
    """(line number, parsed value) for each non-blank line; a DataError names the line that is not JSON."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, number, f"invalid JSON: {error.msg}") from None


def _read_json_lines(path: Path, text: str) -> pd.DataFrame:
    records, lines = [], []
    for number, record in iter_json_lines(text, path):
        if not isinstance(record, dict):
            raise DataError(path, number, f"expected a JSON object per line, got {type(record).__name__}")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records, index=pd.Index(lines, name="line"))


def read_table(path: str | os.PathLike, encoding: str = "utf-8", **pandas_kwargs) -> pd.DataFrame:
    """Reads .csv, .tsv (.txt is tab-separated), .jsonl/.json (one object per line) or .parquet into a DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(path, None, f"unsupported file type {suffix!r}; use one of {', '.join(READERS)}")
    if path.stat().st_size == 0:
        raise DataError(path, None, "file is empty")
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path, **pandas_kwargs)
        except Exception as error:  # pyarrow raises several types for corrupt files
            raise DataError(path, None, f"cannot read Parquet: {error}") from None
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
        return frame
    text = read_text(path, encoding)
    if not text.strip():
        raise DataError(path, None, "file has no rows")
    if suffix in (".jsonl", ".json"):
        frame = _read_json_lines(path, text)
    else:
        frame = _read_delimited(path, text, "\t" if suffix in (".tsv", ".txt") else ",", **pandas_kwargs)
    if frame.empty:
        raise DataError(path, None, "file has a header but no data rows")
    return frame


def require_columns(frame: pd.DataFrame, columns, path) -> None:
    """Raises a DataError listing the columns the config names but the file lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(path, None, f"missing column(s) {missing}; the file has {list(frame.columns)}")
