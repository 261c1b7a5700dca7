"""sentiment_stars data: the built-in corpus and its rule, user files and their errors, TFDS under mock_data."""
from __future__ import annotations

import collections
import logging
import re

import numpy as np
import pandas as pd
import pytest

from tasks.common.config import ConfigError, load_config
from tasks.common.errors import DataError
from tasks.common.materialize import settings_folder
from tasks.sentiment_stars import corpus
from tasks.sentiment_stars.corpus import VI, Clause, Modifier, Part, Review, Style
from tasks.sentiment_stars.config import DataConfig
from tasks.sentiment_stars.data import (builtin_manifest, clean_text, class_weights, ensure_builtin, load_data,
                                        make_dataset, rating_to_stars)

SMALL = (600, 100, 300)
PLAIN = Style(opener="", closer="", ending="", emoji="", capitalize=False, shout="", typo="", informal=False)


@pytest.fixture(scope="module")
def small_corpus():
    return corpus.generate_corpus(SMALL, seed=7)


def clause(adjective, polarity, kind="plain", words=(), subject=None):
    return Clause(subject, adjective, polarity, Modifier(kind, tuple(words)))


def simple(*clauses):
    return Review("simple", Part(tuple(clauses), (" và ",) * (len(clauses) - 1)))


def contrast(first, second, marker="nhưng"):
    return Review("contrast", Part((second,), ()), Part((first,), ()), marker)


# ------------------------------------------------------------------------------------------ the star rule


@pytest.mark.parametrize("review, text, stars", [
    (simple(clause("tốt", 1, subject="ứng dụng")), "ứng dụng tốt", 4),  # the lesson's example
    (simple(clause("tốt", 1, "strong", ["rất"])), "rất tốt", 5),
    (simple(clause("chậm", -1, "weak", ["hơi"])), "hơi chậm", 3),
    (simple(clause("tốt", 1, "not", ["không"])), "không tốt", 2),
    (simple(clause("tốt", 1, "not_very", ["không", "thật sự"])), "không thật sự tốt", 3),
    (simple(clause("tốt", 1, "very_not", ["thật sự", "không"])), "thật sự không tốt", 1),
    (simple(clause("đẹp", 1), clause("chậm", -1, "strong", ["rất"])), "đẹp và rất chậm", 2),
    (simple(clause("đẹp", 1, "strong", ["rất"]), clause("rẻ", 1, "strong", ["rất"])), "rất đẹp và rất rẻ", 5),
    (contrast(clause("đẹp", 1), clause("chậm", -1)), "đẹp nhưng chậm", 2),
    (contrast(clause("chậm", -1), clause("đẹp", 1)), "chậm nhưng đẹp", 4),
    (contrast(clause("đẹp", 1, "strong", ["rất"]), clause("chậm", -1)), "rất đẹp nhưng chậm", 2),
    (Review("concession", Part((clause("chậm", -1),), ()), Part((clause("đẹp", 1),), ()), "dù", ", "),
     "chậm, dù đẹp", 2),
])
def test_star_rule_matches_the_docstring(review, text, stars):
    assert corpus.render(review, PLAIN, VI) == text
    assert review.stars == stars


def test_twins_have_the_same_words_and_different_stars():
    review = contrast(clause("đẹp", 1, "strong", ["rất"]), clause("chậm", -1))
    twins = [t for t in corpus.twin_candidates(review, VI) if t.stars != review.stars]
    texts = {corpus.render(t, PLAIN, VI) for t in twins}
    assert {"chậm nhưng rất đẹp", "đẹp nhưng rất chậm"} <= texts
    for twin in twins:
        assert corpus.bag_of_words(corpus.render(twin, PLAIN, VI)) == corpus.bag_of_words("rất đẹp nhưng chậm")


def test_a_softener_never_moves_onto_an_adjective_it_does_not_fit():
    review = simple(clause("chậm", -1, "weak", ["hơi"]), clause("đẹp", 1))  # "hơi đẹp" is not said
    assert all(corpus.render(t, PLAIN, VI) != "chậm và hơi đẹp" for t in corpus.twin_candidates(review, VI))


# ---------------------------------------------------------------------------------------------- generator


