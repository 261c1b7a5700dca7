"""Visits tables -> one fixed-length sequence of exams per patient, split by patient.

Input is the long format clinics export: one row per patient visit, with an id column, a time column
(a date, or a number such as days since baseline or an exam period), numeric measurement columns
(codes like sex 1/2 are numbers too) and a 0/1 label, either repeated on each of a patient's rows or
in a separate table with one row per patient. Rows may come in any order.

Output (`Cohort`): `exams` of shape (patients, K, F), the last K visits of each patient in time order,
right-aligned (the latest visit is at index K-1), with NaN for a missing value and an all-NaN row where
a patient has fewer than K visits. Missing values are kept as NaN: the model imputes them and adds a
missing indicator, so nothing is dropped. With `time_since_previous_visit`, the last feature is the
gap to the patient's previous visit (days for dates, the column's own unit for numbers; 0 at the
first visit).

Text-coded columns (`categorical_columns`: sex f/m, smoker yes/no) are read as codes (trimmed and
lowercased) into `Cohort.codes`; `fit_categories` lists the codes of the training patients and
`encode_categories` turns each into one 0/1 feature (`sex=f`, `sex=m`; NaN where the cell is empty), placed
after the numeric measurements and before the visit gap.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split

from tasks.common.errors import DataError, SkipCounter
from tasks.common.tables import read_table, require_columns
from tasks.heart_attack import data_builtin
from tasks.heart_attack.config import DataConfig

log = logging.getLogger(__name__)

GAP_FEATURE = "time_since_previous_visit"
MAX_CATEGORIES = 50  # codes per categorical column; more is free text or an id, not a code list
# Cells that mean "not measured" besides an empty cell: R's NA, SAS's ".", spreadsheets' "n/a".
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "."})


def measurement_count(feature_names) -> int:
    """How many leading features are measurements (a visit is present if one is); the gap is not."""
    return len(feature_names) - (feature_names[-1] == GAP_FEATURE)


@dataclasses.dataclass
class Cohort:
    """Patients as right-aligned sequences of their last K exams."""

    patient_ids: np.ndarray  # (N,) str
    exams: np.ndarray  # (N, K, F) float32; NaN = missing value; all-NaN row = no visit (padding)
    labels: np.ndarray | None  # (N,) int64 0/1; None for unlabeled data (predict)
    feature_names: tuple[str, ...]  # the F feature names, in the order of the last axis
    codes: np.ndarray | None = None  # (N, K, C) object: text codes of the categorical columns, None = missing
    lines: np.ndarray | None = None  # (N, K) int: file line of each visit (-1 for padding), for error messages
    categorical_columns: tuple[str, ...] = ()  # the C columns of `codes`, until `encode_categories`

    def __len__(self) -> int:
        return len(self.patient_ids)

    def subset(self, index) -> "Cohort":
        """The patients at `index` (an integer array)."""
        return dataclasses.replace(
            self, patient_ids=self.patient_ids[index], exams=self.exams[index],
            labels=None if self.labels is None else self.labels[index],
            codes=None if self.codes is None else self.codes[index],
            lines=None if self.lines is None else self.lines[index])

    @property
    def measurements(self) -> int:
        return measurement_count(self.feature_names)


def feature_names(data_config, categories: dict[str, list[str]] | None = None) -> tuple[str, ...]:
    """The F features of `exams`, in order: the numeric measurement columns, one `column=code` per code
    of each categorical column (given its `categories`), then the visit gap if enabled."""
    coded = tuple(f"{column}={code}" for column, codes in (categories or {}).items() for code in codes)
    return (tuple(data_config.feature_columns) + coded
            + ((GAP_FEATURE,) if data_config.time_since_previous_visit else ()))


def _read(path: Path) -> pd.DataFrame:
    """The table with every CSV/TSV cell as text, so ids keep leading zeros and bad numbers can be named."""
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return read_table(path, dtype=str, keep_default_na=False)
    return read_table(path)


def _missing(column: pd.Series) -> pd.Series:
    """True where a cell is empty or a missing-value token."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.isna()
    text = column.astype("string").str.strip().str.lower()
    return (column.isna() | text.isin(MISSING_TOKENS)).fillna(True).astype(bool)


def _as_text(column: pd.Series) -> pd.Series:
    """Ids as text; integer-valued numbers without ".0" so 2448 in Parquet matches "2448" in a CSV."""
    if pd.api.types.is_float_dtype(column):
        return column.map(lambda v: str(int(v)) if float(v).is_integer() else str(v))
    return column.astype("string").str.strip().astype(object)


