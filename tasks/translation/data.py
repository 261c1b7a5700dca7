"""English-Vietnamese sentence pairs: built-in grammar, TSV files, line-aligned parallel files or TFDS.

Every loader returns a DataFrame with the columns `english`, `vietnamese` and `origin` ("file:line",
so a pair can be found again). Formats:

- TSV (Tatoeba / Anki style, e.g. manythings.org's vie.txt): one pair per line,
  `english<TAB>vietnamese[<TAB>extra columns...]`, no quoting; the columns are configurable
  (Tatoeba's own exports put the sentences in columns 1 and 3). A first line `english<TAB>vietnamese`
  (or `en<TAB>vi`) is read as a header.
- Parallel files: `<prefix>.en` and `<prefix>.vi`, line i of one translating line i of the other
  (IWSLT'15 / Stanford NMT style), tokenized or not; HTML entities such as `&apos;` are decoded.
- TFDS `ted_multi_translate`: its train/validation/test splits, talks with both an English and a
  Vietnamese version.

A row with a missing column or an empty side is a bad row: an error naming file and line, or skipped and
counted with `on_bad_row: skip`. Cleaning (`clean_pairs`) drops duplicates, training pairs whose English
sentence is also in the test split, and training pairs longer than the length limits, and reports counts.
"""
from __future__ import annotations

import dataclasses
import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tasks.common.errors import DataError, SkipCounter
from tasks.common.tables import read_text
from tasks.common.text import has_visible_text
from tasks.translation import grammar
from tasks.translation.tokens import END_ID, START_ID, Vocabulary, tokenize

log = logging.getLogger(__name__)

COLUMNS = ("english", "vietnamese", "origin")
HEADERS = ({"english", "vietnamese"}, {"en", "vi"})  # a first line that names the two columns is a header
SIDE_NAMES = ("English", "Vietnamese")


