"""translation data: the built-in grammar, the TSV / parallel / TFDS loaders, cleaning, and the config."""
import hashlib
import random

import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tasks.common.config import ConfigError, load_config
from tasks.common.errors import DataError, SkipCounter
from tasks.translation import grammar
from tasks.translation.config import Config, DataConfig
from tasks.translation.data import load_data, parallel_paths, read_parallel_pairs, read_tfds_pairs, read_tsv_pairs


# ------------------------------------------------------------------------------------------------ grammar


@pytest.fixture(scope="module")
def corpus():
    return grammar.generate_corpus(1500, 150, 200, seed=3)


def _words(pairs, side=0):
    return {word for pair in pairs for word in pair[side].lower().replace(".", " ").replace("?", " ").split()}


def test_grammar_is_deterministic_and_keeps_the_lesson_example(corpus):
    assert grammar.generate_corpus(1500, 150, 200, seed=3) == corpus
    assert grammar.generate_corpus(1500, 150, 200, seed=4) != corpus
    assert ("I love Vietnam", "Tôi yêu Việt Nam") in corpus["train"]
    assert [len(corpus[s]) for s in ("train", "val", "test")] == [1500, 150, 200]
    english = [[pair[0] for pair in corpus[s]] for s in ("train", "val", "test")]
    assert len(set().union(*english)) == sum(map(len, english))  # no sentence in two splits


def test_test_split_holds_combinations_never_seen_in_training(corpus):
    train_text = " ".join(pair[0].lower() for pair in corpus["train"])
    test_text = " ".join(pair[0].lower() for pair in corpus["test"])
    for kind, first, second in grammar.HELD_OUT:
        if kind == "adjective":
            phrase = f"{first} {second}"
        elif kind == "determiner" and first != "three":
            phrase = f"{first} {second} "
        else:
            continue
        assert phrase not in train_text, phrase
    assert "three cats" not in train_text and "three cats" in test_text
    assert "red car" in test_text
    # ...while every word of the test split is known from training, on both sides.
    assert _words(corpus["test"]) <= _words(corpus["train"])
    assert _words(corpus["test"], 1) <= _words(corpus["train"], 1)


def test_sentence_types_mirror_their_punctuation(corpus):
    for english, vietnamese in corpus["train"]:
        assert english[-1] in "?." or english[-1].isalpha()
        assert (english[-1] == "?") == (vietnamese[-1] == "?")
        assert (english[-1] == ".") == (vietnamese[-1] == ".")
        assert english[0].isupper() and vietnamese[0].isupper()


def _np(english, vietnamese):
    return grammar.Phrase(tuple(english.split()), tuple(vietnamese.split()), frozenset())


@pytest.mark.parametrize("form, english, vietnamese", [
    ("present", "she eats rice", "cô ấy ăn cơm"),
    ("past", "she ate rice", "cô ấy đã ăn cơm"),
    ("progressive", "she is eating rice", "cô ấy đang ăn cơm"),
    ("future", "she will eat rice", "cô ấy sẽ ăn cơm"),
    ("present_negative", "she does not eat rice", "cô ấy không ăn cơm"),
    ("perfect", "she has already eaten rice", "cô ấy đã ăn cơm rồi"),
    ("perfect_negative", "she has not eaten rice yet", "cô ấy chưa ăn cơm"),
    ("present_question", "Does she eat rice", "cô ấy có ăn cơm không"),
    ("future_question", "Will she eat rice", "cô ấy sẽ ăn cơm không"),
    ("perfect_question", "Has she eaten rice yet", "cô ấy đã ăn cơm chưa"),
])
def test_tense_aspect_negation_and_questions(form, english, vietnamese):
    she = next(s for s in grammar.SUBJECTS if s.english == "she")
    phrase = grammar.clause(random.Random(0), she, grammar.VERBS_BY_NAME["eat"], form, _np("rice", "cơm"))
    assert " ".join(phrase.english) == english
    assert " ".join(phrase.vietnamese) == vietnamese


def test_noun_phrases_put_classifier_first_and_modifiers_after_the_noun():
    rng = random.Random(0)
    car = grammar.NOUNS_BY_NAME["car"]
    for _ in range(30):
        phrase, plural = grammar.noun_phrase(rng, car, determiners=("my",), adjective_probability=1.0)
        adjective = phrase.english[1]
        assert phrase.english == ("my", adjective, "car") and not plural
        assert phrase.vietnamese[:3] == ("chiếc", "xe", "hơi")
        assert phrase.vietnamese[-2:] == ("của", "tôi")
    phrase, plural = grammar.noun_phrase(rng, grammar.NOUNS_BY_NAME["cat"], determiners=("three",),
                                         adjective_probability=0.0)
    assert (phrase.english, phrase.vietnamese, plural) == (("three", "cats"), ("ba", "con", "mèo"), True)
    assert grammar.ADJECTIVES["old"]["animal"] == "già" and grammar.ADJECTIVES["old"]["vehicle"] == "cũ"