def test_generator_is_deterministic(small_corpus):
    again = corpus.generate_corpus(SMALL, seed=7)
    for split in corpus.SPLITS:
        pd.testing.assert_frame_equal(small_corpus[split], again[split])
    assert not corpus.generate_corpus(SMALL, seed=8)["train"].equals(small_corpus["train"])


def test_corpus_sizes_columns_and_stars(small_corpus):
    for split, size in zip(corpus.SPLITS, SMALL):
        frame = small_corpus[split]
        assert list(frame.columns) == ["text", "stars", "order_dependent"] and len(frame) == size
        assert set(frame["stars"]) == {1, 2, 3, 4, 5}
        assert frame["stars"].value_counts().min() > 0.1 * size  # no star value is rare


def test_order_dependent_rows_come_in_same_words_different_stars_groups(small_corpus):
    test = small_corpus["test"]
    marked = test[test["order_dependent"] == 1]
    assert len(marked) >= 0.3 * len(test)
    groups = marked.groupby(marked["text"].map(corpus.bag_of_words))["stars"]
    assert (groups.nunique() >= 2).all()
    assert (groups.size() >= 2).all()


def test_training_rows_teach_contrast_and_negation(small_corpus):
    train = small_corpus["train"]
    marked = train["text"].str.lower().str.contains(r"\b(?:nhưng|tuy nhiên|có điều|dù|không|chẳng|chưa|ko)\b")
    assert marked.mean() >= 0.5
    assert train["order_dependent"].mean() >= 0.25


def test_no_review_is_in_two_splits(small_corpus):
    keys = {split: set(frame["text"].map(corpus.word_key)) for split, frame in small_corpus.items()}
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]


def test_corpus_has_surface_variety(small_corpus):
    text = " ".join(small_corpus["train"]["text"])
    assert any(emoji in text for emoji in corpus.EMOJI)
    assert re.search(r"\b[A-ZĐ]{2,}", text)  # a shouted word ("RẤT")
    assert re.search(r"\b(?:tot|dep|cham|gia|re|ngon)\b", text.lower())  # typed without diacritics
    assert len({w for w in re.findall(r"\w+", text.lower())}) > 150


@pytest.mark.parametrize("lexicon", [corpus.VI, corpus.EN], ids=["vi", "en"])
def test_each_adjective_has_one_polarity(lexicon):
    polarity = collections.defaultdict(set)
    for _, positive, negative in lexicon.aspects.values():
        for word in positive:
            polarity[word].add(1)
        for word in negative:
            polarity[word].add(-1)
    for word in lexicon.general[0]:
        polarity[word].add(1)
    for word in lexicon.general[1]:
        polarity[word].add(-1)
    for word in lexicon.neutral:
        polarity[word].add(0)
    assert {word: signs for word, signs in polarity.items() if len(signs) > 1} == {}


def test_english_corpus():
    frames = corpus.generate_corpus((200, 20, 100), seed=1, language="en")
    text = " ".join(frames["train"]["text"]).lower()
    assert " but " in text and " not " in text and "nhưng" not in text


# ------------------------------------------------------------------------------------------------ builtin


def builtin_config(tmp_path, **changes) -> DataConfig:
    return DataConfig(builtin_dir=str(tmp_path / "builtin"), builtin_train_size=300, builtin_val_size=50,
                      builtin_test_size=100, **changes)


def test_builtin_is_written_once_and_read_back(tmp_path):
    config = builtin_config(tmp_path)
    splits = load_data(config)
    directory = ensure_builtin(config)
    assert directory.parent == tmp_path / "builtin"  # a folder per generator settings
    assert sorted(p.name for p in directory.iterdir()) == [".generated.json", "test.csv", "train.csv", "val.csv"]
    assert splits.name == "builtin:vi" and splits.skipped == {}
    assert (len(splits.train), len(splits.val), len(splits.test)) == (300, 50, 100)
    assert splits.train["stars"].dtype == np.int64 and splits.train["order_dependent"].dtype == bool
    assert splits.test["order_dependent"].any()
    on_disk = pd.read_csv(directory / "test.csv", encoding="utf-8")
    assert on_disk["text"].tolist() == splits.test["text"].tolist()
    stamp = (directory / "train.csv").stat().st_mtime_ns
    load_data(config)
    assert (directory / "train.csv").stat().st_mtime_ns == stamp  # read again, not regenerated