@dataclasses.dataclass
class Corpus:
    """The three splits (DataFrames with COLUMNS), the dataset's name and what cleaning removed."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    name: str
    cleaning: dict  # counts of skipped bad rows, duplicates, test overlaps and too long pairs


def _pairs_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _check_sides(path, line: int, english: str, vietnamese: str, skips: SkipCounter) -> bool:
    for side, text in zip(SIDE_NAMES, (english, vietnamese)):
        if not has_visible_text(text):  # also a side of only zero-width characters
            skips.bad(path, line, f"empty {side} side")
            return False
    return True


def read_tsv_pairs(path, source_column: int = 0, target_column: int = 1, decode_html: bool = True,
                   skips: SkipCounter | None = None) -> pd.DataFrame:
    """Pairs from a tab-separated file; see the module docstring for the format."""
    skips = skips or SkipCounter("error")
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    needed = max(source_column, target_column) + 1
    rows = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            skips.bad(path, number, f"expected at least {needed} tab-separated columns (English at "
                                    f"{source_column}, Vietnamese at {target_column}), got {len(fields)}")
            continue
        english, vietnamese = fields[source_column].strip(), fields[target_column].strip()
        if not rows and {english.lower(), vietnamese.lower()} in HEADERS:
            continue
        if decode_html:
            english, vietnamese = html.unescape(english), html.unescape(vietnamese)
        if _check_sides(path, number, english, vietnamese, skips):
            rows.append((english, vietnamese, f"{path}:{number}"))
    if not rows and not skips.total:
        raise DataError(path, None, "file has no sentence pairs")
    return _pairs_frame(rows)


def parallel_paths(path, suffixes: tuple[str, str] = (".en", ".vi")) -> tuple[Path, Path]:
    """`corpus/train`, `corpus/train.en` or `corpus/train.vi` -> (corpus/train.en, corpus/train.vi)."""
    path = Path(path)
    prefix = path.with_suffix("") if path.suffix in suffixes else path
    english, vietnamese = (Path(f"{prefix}{suffix}") for suffix in suffixes)
    for side in (english, vietnamese):
        if not side.is_file():
            raise DataError(side, None, f"file not found (parallel files {english.name} and {vietnamese.name} "
                                        f"are both needed)")
    return english, vietnamese


def _lines(path: Path) -> list[str]:
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_parallel_pairs(path, suffixes: tuple[str, str] = (".en", ".vi"), decode_html: bool = True,
                        skips: SkipCounter | None = None) -> pd.DataFrame:
    """Pairs from line-aligned files `<prefix>.en` / `<prefix>.vi`."""
    skips = skips or SkipCounter("error")
    english_path, vietnamese_path = parallel_paths(path, suffixes)
    english_lines, vietnamese_lines = _lines(english_path), _lines(vietnamese_path)
    if len(english_lines) != len(vietnamese_lines):
        raise DataError(vietnamese_path, None, f"has {len(vietnamese_lines)} lines but {english_path} has "
                                               f"{len(english_lines)}; parallel files must be line-aligned")
    if not english_lines:
        raise DataError(english_path, None, "file has no sentences")
    rows = []
    for number, (english, vietnamese) in enumerate(zip(english_lines, vietnamese_lines), start=1):
        english, vietnamese = english.strip(), vietnamese.strip()
        if decode_html:
            english, vietnamese = html.unescape(english), html.unescape(vietnamese)
        where = vietnamese_path if english and not vietnamese else english_path
        if _check_sides(where, number, english, vietnamese, skips):
            rows.append((english, vietnamese, f"{english_path}:{number}"))
    return _pairs_frame(rows)


def read_tfds_pairs(name: str, split: str, data_dir: str | None = None, decode_html: bool = True) -> pd.DataFrame:
    """English-Vietnamese pairs of a TFDS multilingual translation dataset (TranslationVariableLanguages)."""
    import tensorflow_datasets as tfds

    dataset = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False)
    rows, without_pair = [], 0
    for index, example in enumerate(tfds.as_numpy(dataset)):
        translations = example["translations"]
        by_language = {language.decode("utf-8"): text.decode("utf-8").strip()
                       for language, text in zip(translations["language"], translations["translation"])}
        english, vietnamese = by_language.get("en", ""), by_language.get("vi", "")
        if decode_html:
            english, vietnamese = html.unescape(english), html.unescape(vietnamese)
        if english and vietnamese:
            rows.append((english, vietnamese, f"{name}/{split}:{index}"))
        else:
            without_pair += 1
    if without_pair:
        log.info("%s/%s: %d examples have no English-Vietnamese pair", name, split, without_pair)
    if not rows:
        raise DataError(f"{name}/{split}", None, "no example has both an English and a Vietnamese text")
    return _pairs_frame(rows)


def read_pairs(config, path, skips: SkipCounter) -> pd.DataFrame:
    """Pairs from `path` in the format `config.source` names (tsv or parallel)."""
    if config.source == "parallel":
        return read_parallel_pairs(path, config.parallel_suffixes, config.decode_html_entities, skips)
    return read_tsv_pairs(path, config.source_column, config.target_column, config.decode_html_entities, skips)


def _split(frame: pd.DataFrame, fraction: float, seed: int, where, held_out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, held out): `fraction` of the rows, chosen at random, at least one."""
    order = np.random.default_rng(seed).permutation(len(frame))
    count = max(1, round(fraction * len(frame)))
    if count >= len(frame):
        raise DataError(where, None, f"{len(frame)} usable sentence pair(s) are too few to hold out a {held_out} "
                                     f"split; give more pairs")
    return frame.iloc[np.sort(order[count:])], frame.iloc[np.sort(order[:count])]


def _key(texts: pd.Series) -> pd.Series:
    """A comparison key that ignores case and spacing, for duplicates and test overlap."""
    return texts.str.lower().str.split().str.join(" ")


def _drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    duplicated = pd.Series(list(zip(_key(frame.english), _key(frame.vietnamese)))).duplicated().to_numpy()
    return frame[~duplicated], int(duplicated.sum())


def clean_pairs(train: pd.DataFrame, val: pd.DataFrame | None, test: pd.DataFrame, config) -> tuple[tuple, dict]:
    """Drops duplicates, training/validation pairs whose English is in the test split, and too long pairs.

    Returns ((train, val, test), counts); `val` may be None (split off later). The test split loses
    only its own duplicates: a long test sentence is still translated and scored.
    """
    counts = {"duplicates": 0, "test_overlap": 0, "too_long": 0}
    if config.drop_duplicates:
        test, counts["duplicates"] = _drop_duplicates(test)
    test_english = set(_key(test.english))
    cleaned = []
    for frame in (train, val):
        if frame is None:
            cleaned.append(None)
            continue
        if config.drop_duplicates:
            frame, dropped = _drop_duplicates(frame)
            overlap = _key(frame.english).isin(test_english).to_numpy()
            frame = frame[~overlap]
            counts["duplicates"] += dropped
            counts["test_overlap"] += int(overlap.sum())
        source_lengths = np.array([len(tokens) for tokens in tokenize(frame.english.tolist())], dtype=int)
        target_lengths = np.array([len(tokens) for tokens in tokenize(frame.vietnamese.tolist())], dtype=int)
        fits = (source_lengths <= config.max_source_tokens) & (target_lengths <= config.max_target_tokens)
        counts["too_long"] += int((~fits).sum())
        cleaned.append(frame[fits].reset_index(drop=True))
    return (cleaned[0], cleaned[1], test.reset_index(drop=True)), counts