def test_write_corpus_writes_the_three_tsv_files_once(tmp_path):
    paths = grammar.write_corpus(tmp_path, 50, 10, 10, seed=1)
    assert sorted(p.name for p in paths.values()) == ["test.tsv", "train.tsv", "valid.tsv"]
    first = paths["train"].read_text(encoding="utf-8").splitlines()[0]
    assert first == "I love Vietnam\tTôi yêu Việt Nam"
    mtime = paths["train"].stat().st_mtime_ns
    assert grammar.write_corpus(tmp_path, 50, 10, 10, seed=1) == paths
    assert paths["train"].stat().st_mtime_ns == mtime  # same settings: reused, not rewritten


def test_the_built_in_corpus_files_are_byte_identical_to_the_pinned_ones(tmp_path):
    # The SHA-256 of train.tsv + valid.tsv + test.tsv of seed 0, taken before the grammar was split into
    # lexicon / rules / sampler / files: a change here changes every result measured on the built-in data.
    paths = grammar.write_corpus(tmp_path, 300, 40, 40, seed=0)
    digest = hashlib.sha256(b"".join(paths[name].read_bytes() for name in ("train", "val", "test")))
    assert digest.hexdigest() == "0f727052fd5ab81f3a54a32132972e4c59eee048e0c1f4237a3d783256a2f05c"


def test_every_verb_form_has_a_clause_rule():
    she = next(s for s in grammar.SUBJECTS if s.english == "she")
    obj = _np("rice", "cơm")
    for form in grammar.VERB_FORMS:
        phrase = grammar.clause(random.Random(0), she, grammar.VERBS_BY_NAME["eat"], form, obj)
        assert "rice" in phrase.english and phrase.vietnamese[:2] == ("cô", "ấy") and "cơm" in phrase.vietnamese
    with pytest.raises(ValueError, match="form must be one of"):
        grammar.clause(random.Random(0), she, grammar.VERBS_BY_NAME["eat"], "imperative", obj)


# ------------------------------------------------------------------------------------------------ loaders


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_tsv_reads_anki_files_with_extra_columns_and_a_header(tmp_path):
    path = _write(tmp_path / "vie.txt", "english\tvietnamese\n"
                  "Hello!\tXin chào!\tCC-BY 2.0 (France) Attribution: tatoeba.org #373330\n"
                  "\n"
                  "Tom &amp; Mary.\tTom và Mary.\textra\n")
    frame = read_tsv_pairs(path)
    assert frame.english.tolist() == ["Hello!", "Tom & Mary."]
    assert frame.vietnamese.tolist() == ["Xin chào!", "Tom và Mary."]
    assert frame.origin.tolist() == [f"{path}:2", f"{path}:4"]


def test_tsv_reads_tatoeba_exports_by_column(tmp_path):
    path = _write(tmp_path / "pairs.tsv", "1276\tLet's try something.\t2342\tHãy thử một cái gì đó.\n")
    frame = read_tsv_pairs(path, source_column=1, target_column=3)
    assert frame.iloc[0].english == "Let's try something." and frame.iloc[0].vietnamese.startswith("Hãy thử")


@pytest.mark.parametrize("text, message", [
    ("Hi.\tChào.\nno tab here\n", ":2: expected at least 2 tab-separated columns (English at 0, Vietnamese at 1), got 1"),
    ("Hi.\tChào.\n\tTôi\n", ":2: empty English side"),
    ("Hi.\tChào.\nI run.\t   \n", ":2: empty Vietnamese side"),
])
def test_tsv_bad_rows_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path / "pairs.tsv", text)
    with pytest.raises(DataError) as error:
        read_tsv_pairs(path)
    assert str(error.value) == f"{path}{message}"
    skips = SkipCounter("skip")
    assert len(read_tsv_pairs(path, skips=skips)) == 1 and skips.total == 1


def test_tsv_errors_for_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(DataError, match="missing.tsv: file not found"):
        read_tsv_pairs(tmp_path / "missing.tsv")
    with pytest.raises(DataError, match="no sentence pairs"):
        read_tsv_pairs(_write(tmp_path / "blank.tsv", "\n\n"))
    path = _write(tmp_path / "latin.tsv", "Hi.\tChào.\nCoffee\tCà phê\n", encoding="cp1258")
    with pytest.raises(DataError, match=r"latin.tsv:1: line is not valid utf-8"):
        read_tsv_pairs(path)