def _parse_numbers(column: pd.Series, missing: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float values with NaN where missing, mask of cells that are present but not a finite number)."""
    if pd.api.types.is_bool_dtype(column):
        column = column.astype(float)
    if not pd.api.types.is_numeric_dtype(column):
        column = column.astype("string").str.strip()
    values = pd.to_numeric(column.where(~missing), errors="coerce").astype(float)
    bad = ~missing & ~np.isfinite(values)
    return values.where(~bad), bad


def _parse_times(column: pd.Series, missing: pd.Series, time_format: str) -> tuple[pd.Series, pd.Series, str]:
    """(times as float: days since 1970 for dates, the value itself for numbers; bad-cell mask; format used)."""
    numbers, bad_numbers = _parse_numbers(column, missing)
    if time_format == "auto":  # a few bad cells must not flip a numeric column to dates
        time_format = "number" if bad_numbers.sum() * 2 < (~missing).sum() else "date"
    if time_format == "number":
        return numbers, bad_numbers, time_format
    text = column.where(~missing).astype("string").str.strip()
    # utc=True: times with an offset are compared in UTC; times without one are taken as UTC.
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    retry = dates.isna() & ~missing
    if retry.any():  # other spellings (03/04/2021: month first), one by one
        dates[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    days = (dates - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
    return days.astype(float), dates.isna() & ~missing, time_format


def _parse_labels(column: pd.Series, missing: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(0/1 labels as float with NaN where missing, mask of present cells that are not 0 or 1)."""
    values, bad = _parse_numbers(column, missing)
    bad |= values.notna() & ~values.isin([0.0, 1.0])
    return values.where(~bad), bad


def _report(skips: SkipCounter, path, problems: list[tuple[int, str]]) -> set[int]:
    """Reports problems in file order (the first raises in error mode); returns the bad lines."""
    for line, message in sorted(problems, key=lambda item: item[0]):
        skips.bad(path, line, message)
    return {line for line, _ in problems}


def _show(cell) -> str:
    return repr(str(cell).strip())


def read_visits(path: str | Path, data_config, skips: SkipCounter, with_labels: bool = True) -> pd.DataFrame:
    """The visits table parsed and checked: columns id, time, the features (float) and label (if in it).

    The index is the line number in the file. Rows with an unparseable number, date or label, a missing
    id or time, or a second visit of a patient at the same time are reported through `skips`.
    """
    path = Path(path)
    cfg = data_config
    frame = _read(path)
    label_in_file = with_labels and not cfg.labels_path
    require_columns(frame, [cfg.id_column, cfg.time_column, *cfg.feature_columns, *cfg.categorical_columns]
                    + ([cfg.label_column] if label_in_file else []), path)
    problems: list[tuple[int, str]] = []
    parsed = pd.DataFrame(index=frame.index)

    missing = _missing(frame[cfg.id_column])
    problems += [(line, f"missing patient id in column {cfg.id_column!r}") for line in frame.index[missing]]
    parsed["id"] = _as_text(frame[cfg.id_column].where(~missing))

    missing = _missing(frame[cfg.time_column])
    times, bad, used_format = _parse_times(frame[cfg.time_column], missing, cfg.time_format)
    expected = "a date like 2021-03-04" if used_format == "date" else "a number"
    problems += [(line, f"missing visit time in column {cfg.time_column!r}") for line in frame.index[missing]]
    problems += [(line, f"column {cfg.time_column!r}: cannot parse {_show(frame.at[line, cfg.time_column])} as "
                        f"{expected}") for line in frame.index[bad]]
    parsed["time"] = times

    for name in cfg.feature_columns:
        values, bad = _parse_numbers(frame[name], _missing(frame[name]))
        hint = " (a text code? list the column in data.categorical_columns)" if bad.sum() * 2 > len(bad) else ""
        problems += [(line, f"column {name!r}: cannot parse {_show(frame.at[line, name])} as a number{hint}")
                     for line in frame.index[bad]]
        parsed[name] = values

    for name in cfg.categorical_columns:  # codes compare trimmed and lowercased: "F", "f " and "f" are one code
        missing = _missing(frame[name])
        parsed[name] = _as_text(frame[name]).astype(str).str.lower().where(~missing, None)

    if label_in_file:
        labels, bad = _parse_labels(frame[cfg.label_column], _missing(frame[cfg.label_column]))
        problems += [(line, f"column {cfg.label_column!r}: label must be 0 or 1, got "
                            f"{_show(frame.at[line, cfg.label_column])}") for line in frame.index[bad]]
        parsed["label"] = labels

    bad_lines = _report(skips, path, problems)
    parsed = parsed.drop(index=sorted(bad_lines))

    duplicate = parsed.duplicated(["id", "time"], keep="first")
    if duplicate.any():
        first_line = parsed.index.to_series().groupby([parsed["id"], parsed["time"]]).transform("min")
        _report(skips, path, [(line, f"duplicate visit: patient {parsed.at[line, 'id']!r} already has a visit at "
                                     f"{_show(frame.at[line, cfg.time_column])} (line {first_line[line]})")
                              for line in parsed.index[duplicate]])
        parsed = parsed[~duplicate]
    parsed.attrs.update(time_format=used_format, rows_read=len(frame))
    return parsed


