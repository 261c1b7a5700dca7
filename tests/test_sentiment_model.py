"""sentiment_stars model parts: the star decision, the in-graph val metrics, the vocabulary, the wide TF-IDF path."""
from __future__ import annotations

import re
import unicodedata

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from tasks.common.config import ConfigError, load_config
from tasks.sentiment_stars.config import Config, ModelConfig
from tasks.sentiment_stars.decision import MacroF1, MeanStarError, decide
from tasks.sentiment_stars.evaluate import tfidf_logistic_baseline
from tasks.common.text import standardized
from tasks.sentiment_stars.model import (DropRows, build_model, build_models, fit_text_features,
                                         fit_wide_path, make_vectorizer, residual_model, standardize_words,
                                         wide_logits)
from tasks.common.ensemble import average_models


# One review per row; the median differs from the argmax when mass is spread over several stars.
PROBABILITIES = np.array([[0.0, 0.1, 0.2, 0.3, 0.4],  # argmax 5, cumulative reaches 0.5 at 4
                          [0.45, 0.0, 0.0, 0.1, 0.45],  # argmax 1 (first), median 4
                          [0.9, 0.1, 0.0, 0.0, 0.0]], dtype="float32")


def test_argmax_and_median_decisions():
    assert decide(PROBABILITIES, "argmax").numpy().tolist() == [5, 1, 1]
    assert decide(PROBABILITIES, "median").numpy().tolist() == [4, 4, 1]
    with pytest.raises(ValueError, match="decision must be one of"):
        decide(PROBABILITIES, "mean")


@pytest.mark.parametrize("decision", ["argmax", "median"])
def test_val_metrics_equal_scikit_learn_over_several_batches(decision):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=200)
    probabilities = rng.dirichlet(np.ones(5), size=200).astype("float32")
    f1, mae = MacroF1(decision), MeanStarError(decision)
    for start in range(0, 200, 64):  # accumulates over batches like model.evaluate
        f1.update_state(labels[start:start + 64], probabilities[start:start + 64])
        mae.update_state(labels[start:start + 64], probabilities[start:start + 64])
    stars = decide(probabilities, decision).numpy()
    assert float(f1.result()) == pytest.approx(f1_score(labels + 1, stars, labels=[1, 2, 3, 4, 5],
                                                        average="macro", zero_division=0), abs=1e-6)
    assert float(mae.result()) == pytest.approx(np.mean(np.abs(labels + 1 - stars)), abs=1e-6)
    f1.reset_state()
    assert float(f1.result()) == 0.0


def test_vocabulary_keeps_words_seen_min_frequency_times():
    tokens = standardized(["pin trâu", "Pin yếu", "màn đẹp"])
    vectorizer = make_vectorizer(ModelConfig(min_frequency=2), tokens)
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "pin"]
    ids = vectorizer(tf.constant(["PIN đẹp"])).to_list()
    assert ids == [[2, 1]]  # "đẹp" was seen once: out of vocabulary


def test_wide_path_is_scikit_learns_sublinear_tfidf():
    train = ["pin trâu pin trâu lắm", "pin yếu quá", "màn hình đẹp", "màn hình tệ, pin yếu"]
    tokens = standardized(train)
    (counter, weighting, dense), held_out = fit_wide_path(ModelConfig(wide_ngrams=2, wide_min_df=1), tokens)
    assert dense is None and held_out is None  # no stars given: nothing to warm-start from
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, weighting(counter(text)))
    reference = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, sublinear_tf=True,
                                ngram_range=(1, 2), min_df=1).fit(tokens)
    queries = ["Pin trâu, pin trâu!", "màn hình đẹp nhưng pin yếu"]
    ours = model.predict(tf.constant(queries), verbose=0)
    expected = reference.transform(standardized(queries)).toarray()
    # Column 0 counts out-of-vocabulary n-grams and has idf 0; the rest follow scikit-learn's vocabulary order.
    np.testing.assert_allclose(ours[:, 1:], expected, atol=1e-5)
    assert np.all(ours[:, 0] == 0)


WORDS = {1: "tệ hỏng", 2: "chán chậm", 3: "tạm được", 4: "khá tốt", 5: "rất tuyệt"}
TRAIN = pd.DataFrame({"text": [f"{WORDS[s]} máy {k}" for s in WORDS for k in range(6)],
                      "stars": [s for s in WORDS for _ in range(6)]})


