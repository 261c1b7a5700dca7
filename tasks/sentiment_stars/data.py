"""Reviews and their stars for sentiment_stars: the built-in corpus, the user's files, or a TFDS dataset.

Interface:

    from tasks.sentiment_stars.data import load_data, make_dataset, class_weights
    splits = load_data(config.data)             # Splits(train, val, test, name, skipped); config.py's DataConfig
    splits.train                                # DataFrame: text (str), stars (int 1..5), order_dependent (bool)
    train_ds = make_dataset(splits.train, batch_size=64, shuffle=True, seed=42)  # batches of (text, stars - 1)
    weights = class_weights(splits.train)       # {stars - 1: weight}, "balanced", for model.fit(class_weight=...)

`data.source` picks where reviews come from:

- "builtin" (default): `corpus.py` writes train.csv, val.csv and test.csv once into a folder under `builtin_dir`
  named by the seed, sizes and language (never over existing files) and the CSV loader below reads them
  back, exactly as it reads a user's file. test.csv marks the order-dependent pairs (`order_dependent`).
- "files": `train_path` (plus `val_path` / `test_path`; a missing one is carved out of train), or a single
  `path` split into train/val/test by `val_fraction` / `test_fraction` (seeded, stratified by stars).
  CSV, TSV, JSON lines or Parquet, read by `tasks.common.tables.read_table`; `text_column` and `rating_column`
  name the columns; an `order_dependent` column (0/1) is kept when present. Ratings on another scale
  are mapped linearly (`rating_scale: [0, 10]`: 0 -> 1 star, 10 -> 5 stars, rounded half up) or through
  `rating_map` ({"pos": 5, "neg": 1}).
- "tfds": any catalog text dataset (`tfds_name`), with `tfds_text_feature`, `tfds_label_feature` and
  `tfds_label_to_stars` ({0: 1, 1: 5} for imdb_reviews or yelp_polarity_reviews) and split names.

Text is cleaned the same way everywhere: byte order marks removed, NFC, runs of whitespace (tabs, newlines,
no-break and zero-width spaces) collapsed to one space; emoji and case are kept. A bad row (empty text, a
missing, non-numeric or out-of-scale rating) raises a one-line `DataError` "file:line: what is wrong (data
row N)", where line is the line an editor shows (the CSV header is line 1; JSON lines count from 1; Parquet
rows count from 1) and N counts data rows from 1. With `on_bad_row: skip` such rows are skipped instead,
logged, and counted per file in `Splits.skipped`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from tasks.common.errors import DataError, SkipCounter
from tasks.common.materialize import materialize
from tasks.common.tables import read_table, require_columns
from tasks.common.text import has_visible_text
from tasks.sentiment_stars.config import DataConfig, rating_key
from tasks.sentiment_stars import corpus

log = logging.getLogger(__name__)

COLUMNS = list(corpus.COLUMNS)
DELIMITED = (".csv", ".tsv", ".txt")


@dataclasses.dataclass
class Splits:
    """Train/val/test frames (columns text, stars, order_dependent), the dataset's name and skipped rows per file."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    name: str
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)


def load_data(config: DataConfig) -> Splits:
    """Loads train/val/test from the configured source, cleaned, validated and capped at max_examples."""
    config.check_source()
    loader = {"builtin": _load_builtin, "files": _load_files, "tfds": _load_tfds}[config.source]
    splits = loader(config)
    if config.max_examples:
        for split in ("train", "val", "test"):
            frame = getattr(splits, split)
            if len(frame) > config.max_examples:
                setattr(splits, split, frame.sample(n=config.max_examples, random_state=config.split_seed).sort_index())
    log.info("%s: %d train, %d val, %d test reviews", splits.name, len(splits.train), len(splits.val),
             len(splits.test))
    return splits


# ------------------------------------------------------------------------------------------------ cleaning


def clean_text(text: str) -> str:
    """Removes byte order marks, applies NFC and collapses whitespace; keeps case, punctuation and emoji."""
    text = unicodedata.normalize("NFC", text.replace("\ufeff", "").replace("\u200b", " "))
    return " ".join(text.split())


def _is_missing(value) -> bool:
    """None, NaN, pandas NA (nullable Parquet columns) or a blank string."""
    if isinstance(value, str):
        return not value.strip()
    return bool(pd.isna(value)) if np.ndim(value) == 0 else False