def _patient_labels_from_visits(visits: pd.DataFrame, path, label_column: str, skips: SkipCounter) -> pd.Series:
    """One label per patient from the label cells of their visits, which must agree."""
    problems, labels = [], {}
    for patient, rows in visits.groupby("id", sort=False)["label"]:
        present = rows.dropna()
        if present.empty:
            problems.append((rows.index.min(), f"patient {patient!r} has no {label_column!r} value on any row"))
        elif present.nunique() > 1:
            first = present.iloc[0]
            conflict = present.index[present != first][0]
            problems.append((conflict, f"{label_column!r} of patient {patient!r} is {present[conflict]:g} here but "
                                       f"{first:g} on line {present.index[0]}; the label must be constant within a "
                                       "patient"))
        else:
            labels[patient] = int(present.iloc[0])
    _report(skips, path, problems)
    return pd.Series(labels, dtype="int64")


def read_patient_labels(path: str | Path, data_config, skips: SkipCounter) -> pd.Series:
    """Labels from a table with one row per patient: id column -> 0/1 label column (a Series indexed by id)."""
    path = Path(path)
    cfg = data_config
    frame = _read(path)
    require_columns(frame, [cfg.id_column, cfg.label_column], path)
    missing_id = _missing(frame[cfg.id_column])
    missing_label = _missing(frame[cfg.label_column])
    ids = _as_text(frame[cfg.id_column].where(~missing_id))
    labels, bad = _parse_labels(frame[cfg.label_column], missing_label)
    problems = [(line, f"missing patient id in column {cfg.id_column!r}") for line in frame.index[missing_id]]
    problems += [(line, f"missing label in column {cfg.label_column!r}") for line in frame.index[missing_label]]
    problems += [(line, f"column {cfg.label_column!r}: label must be 0 or 1, got "
                        f"{_show(frame.at[line, cfg.label_column])}") for line in frame.index[bad]]
    valid = ~(missing_id | missing_label | bad)
    first_line = frame.index.to_series()[valid].groupby(ids[valid]).transform("min")
    for line in first_line.index[first_line != first_line.index]:  # the id was listed before
        if labels[line] != labels[first_line[line]]:
            problems.append((line, f"patient {ids[line]!r} is labelled {labels[line]:g} here but "
                                   f"{labels[first_line[line]]:g} on line {first_line[line]}"))
    bad_lines = _report(skips, path, problems)
    keep = valid & ~frame.index.isin(sorted(bad_lines))
    return labels[keep].groupby(ids[keep]).first().astype("int64")


def to_sequences(visits: pd.DataFrame, data_config) -> tuple[np.ndarray, np.ndarray, dict]:
    """(patient ids, exams (N, K, F) right-aligned and NaN-padded, counts, codes (N, K, C), file lines (N, K))."""
    cfg = data_config
    features, coded = list(cfg.feature_columns), list(cfg.categorical_columns)
    has_measurement = visits[features + coded].notna().any(axis=1)
    counts = {"visits_without_measurements": int((~has_measurement).sum())}
    visits = visits[has_measurement].sort_values(["id", "time"], kind="stable")
    if cfg.time_since_previous_visit:
        visits = visits.assign(**{GAP_FEATURE: visits.groupby("id")["time"].diff().fillna(0.0)})
        features.append(GAP_FEATURE)
    from_end = visits.groupby("id").cumcount(ascending=False).to_numpy()
    kept = from_end < cfg.max_visits
    counts["visits_older_than_max_visits"] = int((~kept).sum())
    visits, from_end = visits[kept], from_end[kept]
    patient_ids, patient_index = np.unique(visits["id"].to_numpy(dtype=str), return_inverse=True)
    exams = np.full((len(patient_ids), cfg.max_visits, len(features)), np.nan, dtype=np.float32)
    position = (patient_index, cfg.max_visits - 1 - from_end)
    exams[position] = visits[features].to_numpy(dtype=np.float32)
    codes = np.full((len(patient_ids), cfg.max_visits, len(coded)), None, dtype=object)
    cells = visits[coded].to_numpy(dtype=object, copy=True)
    cells[pd.isna(cells)] = None  # pandas may hold an empty cell as NaN or None
    codes[position] = cells
    lines = np.full((len(patient_ids), cfg.max_visits), -1, dtype=np.int64)
    lines[position] = visits.index.to_numpy()
    counts["visits_used"] = len(visits)
    return patient_ids, exams, counts, codes, lines