def load_data(config) -> Corpus:
    """The train / validation / test pairs the data config describes, cleaned (see clean_pairs)."""
    skips = SkipCounter(config.on_bad_row)
    early_duplicates = 0
    if config.source == "builtin":
        paths = grammar.write_corpus(config.builtin_dir, config.builtin_train_pairs, config.builtin_val_pairs,
                                     config.builtin_test_pairs, config.builtin_seed)
        train, val, test = (read_tsv_pairs(paths[split], skips=skips) for split in ("train", "val", "test"))
        name = "builtin_grammar"
    elif config.source == "tfds":
        train, val, test = (read_tfds_pairs(config.tfds_name, split, config.tfds_data_dir, config.decode_html_entities)
                            for split in ("train", "validation", "test"))
        name = f"tfds:{config.tfds_name}"
    else:
        train, val = read_pairs(config, config.path, skips), None
        if config.test_path:
            test = read_pairs(config, config.test_path, skips)
        else:
            if config.drop_duplicates:  # before splitting, so that no pair lands in two splits
                train, early_duplicates = _drop_duplicates(train)
            train, test = _split(train, config.test_fraction, config.split_seed, config.path, "test")
        name = f"{config.source}:{Path(config.path).name}"
    (train, val, test), counts = clean_pairs(train, val, test, config)
    counts["duplicates"] += early_duplicates
    if train.empty:
        raise DataError(config.path or name, None, f"no training pairs left after cleaning ({counts}); check the "
                                                   "file, data.max_source_tokens and data.max_target_tokens")
    if val is None:
        train, val = _split(train, config.val_fraction, config.split_seed + 1, config.path, "validation")
    if config.max_train_pairs is not None and len(train) > config.max_train_pairs:
        keep = np.random.default_rng(config.split_seed).permutation(len(train))[: config.max_train_pairs]
        train = train.iloc[np.sort(keep)]
    counts["skipped_bad_rows"] = sum(skips.report().values())
    for split, frame in (("train", train), ("val", val), ("test", test)):
        if frame.empty:
            raise DataError(config.path or name, None, f"no {split} pairs left after cleaning ({counts}); "
                                                       "check the length limits and the file")
    log.info("%s: %d train, %d validation, %d test pairs; cleaning %s", name, len(train), len(val), len(test),
             counts)
    return Corpus(train=train.reset_index(drop=True), val=val.reset_index(drop=True), test=test, name=name,
                  cleaning=counts)


BUCKET_BOUNDARIES = (8, 12, 16, 24, 32, 48)  # target lengths; batching similar lengths wastes fewer RNN steps


def _teacher_forcing(source, target):
    """(source ids, target ids) -> ({source, target_in = [START] + target}, target + [END], weights)."""
    target_in = tf.concat([[START_ID], target], axis=0)
    target_out = tf.concat([target, [END_ID]], axis=0)
    return {"source": source, "target_in": target_in}, target_out, tf.ones_like(target_out, tf.float32)


def make_dataset(frame: pd.DataFrame, source: Vocabulary, target: Vocabulary, batch_size: int, shuffle: bool,
               seed: int) -> tf.data.Dataset:
    """Batches of ({"source", "target_in"}, target_out, weights) padded with 0 (weight 0 on padding).

    Pairs are grouped by target length (bucketed) so that a batch of short sentences does not run the
    RNNs for as many steps as the longest sentence of the corpus.
    """
    source_ids = source.encode(tf.constant(frame.english.tolist(), tf.string))
    target_ids = target.encode(tf.constant(frame.vietnamese.tolist(), tf.string))
    dataset = tf.data.Dataset.from_tensor_slices((source_ids, target_ids))
    if shuffle:
        dataset = dataset.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_teacher_forcing, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, target_out, weights: tf.shape(target_out)[0], list(BUCKET_BOUNDARIES),
        [batch_size] * (len(BUCKET_BOUNDARIES) + 1))
    # Bucketing hides the number of batches from Keras. It is the same every epoch (each bucket's last
    # partial batch is kept): a bucket holds the targets with boundaries[i-1] <= length < boundaries[i].
    buckets = np.searchsorted(BUCKET_BOUNDARIES, target_ids.row_lengths().numpy() + 1, side="right")
    batches = int(sum(-(-count // batch_size) for count in np.bincount(buckets)))
    return dataset.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)