def test_parallel_files_by_prefix_or_either_file(tmp_path):
    _write(tmp_path / "train.en", "I &apos;m here .\nThank you\n")
    _write(tmp_path / "train.vi", "Tôi ở đây .\r\nCảm ơn\r\n")
    for given in ("train", "train.en", "train.vi"):
        assert parallel_paths(tmp_path / given) == (tmp_path / "train.en", tmp_path / "train.vi")
    frame = read_parallel_pairs(tmp_path / "train")
    assert frame.english.tolist() == ["I 'm here .", "Thank you"]
    assert frame.vietnamese.tolist() == ["Tôi ở đây .", "Cảm ơn"]
    assert frame.origin.tolist() == [f"{tmp_path / 'train.en'}:1", f"{tmp_path / 'train.en'}:2"]


def test_parallel_files_bad_inputs(tmp_path):
    _write(tmp_path / "a.en", "one\ntwo\n")
    with pytest.raises(DataError, match=r"a.vi: file not found \(parallel files a.en and a.vi are both needed\)"):
        read_parallel_pairs(tmp_path / "a")
    _write(tmp_path / "a.vi", "một\n")
    with pytest.raises(DataError, match=r"a.vi: has 1 lines but .*a.en has 2; parallel files must be line-aligned"):
        read_parallel_pairs(tmp_path / "a")
    _write(tmp_path / "a.vi", "một\n\n")
    with pytest.raises(DataError) as error:
        read_parallel_pairs(tmp_path / "a")
    assert str(error.value) == f"{tmp_path / 'a.vi'}:2: empty Vietnamese side"
    skips = SkipCounter("skip")
    assert read_parallel_pairs(tmp_path / "a", skips=skips).english.tolist() == ["one"] and skips.total == 1


TFDS_SPLITS = {
    "train": [(["fr", "en", "vi"], ["Bonjour", "I love Vietnam &apos;s food", "Tôi yêu đồ ăn Việt Nam"]),
              (["en", "fr"], ["No Vietnamese here", "Pas de vietnamien"]),
              (["vi", "en"], ["Cảm ơn", "Thank you"])],
    "validation": [(["en", "vi"], ["Hello", "Xin chào"])],
    "test": [(["en", "vi"], ["Goodbye", "Tạm biệt"])],
}


def _mock_ted(self, split, **kwargs):
    def examples():
        for languages, texts in TFDS_SPLITS[split]:
            yield {"translations": {"language": languages, "translation": texts}, "talk_name": "talk"}
    spec = {"translations": {"language": tf.TensorSpec([None], tf.string),
                             "translation": tf.TensorSpec([None], tf.string)},
            "talk_name": tf.TensorSpec([], tf.string)}
    return tf.data.Dataset.from_generator(examples, output_signature=spec)


def test_tfds_ted_multi_translate_offline():
    with tfds.testing.mock_data(as_dataset_fn=_mock_ted):
        frame = read_tfds_pairs("ted_multi_translate", "train")
        assert frame.english.tolist() == ["I love Vietnam 's food", "Thank you"]
        assert frame.vietnamese.tolist() == ["Tôi yêu đồ ăn Việt Nam", "Cảm ơn"]
        corpus = load_data(DataConfig(source="tfds"))
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (2, 1, 1)
    assert corpus.name == "tfds:ted_multi_translate"


# ------------------------------------------------------------------------------------------------ cleaning


def test_load_data_cleans_duplicates_test_overlap_and_long_pairs(tmp_path):
    rows = [f"Sentence number {i}.\tCâu số {i}." for i in range(40)]
    rows += ["Sentence number 1.\tCâu số 1.", "SENTENCE  number 2.\tcâu số 2."]  # duplicates (case, spacing)
    rows += ["Test one.\tKiểm tra một."]  # also in the test file: must leave training
    rows += [" ".join(["word"] * 30) + "\tdài"]  # 30 tokens > max_source_tokens
    train = _write(tmp_path / "train.tsv", "\n".join(rows) + "\n")
    test = _write(tmp_path / "test.tsv", "Test one.\tKiểm tra một.\nTest two.\tKiểm tra hai.\n"
                  + " ".join(["long"] * 30) + "\tdài\n")
    config = DataConfig(source="tsv", path=str(train), test_path=str(test), max_source_tokens=20, val_fraction=0.25)
    corpus = load_data(config)
    assert corpus.cleaning == {"duplicates": 2, "test_overlap": 1, "too_long": 1, "skipped_bad_rows": 0}
    assert len(corpus.train) + len(corpus.val) == 40 and len(corpus.val) == 10
    assert len(corpus.test) == 3  # the test split keeps its long sentence
    assert not set(corpus.train.english) & set(corpus.val.english)


def test_source_without_path_is_refused_whatever_the_override_order():
    for overrides in (["data.source=parallel", "data.path=talks"], ["data.path=talks", "data.source=parallel"]):
        assert load_config(Config, overrides=overrides).data.path == "talks"
    with pytest.raises(ConfigError, match="data.path must name the parallel files when data.source is 'parallel'"):
        load_config(Config, overrides=["data.source=parallel"])