def test_builtin_never_replaces_files_it_did_not_write(tmp_path):
    directory = settings_folder(tmp_path / "builtin", builtin_manifest(builtin_config(tmp_path)))
    directory.mkdir(parents=True)
    (directory / "train.csv").write_text("mine\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"exists without a readable .generated.json, so the built-in generator did "
                                        r"not write it; it is left untouched"):
        load_data(builtin_config(tmp_path))
    assert (directory / "train.csv").read_text(encoding="utf-8") == "mine\n"


def test_builtin_with_other_settings_is_another_corpus(tmp_path):
    first = ensure_builtin(builtin_config(tmp_path))
    other = ensure_builtin(builtin_config(tmp_path, builtin_seed=5))
    assert other != first and other.parent == first.parent
    assert (pd.read_csv(first / "train.csv")["text"] != pd.read_csv(other / "train.csv")["text"]).any()


# ------------------------------------------------------------------------------------------------- files


def write_table(frame: pd.DataFrame, path):
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False, encoding="utf-8")


REVIEWS = pd.DataFrame({
    "review": ["Ứng dụng tốt 😍", "đẹp, nhưng chậm", "giao hàng nhanh", "rất tệ!!", "tạm ổn", "text with \"quotes\""],
    "rating": [4, 2, 4, 1, 3, 5],
})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_round_trip_through_each_format(tmp_path, suffix):
    paths = {}
    for split, rows in (("train", slice(0, 4)), ("val", slice(4, 5)), ("test", slice(5, 6))):
        paths[split] = tmp_path / f"{split}{suffix}"
        write_table(REVIEWS.iloc[rows], paths[split])
    config = DataConfig(source="files", train_path=str(paths["train"]), val_path=str(paths["val"]),
                        test_path=str(paths["test"]), text_column="review", rating_column="rating")
    splits = load_data(config)
    loaded = pd.concat([splits.train, splits.val, splits.test])
    assert loaded["text"].tolist() == REVIEWS["review"].tolist()
    assert loaded["stars"].tolist() == REVIEWS["rating"].tolist()
    assert not loaded["order_dependent"].any()
    assert splits.name == f"files:train{suffix}"


def test_text_is_cleaned_but_keeps_emoji_and_case():
    nfd = "Vie\u0323\u0302t"
    assert clean_text(f"\ufeff  Rất\u00a0TỐT\t\n{nfd}\u200b😍  ") == "Rất TỐT Việt 😍"


def test_bom_and_crlf_file_reads_cleanly(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufefftext,stars\r\n\"hay\r\nquá  😍\",5\r\n".encode("utf-8"))
    config = DataConfig(source="files", train_path=str(path), val_path=str(path), test_path=str(path))
    assert load_data(config).train["text"].tolist() == ["hay quá 😍"]


def files_config(path, **changes) -> DataConfig:
    return DataConfig(source="files", train_path=str(path), val_path=str(path), test_path=str(path), **changes)