def test_a_warm_started_model_starts_as_scikit_learns_logistic_regressions():
    queries = ["máy rất tuyệt", "tệ hỏng quá", "không biết", "Máy  TUYỆT!! 5 sao, k hỏng 👍"]
    tokens = standardized(TRAIN.text)
    tfidf = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, sublinear_tf=True,
                            ngram_range=(1, 2), min_df=1).fit(tokens)
    regression = LogisticRegression(C=2.0, max_iter=3000, random_state=0).fit(tfidf.transform(tokens), TRAIN.stars)
    own_tokens = regression.predict_proba(tfidf.transform(standardized(queries)))
    # The "words" view is the tfidf_logistic baseline as a user calls it: scikit-learn's tokenizer on raw text.
    words = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit(TRAIN.text)
    baseline = LogisticRegression(C=2.0, max_iter=3000, random_state=0).fit(words.transform(TRAIN.text), TRAIN.stars)
    sklearn_tokens = baseline.predict_proba(words.transform(queries))
    # The "nb" view, written out: per star, binary 1-3-grams times their log-count ratio, one-vs-rest regressions.
    binary = CountVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, binary=True,
                             ngram_range=(1, 3), min_df=1).fit(tokens)
    x, x_queries = binary.transform(tokens).toarray(), binary.transform(standardized(queries)).toarray()
    nb_logits = []
    for star in range(1, 6):
        p, q = 1 + x[TRAIN.stars == star].sum(0), 1 + x[TRAIN.stars != star].sum(0)
        ratio = np.log(p / p.sum()) - np.log(q / q.sum())
        one_vs_rest = LogisticRegression(C=0.5, max_iter=3000).fit(x * ratio, TRAIN.stars == star)
        nb_logits.append(one_vs_rest.decision_function(x_queries * ratio))
    nb = np.exp(nb_logits).T / np.exp(nb_logits).T.sum(1, keepdims=True)
    for views, expected in ((("model",), own_tokens), (("words",), sklearn_tokens), (("nb",), nb),
                            (("model", "words", "nb"), (own_tokens + sklearn_tokens + nb) / 3)):
        config = ModelConfig(rnn_units=4, embedding_dim=4, wide_min_df=1, wide_c=2.0, wide_nb_c=0.5, wide_folds=3,
                             wide_views=views)
        serving, _ = build_models(config, fit_text_features(config, TRAIN.text, TRAIN.stars, seed=0))
        np.testing.assert_allclose(serving.predict(tf.constant(queries), verbose=0), expected, atol=1e-4)
    config = ModelConfig(rnn_units=4, embedding_dim=4, wide_min_df=1, wide_c=2.0, wide_folds=3)
    features = fit_text_features(config, TRAIN.text, TRAIN.stars, seed=0)
    serving, training = build_models(config, features)
    assert not any(serving.get_layer(f"wide_logits{suffix}").trainable for suffix in ("", "_words", "_nb"))
    assert np.all(serving.get_layer("rnn_logits").get_weights()[0] == 0)  # the RNN adds nothing yet
    # Training reads the given (held-out) logits instead of the wide path, and shares every weight.
    given = np.tile(np.array([[0.0, 0.0, 9.0, 0.0, 0.0]], "float32"), (len(queries), 1))
    np.testing.assert_allclose(training.predict([tf.constant(queries), given], verbose=0).argmax(1), [2] * len(queries))
    assert {id(w) for w in training.trainable_weights} == {id(w) for w in serving.trainable_weights}


def test_training_logits_come_from_regressions_that_did_not_see_the_review():
    config = ModelConfig(wide_min_df=1, wide_folds=3)
    (_, _, dense), held_out = fit_wide_path(config, standardized(TRAIN.text), TRAIN.stars)
    assert held_out.shape == (len(TRAIN), 5)
    # Each review's number token ("máy 0".."máy 5") is shared by 5 reviews of other stars: a regression that
    # saw the review is surer of its star than one that did not; so is the mean of both views' regressions.
    features = fit_text_features(config, TRAIN.text, TRAIN.stars)
    assert features.train_logits.shape == (len(TRAIN), 5)
    seen = wide_logits(features, TRAIN.text)
    rows = np.arange(len(TRAIN))
    margin = lambda logits: logits[rows, TRAIN.stars - 1] - np.log(np.exp(logits).sum(1))
    assert margin(features.train_logits).mean() < margin(seen).mean()


def test_words_view_tokenizes_like_scikit_learn():
    texts = ["Máy ĐẸP!! 5 sao, k có gì chê 👍", "a b c dd e", "pin_trâu x2 (10/10)", "Vie\u0323\u0302t Nam ổn",
             "tốt\u200bquá", "x", "!!!", "iPhone 12-pro max: 3tr5"]
    ours = [text.split() for text in standardized(texts, standardize=standardize_words)]
    analyzer = TfidfVectorizer().build_analyzer()  # scikit-learn's default: lowercase, (?u)\b\w\w+\b
    assert ours == [analyzer(unicodedata.normalize("NFC", text).replace("\u200b", " ")) for text in texts]
    assert ours[1] == ["dd"] and ours[3] == ["việt", "nam", "ổn"]