def test_load_data_random_split_and_cap(tmp_path):
    rows = [f"Sentence {i}.\tCâu {i}." for i in range(100)] + ["Sentence 5.\tCâu 5."]
    path = _write(tmp_path / "all.tsv", "\n".join(rows) + "\n")
    corpus = load_data(DataConfig(source="tsv", path=str(path), test_fraction=0.2, val_fraction=0.25,
                                    max_train_pairs=30))
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (30, 20, 20)  # 100 -> 80 + 20 -> 60 + 20
    assert corpus.cleaning["duplicates"] == 1
    seen = pd.concat([corpus.train, corpus.val, corpus.test]).english
    assert seen.is_unique


def test_too_few_or_too_long_pairs_name_the_file(tmp_path):
    few = _write(tmp_path / "few.tsv", "Hello.\tXin chào.\n")
    with pytest.raises(DataError, match=r"few.tsv: 1 usable sentence pair\(s\) are too few to hold out a test split"):
        load_data(DataConfig(source="tsv", path=str(few)))
    long = _write(tmp_path / "long.tsv", "".join(f"{'word ' * 60}{i}\tdài {i}\n" for i in range(20)))
    with pytest.raises(DataError, match=r"long.tsv: no training pairs left after cleaning \(.*'too_long': 18"):
        load_data(DataConfig(source="tsv", path=str(long)))


def test_builtin_corpus_loads_through_the_tsv_loader(tmp_path):
    config = DataConfig(builtin_dir=str(tmp_path), builtin_train_pairs=300, builtin_val_pairs=30,
                        builtin_test_pairs=40)
    corpus = load_data(config)
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (300, 30, 40)
    assert corpus.train.origin.iloc[0] == f"{next(tmp_path.glob('*/train.tsv'))}:1"
    assert corpus.cleaning["test_overlap"] == 0 and corpus.cleaning["duplicates"] == 0


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("override, message", [
    ("model.attention=bahdanau", "model.attention: must be one of ['luong', 'none']"),
    ("model.rnn_units=0", "rnn_units must be >= 1, got 0"),
    ("data.val_fraction=1.5", "val_fraction must be in (0, 1), got 1.5"),
    ("data.parallel_suffixes=[.en, .en]", "parallel_suffixes must be two different suffixes"),
    ("train.sample_translations=-1", "sample_translations must be >= 0"),
    ("data.typo=1", "unknown key 'data.typo'"),
    ("model.units=64", "key 'model.units' was renamed to 'model.rnn_units'"),  # docs/conventions.md
    ("model.min_frequency=0", "min_frequency must be >= 1, got 0"),
    ("model.label_smoothing=1.0", "label_smoothing must be in [0, 1), got 1.0"),
    ("model.length_penalty=-0.5", "length_penalty must be in [0, 3], got -0.5"),
    ("model.length_penalty_candidates=[1.2, 3.5]", "length_penalty_candidates must be in [0, 3], got 3.5"),
    ("model.length_penalty_candidates=[]", "length_penalty_candidates must hold at least one value"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(Config, overrides=[override])
    assert message in str(error.value) and override in str(error.value)


# ------------------------------------------------------------------------------------------------ tf.data


def test_make_dataset_teacher_forcing_padding_and_declared_batches():
    from tasks.translation.data import make_dataset
    from tasks.translation.tokens import END_ID, START_ID, fit_vocabularies

    frame = pd.DataFrame({"english": ["I love Vietnam", "Hello", "A much longer sentence than the others here ."] * 3,
                          "vietnamese": ["Tôi yêu Việt Nam", "Chào", "Một câu dài hơn nhiều so với các câu khác ."] * 3})
    vocabularies = fit_vocabularies(frame.english.tolist(), frame.vietnamese.tolist(), 100, 100)
    dataset = make_dataset(frame, vocabularies.source, vocabularies.target, batch_size=4, shuffle=True, seed=0)
    batches = list(dataset)
    assert dataset.cardinality().numpy() == len(batches) == 3  # short targets and the long one bucket apart
    for inputs, target_out, weights in batches:
        target_in = inputs["target_in"].numpy()
        assert (target_in[:, 0] == START_ID).all()
        lengths = weights.numpy().sum(axis=1).astype(int)
        for row, length in enumerate(lengths):
            assert target_out.numpy()[row, length - 1] == END_ID  # [END] closes each target
            assert (target_out.numpy()[row, :length - 1] == target_in[row, 1:length]).all()  # shifted by one
            assert (target_out.numpy()[row, length:] == 0).all() and (weights.numpy()[row, length:] == 0).all()
    assert sum(len(b[1]) for b in batches) == len(frame)