BAD_INPUTS = {
    "empty text": ("r.csv", "text,stars\nok,5\n   ,4\n", ":3: empty text in column 'text' (data row 2)"),
    "non-numeric rating": ("r.csv", "text,stars\nok,5\nok,five\n",
                           ":3: rating 'five' in column 'stars' is not a number (data row 2)"),
    "rating out of scale": ("r.csv", "text,stars\nok,7\n",
                            ":2: rating '7' in column 'stars' is outside rating_scale 1..5 (data row 1)"),
    "missing rating": ("r.tsv", "text\tstars\nok\t5\nok\t\n", ":3: missing rating in column 'stars' (data row 2)"),
    "row after a multi-line text": ("r.csv", 'text,stars\n"two\nlines",5\nok,0\n',
                                    ":4: rating '0' in column 'stars' is outside rating_scale 1..5 (data row 2)"),
    "JSON null text": ("r.jsonl", '{"text": "ok", "stars": 5}\n\n{"text": null, "stars": 4}\n',
                       ":3: empty text in column 'text' (data row 2)"),
    "JSON boolean rating": ("r.jsonl", '{"text": "ok", "stars": true}\n',
                            ":1: rating True in column 'stars' is not a number (data row 1)"),
    "missing column": ("r.csv", "review,stars\nok,5\n",
                       ": missing column(s) ['text']; the file has ['review', 'stars']"),
    "empty file": ("r.csv", "", ": file is empty"),
    "header only": ("r.csv", "text,stars\n", ": file has a header but no data rows"),
    "bad encoding": ("r.csv", "text,stars\nok,5\ncafé,4\n".encode("latin-1"),
                     ":3: line is not valid utf-8 (byte 0xe9 at offset 19); re-save the file as UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_row_and_problem(tmp_path, case):
    name, content, expected = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(DataError) as error:
        load_data(files_config(path))
    message = str(error.value)
    assert message.startswith(f"{path}{expected}") and "\n" not in message


def test_skip_mode_counts_and_logs_bad_rows(tmp_path, caplog):
    train, clean = tmp_path / "train.csv", tmp_path / "clean.csv"
    train.write_text("text,stars\ngood,5\n,4\nbad,x\nfine,3\nok,9\nnice,4\n", encoding="utf-8")
    clean.write_text("text,stars\nok,4\n", encoding="utf-8")
    config = DataConfig(source="files", train_path=str(train), val_path=str(clean), test_path=str(clean),
                        on_bad_row="skip")
    with caplog.at_level(logging.WARNING):
        splits = load_data(config)
    assert splits.train["text"].tolist() == ["good", "fine", "nice"]
    assert splits.train.index.tolist() == [2, 5, 7]  # editor lines, header = line 1
    assert splits.skipped == {str(train): 3}
    assert f"skipped 3 bad row(s) in {train} (first: {train}:3: empty text in column 'text' (data row 2))" \
        in caplog.text


def test_skip_mode_still_fails_when_nothing_is_left(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,stars\n,4\nbad,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"r.csv: no usable rows: all 2 data rows are bad"):
        load_data(files_config(path, on_bad_row="skip"))


@pytest.mark.parametrize("rating, stars", [(0, 1), ("10", 5), (5, 3), (2.5, 2), (6.25, 4), (3.7, 2), (" 8 ", 4)])
def test_rating_scale_maps_linearly_and_rounds_half_up(rating, stars):
    assert rating_to_stars(rating, DataConfig(rating_scale=(0, 10))) == stars


def test_rating_map(tmp_path):
    config = DataConfig(rating_map={"pos": 5, "neg": 1, 2: 3})
    assert [rating_to_stars(v, config) for v in ("pos", " neg ", "2", 2.0)] == [5, 1, 3, 3]
    with pytest.raises(ValueError, match=r"rating 'meh' in column 'stars' is not in rating_map \(keys: pos, neg, 2\)"):
        rating_to_stars("meh", config)
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "a", "label": "pos"}\n{"text": "b", "label": "neg"}\n', encoding="utf-8")
    splits = load_data(files_config(path, rating_column="label", rating_map={"pos": 5, "neg": 1}))
    assert splits.train["stars"].tolist() == [5, 1]


def test_single_file_split_is_seeded_stratified_and_disjoint(tmp_path):
    stars = np.repeat([1, 2, 3, 4, 5], [100, 40, 20, 40, 200])
    path = tmp_path / "all.csv"
    pd.DataFrame({"text": [f"review {i}" for i in range(len(stars))], "stars": stars}).to_csv(path, index=False)
    config = DataConfig(source="files", path=str(path), val_fraction=0.1, test_fraction=0.2, split_seed=3)
    splits = load_data(config)
    sizes = [len(splits.train), len(splits.val), len(splits.test)]
    assert sizes == [280, 40, 80]
    lines = [set(frame.index) for frame in (splits.train, splits.val, splits.test)]
    assert not (lines[0] & lines[1]) and not (lines[0] & lines[2]) and not (lines[1] & lines[2])
    assert set().union(*lines) == set(range(2, 402))
    for frame in (splits.train, splits.val, splits.test):  # each split keeps the file's star proportions
        shares = frame["stars"].value_counts(normalize=True).sort_index().to_numpy()
        np.testing.assert_allclose(shares, [0.25, 0.1, 0.05, 0.1, 0.5], atol=0.02)
    assert load_data(config).test.index.tolist() == splits.test.index.tolist()
    other = load_data(DataConfig(source="files", path=str(path), split_seed=4))
    assert other.test.index.tolist() != splits.test.index.tolist()


def test_missing_val_and_test_files_are_carved_from_train(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": [f"r{i}" for i in range(100)], "stars": [1 + i % 5 for i in range(100)]}).to_csv(
        path, index=False)
    splits = load_data(DataConfig(source="files", train_path=str(path)))
    assert [len(splits.train), len(splits.val), len(splits.test)] == [70, 10, 20]


def test_max_examples_samples_each_split(tmp_path):
    splits = load_data(builtin_config(tmp_path, max_examples=40))
    assert [len(splits.train), len(splits.val), len(splits.test)] == [40, 40, 40]


# ------------------------------------------------------------------------------------------------ config


def test_config_through_load_config(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("source: files\npath: reviews.tsv\nrating_scale: [0, 10]\nrating_map: {pos: 5, 1: 1}\n"
                    "tfds_label_to_stars: {0: 1, 1: 3, 2: 5}\n", encoding="utf-8")
    config = load_config(DataConfig, path)
    assert config.rating_scale == (0.0, 10.0) and config.rating_map == {"pos": 5, "1": 1}
    assert config.tfds_label_to_stars == {0: 1, 1: 3, 2: 5}


@pytest.mark.parametrize("override, message", [
    ("val_fraction=1.5", "val_fraction must be between 0 and 1"),
    ("test_fraction=0.95", "val_fraction + test_fraction must be < 1"),
    ("rating_scale=[5, 1]", "rating_scale must be [lowest, highest] with lowest < highest"),
    ("rating_map={pos: 6}", "rating_map must map to stars 1..5, got 'pos': 6"),
    ("tfds_label_to_stars={0: 0}", "tfds_label_to_stars must map to stars 1..5"),
    ("builtin_train_size=0", "builtin_train_size must be >= 1"),
    ("max_examples=-1", "max_examples must be >= 0"),
    ("source=web", "source: must be one of ['builtin', 'files', 'tfds']"),
    ("on_bad_row=ignore", "on_bad_row: must be one of ['error', 'skip']"),
])
def test_bad_config_values_are_named(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(DataConfig, overrides=[override])


def test_files_source_needs_exactly_one_table_setting():
    with pytest.raises(ValueError, match="source 'files' needs exactly one of data.path"):
        load_data(DataConfig(source="files"))
    with pytest.raises(ValueError, match="source 'files' needs exactly one of data.path"):
        load_data(DataConfig(source="files", path="a.csv", train_path="b.csv"))


# -------------------------------------------------------------------------------------------------- tfds


def test_tfds_through_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        splits = load_data(DataConfig(source="tfds", tfds_name="imdb_reviews"))
    assert splits.name == "tfds:imdb_reviews"
    assert [len(splits.train), len(splits.val), len(splits.test)] == [18, 2, 20]
    assert set(splits.train["stars"]) <= {1, 5} and set(splits.test["stars"]) == {1, 5}
    assert splits.test["text"].map(lambda t: isinstance(t, str)).all()


def test_tfds_label_mapping_and_features_are_checked():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=5):
        with pytest.raises(DataError, match=r"tfds:yelp_polarity_reviews: tfds_label_to_stars has no stars for "
                                            r"label\(s\) \[1\]"):
            load_data(DataConfig(source="tfds", tfds_name="yelp_polarity_reviews", tfds_label_to_stars={0: 1}))
        with pytest.raises(DataError, match=r"tfds:imdb_reviews: has no feature 'review'; its features are "
                                            r"\['text', 'label'\]"):
            load_data(DataConfig(source="tfds", tfds_text_feature="review"))


# ------------------------------------------------------------------------------------------------- Keras


def test_make_dataset_batches_text_and_zero_based_labels():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "stars": [1, 5, 3], "order_dependent": False})
    batches = list(make_dataset(frame, batch_size=2))
    assert [b[0].shape[0] for b in batches] == [2, 1]
    assert batches[0][0].dtype.name == "string" and batches[0][1].numpy().tolist() == [0, 4]
    shuffled = [t.decode() for b in make_dataset(frame, batch_size=3, shuffle=True, seed=1) for t in b[0].numpy()]
    assert sorted(shuffled) == ["a", "b", "c"]


def test_class_weights_are_balanced():
    frame = pd.DataFrame({"stars": [5] * 6 + [1] * 2})
    assert class_weights(frame) == {0: 2.0, 4: pytest.approx(8 / 12)}
    even = pd.DataFrame({"stars": [1, 2, 3, 4, 5]})
    assert class_weights(even) == {i: 1.0 for i in range(5)}