def test_warm_start_needs_every_star_in_each_fold():
    few = TRAIN[TRAIN.stars != 2]
    with pytest.raises(ValueError, match=r"at least model.wide_folds=5 training reviews of every star 1..5.*2: 0"):
        fit_text_features(ModelConfig(wide_min_df=1), few.text, few.stars)


def test_drop_rows_zeroes_whole_rows_in_training_only():
    layer = DropRows(0.5)
    rows = np.ones((2000, 5), "float32")
    dropped = layer(rows, training=True).numpy()
    assert set(dropped.sum(1).tolist()) == {0.0, 5.0}  # whole rows, no rescaling
    assert 0.45 < (dropped.sum(1) == 0).mean() < 0.55
    np.testing.assert_array_equal(layer(rows, training=False).numpy(), rows)


def test_the_residual_phase_trains_the_served_model_on_every_reviews_logits():
    config = ModelConfig(rnn_units=4, embedding_dim=4, wide_min_df=1, wide_folds=3, wide_drop=0.5, dropout=0.0)
    features = fit_text_features(config, TRAIN.text, TRAIN.stars, seed=0)
    serving, training = build_models(config, features)
    residual = residual_model(serving)
    assert {id(w) for w in residual.trainable_weights} == {id(w) for w in serving.trainable_weights}
    keras.utils.set_random_seed(1)
    serving.get_layer("rnn_logits").set_weights([np.random.normal(size=(8, 5)).astype("float32"), np.ones(5, "float32")])
    texts = tf.constant(TRAIN.text.tolist())
    logits = tf.constant(wide_logits(features, TRAIN.text))
    # Fed the served wide logits, it is the served model; in training it still sees every row's logits,
    # while the warm start's training model hides about half of them.
    np.testing.assert_allclose(residual([texts, logits]).numpy(), serving(texts).numpy(), atol=1e-5)
    np.testing.assert_allclose(residual([texts, logits], training=True).numpy(), serving(texts).numpy(), atol=1e-5)
    hidden = ~np.isclose(training([texts, logits], training=True).numpy(), serving(texts).numpy(), atol=1e-5).all(1)
    assert 0.2 < hidden.mean() < 0.8


def test_an_ensemble_averages_its_members_probabilities():
    config = ModelConfig(rnn_units=4, embedding_dim=4, wide_ngrams=2, wide_min_df=1)
    train = ["pin trâu", "pin yếu", "màn hình đẹp", "màn hình tệ"]
    members = [build_model(config, train, f"member_{k}") for k in range(2)]
    reviews = tf.constant(["pin trâu nhưng màn hình tệ", "đẹp"])
    expected = np.mean([m.predict(reviews, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(average_models(members, "ensemble").predict(reviews, verbose=0), expected, atol=1e-6)
    assert average_models(members[:1], "ensemble") is members[0]


def test_tfidf_logistic_baseline_learns_a_separable_set():
    good, bad = ["máy rất tốt", "pin tốt lắm", "tốt quá"] * 4, ["máy rất tệ", "pin tệ lắm", "tệ quá"] * 4
    frame = pd.DataFrame({"text": good + bad, "stars": [5] * 12 + [1] * 12, "order_dependent": [False] * 24})
    metrics = tfidf_logistic_baseline(frame, frame, seed=0)
    assert metrics["accuracy"] == 1.0 and metrics["mae_stars"] == 0.0 and metrics["order_dependent_accuracy"] is None


@pytest.mark.parametrize("override, message", [("model.ensemble=0", "ensemble must be >= 1"),
                                               ("model.min_frequency=0", "min_frequency must be >= 1"),
                                               ("model.word_dropout=1.0", "word_dropout must be in [0, 1)"),
                                               ("model.wide_l2=-1", "wide_l2 must be >= 0"),
                                               ("model.wide_folds=1", "wide_folds must be >= 2"),
                                               ("model.wide_c=0", "wide_c must be > 0"),
                                               ("model.wide_drop=1.0", "wide_drop must be in [0, 1)"),
                                               ("model.wide_views=[model, model]", "wide_views must be distinct"),
                                               ("model.wide_views=[chars]", "'words', 'nb'], got ['chars']"),
                                               ("model.wide_views=[]", "wide_views must be distinct"),
                                               ("model.wide_nb_c=0", "wide_nb_c must be > 0"),
                                               ("model.wide_nb_ngrams=0", "wide_nb_ngrams must be >= 1"),
                                               ("model.residual_epochs=-1", "residual_epochs must be >= 0"),
                                               ("model.residual_learning_rate=0", "residual_learning_rate must be > 0"),
                                               ("model.decision=mean", "must be one of ['argmax', 'median']")])
def test_bad_model_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(Config, None, [override])