def load_cohort(data_config, path: str | Path | None = None, with_labels: bool = True) -> tuple[Cohort, dict]:
    """Reads the visits (and labels) named by `data_config` -> (Cohort, report of what was read and skipped)."""
    cfg = data_config
    path = Path(path or cfg.path)
    skips = SkipCounter(cfg.on_bad_row)
    visits = read_visits(path, cfg, skips, with_labels)
    report = {"path": str(path), "rows_read": visits.attrs["rows_read"], "time_format": visits.attrs["time_format"]}
    labels = None
    if with_labels:
        if cfg.labels_path:
            table = read_patient_labels(cfg.labels_path, cfg, skips)
            unlabeled = ~visits["id"].isin(table.index)
            first_lines = visits.index.to_series()[unlabeled].groupby(visits["id"][unlabeled]).min()
            _report(skips, path, [(line, f"patient {patient!r} has no label in {cfg.labels_path}")
                                  for patient, line in first_lines.items()])
            report["labelled_patients_without_visits"] = int((~table.index.isin(visits["id"])).sum())
        else:
            table = _patient_labels_from_visits(visits, path, cfg.label_column, skips)
        report["patients_dropped_for_labels"] = int((~pd.Index(visits["id"].unique()).isin(table.index)).sum())
        visits = visits[visits["id"].isin(table.index)]
    patient_ids, exams, counts, codes, lines = to_sequences(visits, cfg)
    if len(patient_ids) == 0:
        raise DataError(path, None, "no patient with a usable visit")
    if with_labels:
        labels = table.loc[patient_ids].to_numpy(dtype=np.int64)
        report.update(patients=len(patient_ids), positives=int(labels.sum()))
    else:
        report["patients"] = len(patient_ids)
    report.update(counts, skipped_rows=skips.report())
    log.info("%s: %d patients from %d rows; %d visits used, %d older than the last %d, %d without any measurement",
             path, len(patient_ids), report["rows_read"], counts["visits_used"],
             counts["visits_older_than_max_visits"], cfg.max_visits, counts["visits_without_measurements"])
    if not cfg.categorical_columns:
        codes = None
    return Cohort(patient_ids, exams, labels, feature_names(cfg), codes, lines, tuple(cfg.categorical_columns)), report


def fit_categories(cohort: Cohort) -> dict[str, list[str]]:
    """{categorical column: its codes in `cohort` (the training patients), sorted}: one model input per code."""
    categories = {}
    for index, column in enumerate(cohort.categorical_columns):
        present = cohort.codes[..., index]
        codes = sorted({code for code in present.ravel() if code is not None})
        if not codes:
            raise DataError(None, None, f"categorical column {column!r} has no value in the training patients")
        if len(codes) > MAX_CATEGORIES:
            raise DataError(None, None, f"categorical column {column!r} has {len(codes)} distinct codes in the "
                                        f"training patients (at most {MAX_CATEGORIES}): is it free text or an id?")
        categories[column] = codes
    return categories