def rating_to_stars(value, config: DataConfig) -> int:
    """One rating -> stars 1..5 through rating_map or rating_scale; raises ValueError saying what is wrong."""
    column = config.rating_column
    if _is_missing(value):
        raise DataError(None, None, f"missing rating in column {column!r}")
    if config.rating_map is not None:
        key = rating_key(value)
        if key not in config.rating_map:
            raise DataError(None, None, f"rating {value!r} in column {column!r} is not in rating_map "
                                        f"(keys: {', '.join(config.rating_map)})")
        return config.rating_map[key]
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise DataError(None, None, f"rating {value!r} in column {column!r} is not a number") from None
    low, high = config.rating_scale
    if not math.isfinite(number):
        raise DataError(None, None, f"rating {value!r} in column {column!r} is not a number")
    if not low <= number <= high:
        raise DataError(None, None, f"rating {value!r} in column {column!r} is outside rating_scale {low:g}..{high:g}")
    position = round((number - low) / (high - low) * 4, 9)  # 0..4; rounding first keeps 2.5 from becoming 2.4999
    return int(math.floor(position + 0.5)) + 1  # half up: 3.5 stars -> 4


def _order_flag(value) -> bool:
    if _is_missing(value):
        return False
    text = rating_key(value).lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise DataError(None, None, f"order_dependent must be 0 or 1, got {value!r}")


# --------------------------------------------------------------------------------------------------- files


def read_reviews(path: str | os.PathLike, config: DataConfig, skips: SkipCounter) -> pd.DataFrame:
    """One table -> DataFrame(text, stars, order_dependent) indexed by editor line; bad rows raise or are skipped."""
    path = Path(path)
    # Every CSV cell as a string, "" when empty: "NA" stays a word and 5 / 5.0 reach rating_map unchanged.
    kwargs = {"dtype": str, "keep_default_na": False} if path.suffix.lower() in DELIMITED else {}
    frame = read_table(path, **kwargs)
    require_columns(frame, [config.text_column, config.rating_column], path)
    has_flag = "order_dependent" in frame.columns
    flags = frame["order_dependent"] if has_flag else [False] * len(frame)
    rows, lines = [], []
    for number, (line, text, rating, flag) in enumerate(
            zip(frame.index, frame[config.text_column], frame[config.rating_column], flags), start=1):
        try:
            cleaned = "" if _is_missing(text) else clean_text(str(text))
            if not has_visible_text(cleaned):  # also text of only zero-width characters
                raise DataError(None, None, f"empty text in column {config.text_column!r}")
            rows.append((cleaned, rating_to_stars(rating, config), _order_flag(flag)))
            lines.append(line)
        except ValueError as error:
            skips.bad(path, int(line), f"{error} (data row {number})")
    if not rows:
        raise DataError(path, None, f"no usable rows: all {len(frame)} data rows are bad")
    result = pd.DataFrame(rows, columns=COLUMNS, index=pd.Index(lines, name="line"))
    return result.astype({"stars": "int64", "order_dependent": bool})