def encode_categories(cohort: Cohort, categories: dict[str, list[str]], path=None,
                      on_unknown: str = "error") -> tuple[Cohort, int]:
    """(cohort with one 0/1 feature per code inserted before the gap, count of unknown codes).

    An empty cell gives NaN in all of its column's features (the model imputes and flags it). A code not in
    `categories`: "error" raises naming the file line; "missing" treats it as an empty cell and counts it.
    """
    if not cohort.categorical_columns:
        return cohort, 0
    if list(categories) != list(cohort.categorical_columns):
        raise ValueError(f"categories are for columns {list(categories)}, the data has "
                         f"{list(cohort.categorical_columns)}")
    blocks, unknown = [], 0
    visited = cohort.lines >= 0  # (N, K): a visit of the file, not padding
    for index, (column, codes) in enumerate(categories.items()):
        cells = cohort.codes[..., index]
        known = np.isin(cells, codes) | (cells == None)  # noqa: E711 (element-wise on an object array)
        bad = ~known & visited
        if bad.any():
            patient, visit = np.argwhere(bad)[0]
            if on_unknown == "error":
                raise DataError(path, int(cohort.lines[patient, visit]),
                                f"column {column!r}: code {cells[patient, visit]!r} was not in the training data "
                                f"(known: {', '.join(codes)}); use --on-bad-row skip to treat it as missing")
            unknown += int(bad.sum())
        onehot = np.stack([cells == code for code in codes], axis=-1).astype(np.float32)  # (N, K, codes)
        onehot[(cells == None) | bad | ~visited] = np.nan  # noqa: E711
        blocks.append(onehot)
    gap = cohort.feature_names[-1] == GAP_FEATURE
    numeric, tail = (cohort.exams[..., :-1], cohort.exams[..., -1:]) if gap else (cohort.exams, cohort.exams[..., :0])
    names = [n for n in cohort.feature_names if n != GAP_FEATURE]
    names += [f"{column}={code}" for column, codes in categories.items() for code in codes]
    names += [GAP_FEATURE] if gap else []
    exams = np.concatenate([numeric, *blocks, tail], axis=-1)
    if unknown:
        log.warning("%s: %d cell(s) with a code not seen in training, treated as missing", path, unknown)
    return dataclasses.replace(cohort, exams=exams, feature_names=tuple(names), codes=None,
                               categorical_columns=()), unknown


# The DataConfig fields that decide how a visits file is read: saved with the export, reused by predict.
SPEC_FIELDS = ("id_column", "time_column", "label_column", "feature_columns", "categorical_columns",
               "time_since_previous_visit", "max_visits")


def input_spec(data_config, time_format: str, categories: dict[str, list[str]] | None = None) -> dict:
    """What a visits file must hold for the exported model: written beside the export, read by predict.

    `categories` (from `fit_categories`) is the code -> input mapping of the categorical columns."""
    cfg = data_config
    spec = {name: getattr(cfg, name) for name in SPEC_FIELDS}
    return {**spec, "feature_columns": list(cfg.feature_columns), "categorical_columns": list(cfg.categorical_columns),
            "categories": categories or {}, "time_format": time_format,
            "feature_names": list(feature_names(cfg, categories)),
            "gap_unit": "days" if time_format == "date" else f"units of {cfg.time_column}"}


def data_config_for_prediction(spec: dict, path: str | Path, on_bad_row: str = "error") -> DataConfig:
    """A DataConfig that reads an unlabeled visits file the way the exported model was trained."""
    fields = {name: spec[name] for name in SPEC_FIELDS if name in spec}  # exports older than a field lack it
    return DataConfig(source="file", path=str(path), time_format=spec["time_format"], on_bad_row=on_bad_row,
                      **{**fields, "feature_columns": tuple(spec["feature_columns"]),
                         "categorical_columns": tuple(spec.get("categorical_columns", ()))})


def load_data(data_config) -> tuple[Cohort, dict, str]:
    """The configured data: the simulated cohort (written once under `data.builtin_dir`) or the user's file.

    Returns (cohort, load report, dataset name for metrics.json).
    """
    cfg = data_config
    if cfg.source == "builtin":
        path = data_builtin.write_builtin_data(cfg.builtin_dir, cfg.builtin_patients, cfg.builtin_months,
                                               cfg.builtin_positive_rate, cfg.builtin_seed)
        cohort, report = load_cohort(cfg, path)
        return cohort, report, f"builtin:simulated_cohort(patients={cfg.builtin_patients},seed={cfg.builtin_seed})"
    cohort, report = load_cohort(cfg)
    return cohort, report, f"file:{cfg.path}"


def split_by_patient(cohort: Cohort, val_fraction: float, test_fraction: float, seed: int) -> dict[str, Cohort]:
    """{"train", "val", "test"}: disjoint sets of patients, each with the cohort's positive rate."""
    labels = cohort.labels
    n_positive = int(labels.sum())
    if min(n_positive, len(labels) - n_positive) < 3:
        raise DataError(None, None, "need at least 3 patients of each label to split into train/val/test, got "
                                    f"{n_positive} positive and {len(labels) - n_positive} negative")
    index = np.arange(len(cohort))
    rest, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest],
                                  random_state=seed)
    return {"train": cohort.subset(np.sort(train)), "val": cohort.subset(np.sort(val)),
            "test": cohort.subset(np.sort(test))}


def make_dataset(cohort: Cohort, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of (exams, label as float32 (B, 1)); shuffled each epoch when `shuffle_seed` is given."""
    dataset = tf.data.Dataset.from_tensor_slices((cohort.exams, cohort.labels.astype(np.float32)[:, None]))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(cohort), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