def carve(frame: pd.DataFrame, fraction: float, seed: int, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits off `fraction` of the rows, stratified by stars when the star counts allow it; returns (rest, carved)."""
    if len(frame) < 2:
        raise DataError(source, None, f"too few rows ({len(frame)}) to carve out a {fraction:.0%} split")
    try:
        return train_test_split(frame, test_size=fraction, random_state=seed, stratify=frame["stars"])
    except ValueError as error:  # a star value with a single row, or fewer carved rows than star values
        log.warning("%s: carving %.0f%% without stratification (%s)", source, 100 * fraction, error)
        return train_test_split(frame, test_size=fraction, random_state=seed)


def _load_files(config: DataConfig) -> Splits:
    skips = SkipCounter(config.on_bad_row)
    train_path = config.path or config.train_path  # one table (path) is a train file with nothing beside it
    train = read_reviews(train_path, config, skips)
    test = read_reviews(config.test_path, config, skips) if config.test_path else None
    val = read_reviews(config.val_path, config, skips) if config.val_path else None
    if test is None:
        train, test = carve(train, config.test_fraction, config.split_seed, train_path)
    if val is None:  # fractions are of the original table, whichever splits were carved before
        share = config.val_fraction / (1 - (config.test_fraction if not config.test_path else 0))
        train, val = carve(train, share, config.split_seed, train_path)
    return Splits(train, val, test, f"files:{Path(train_path).name}", skips.report())


# ------------------------------------------------------------------------------------------------- builtin


def builtin_manifest(config: DataConfig) -> dict:
    """What the built-in files in builtin_dir were generated from."""
    return {"generator": corpus.GENERATOR, "language": config.builtin_language, "seed": config.builtin_seed,
            "sizes": [config.builtin_train_size, config.builtin_val_size, config.builtin_test_size]}


def ensure_builtin(config: DataConfig) -> Path:
    """The folder of the built-in corpus (train.csv, val.csv, test.csv) for these settings, under builtin_dir,
    generated once (tasks/common/materialize.py); files already there are never replaced."""
    settings = builtin_manifest(config)

    def write(folder: Path) -> None:
        for split, frame in corpus.generate_corpus(settings["sizes"], settings["seed"], settings["language"]).items():
            frame.to_csv(folder / f"{split}.csv", index=False, encoding="utf-8")

    return materialize(config.builtin_dir, settings, write)


def _load_builtin(config: DataConfig) -> Splits:
    directory = ensure_builtin(config)
    # Read the generated CSVs with the same loader as a user's files, with the built-in column names.
    reader = dataclasses.replace(config, text_column="text", rating_column="stars", rating_scale=(1.0, 5.0),
                                 rating_map=None)
    skips = SkipCounter("error")
    frames = {split: read_reviews(directory / f"{split}.csv", reader, skips) for split in corpus.SPLITS}
    return Splits(**frames, name=f"builtin:{config.builtin_language}")


# ---------------------------------------------------------------------------------------------------- tfds


def _load_tfds(config: DataConfig) -> Splits:
    import tensorflow_datasets as tfds  # imported here: slow to import and only needed for this source

    name = config.tfds_name
    builder = tfds.builder(name, data_dir=config.tfds_data_dir)
    features = builder.info.features
    for key in (config.tfds_text_feature, config.tfds_label_feature):
        if key not in features:
            raise DataError(f"tfds:{name}", None, f"has no feature {key!r}; its features are {list(features)}")
    label_feature = features[config.tfds_label_feature]
    if isinstance(label_feature, tfds.features.ClassLabel):
        unmapped = [label for label in range(label_feature.num_classes) if label not in config.tfds_label_to_stars]
        if unmapped:
            names = [label_feature.int2str(label) for label in unmapped]
            raise DataError(f"tfds:{name}", None, f"tfds_label_to_stars has no stars for label(s) {unmapped} "
                            f"(named {names}); it maps {config.tfds_label_to_stars}")
    builder.download_and_prepare()
    skips = SkipCounter(config.on_bad_row)

    def read(split: str) -> pd.DataFrame:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        if config.max_examples:
            dataset = dataset.take(config.max_examples)
        source, rows = f"tfds:{name}/{split}", []
        for number, example in enumerate(tfds.as_numpy(dataset), start=1):
            try:
                text = clean_text(example[config.tfds_text_feature].decode("utf-8"))
                if not text:
                    raise DataError(None, None, f"empty text in feature {config.tfds_text_feature!r}")
                label = int(example[config.tfds_label_feature])
                if label not in config.tfds_label_to_stars:
                    raise DataError(None, None, f"label {label} has no stars in tfds_label_to_stars")
                rows.append((text, config.tfds_label_to_stars[label], False))
            except (UnicodeDecodeError, ValueError) as error:
                skips.bad(source, number, f"example {number}: {error}")
        if not rows:
            raise DataError(source, None, "no usable examples")
        return pd.DataFrame(rows, columns=COLUMNS, index=pd.RangeIndex(1, len(rows) + 1, name="example"))

    train, test = read(config.tfds_train_split), read(config.tfds_test_split)
    if config.tfds_val_split:
        val = read(config.tfds_val_split)
    else:
        train, val = carve(train, config.val_fraction, config.split_seed, f"tfds:{name}/{config.tfds_train_split}")
    return Splits(train, val, test, f"tfds:{name}", skips.report())


# ----------------------------------------------------------------------------------------------- to Keras


def make_dataset(frame: pd.DataFrame, batch_size: int, shuffle: bool = False, seed: int | None = None,
               wide_logits: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches of (text: tf.string (B,), label: int32 (B,) = stars - 1), prefetched; reshuffled every epoch.

    With `wide_logits` (N, 5) the inputs are (text, wide_logits), for the warm-started training model.
    """
    texts = tf.constant(frame["text"].tolist(), dtype=tf.string)
    labels = tf.constant(frame["stars"].to_numpy(dtype=np.int32) - 1)
    inputs = texts if wide_logits is None else (texts, tf.constant(wide_logits, dtype=tf.float32))
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_weights(frame: pd.DataFrame) -> dict[int, float]:
    """{stars - 1: n / (classes * count)} over the star values present, for skewed real data (1.0 when balanced)."""
    present = np.unique(frame["stars"].to_numpy())
    weights = compute_class_weight("balanced", classes=present, y=frame["stars"].to_numpy())
    return {int(stars) - 1: float(weight) for stars, weight in zip(present, weights)}
