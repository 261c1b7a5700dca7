"""Text -> the lesson's RNN over word embeddings, plus a wide TF-IDF n-gram path -> 5 stars.

By default the wide path is scikit-learn's logistic regression on the training split, frozen, and the RNN's
output layer starts at zero: the model starts as the linear model a user of real reviews tries first and the
RNN learns what word order adds (`fit_wide_path`, `build_models`). The wide path may read the text in several
views (`model.wide_views`): one regression per view, their probabilities averaged.

Everything from the raw string on runs inside the graph (standardization, vocabulary, n-gram TF-IDF), so the
export takes raw reviews and loads with TensorFlow alone.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import keras
import numpy as np
import tensorflow as tf
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from tasks.common.errors import DataError
from tasks.common.export import KerasServingModule
from tasks.common.layers import recurrent_layer
from tasks.common.text import normalize_nfc, standardize_text, standardized
from tasks.sentiment_stars.decision import decide


@keras.saving.register_keras_serializable(package="tasks.sentiment_stars")
class LastTokens(keras.layers.Layer):
    """Token ids of the last `max_length` tokens, zero-padded on the right to the batch's longest.

    TextVectorization would keep the first tokens of a long review; the verdict of a real review
    ("... nhưng giao hàng quá chậm") usually sits at its end, so truncation keeps the end instead.
    """

    def __init__(self, vectorizer: keras.layers.TextVectorization, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.vectorizer, self.max_length = vectorizer, max_length

    def call(self, text):
        ids = self.vectorizer(text)  # ragged (batch, tokens)
        return ids[:, -self.max_length:].to_tensor(default_value=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)


@keras.saving.register_keras_serializable(package="tasks.sentiment_stars")
class SublinearTfidf(keras.layers.Layer):
    """n-gram counts (B, V) -> (1 + log tf) * idf, L2-normalized: scikit-learn's TfidfVectorizer(sublinear_tf=True)."""

    def __init__(self, idf, **kwargs):
        super().__init__(**kwargs)
        self.idf = self.add_weight(shape=(len(idf),), initializer=keras.initializers.Constant(np.asarray(idf)),
                                   trainable=False, name="idf")

    def call(self, counts):
        counts = tf.cast(counts, self.idf.dtype)  # TextVectorization counts are int64
        weighted = tf.where(counts > 0, 1.0 + tf.math.log(tf.maximum(counts, 1.0)), 0.0) * self.idf
        return tf.math.l2_normalize(weighted, axis=-1)


def standardize_words(text: tf.Tensor) -> tf.Tensor:
    """scikit-learn's default tokens in TF: lowercased runs of two or more letters, digits or "_", one space apart.

    TfidfVectorizer lowercases and takes `(?u)\\b\\w\\w+\\b`: punctuation, emoji and one-letter words are dropped
    (the model's own tokens keep them). The same token lists as scikit-learn on all 8,898 UIT-ViSFD reviews.
    """
    text = tf.strings.regex_replace(normalize_nfc(text), "\u200b", " ")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}_]+", "  ")  # two spaces, so each word has its own
    text = tf.strings.regex_replace(tf.strings.join([" ", text, " "]), r" [\p{L}\p{N}_] ", " ")  # one-letter words
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


# The wide path's views: (tokens, layer name suffix). "model": TF-IDF of the model's own tokens (punctuation,
# emoji and one-letter words kept); "words": TF-IDF of scikit-learn's default tokens (the tfidf_logistic
# baseline's); "nb": NBSVM (Wang & Manning 2012) on binary n-grams of the model's tokens.
WIDE_VIEWS = {"model": (standardize_text, ""), "words": (standardize_words, "_words"), "nb": (standardize_text, "_nb")}


@keras.saving.register_keras_serializable(package="tasks.sentiment_stars")
class MeanProbabilityLogits(keras.layers.Layer):
    """Logits of several regressions (B, 5) each -> log of the mean of their probabilities (B, 5).

    Averaging probabilities of views that err differently is the classic gain of an ensemble; the log makes
    the result a logit again, to which the RNN's logits are added.
    """

    def call(self, logits):
        return tf.math.log(tf.reduce_mean(tf.stack([tf.nn.softmax(view) for view in logits]), axis=0))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def mean_probability_logits(logits: list[np.ndarray]) -> np.ndarray:
    """`MeanProbabilityLogits` in NumPy; a single view's logits are returned as they are."""
    if len(logits) == 1:
        return logits[0]
    probabilities = [np.exp(view - view.max(1, keepdims=True)) for view in logits]
    return np.log(np.mean([p / p.sum(1, keepdims=True) for p in probabilities], axis=0)).astype(np.float32)


@dataclasses.dataclass
class TextFeatures:
    """The layers fitted once on the training split and shared by every ensemble member (one copy in the export).

    `vectorizer` maps words to the RNN's token ids; `wide` (None without a wide path) holds one view per
    `model.wide_views` entry, each mapping raw text to star logits (B, 5): n-gram features -> a Dense layer,
    scikit-learn's regression (frozen) when warm-started, else None (each member then learns a layer of its own).
    """
    vectorizer: keras.layers.TextVectorization
    wide: list | None = None  # views, each [n-gram counter, SublinearTfidf or None, frozen Dense or None], in order
    train_logits: np.ndarray | None = None  # (N, 5) out-of-fold wide logits of the training reviews (warm start)

    @property
    def warm_started(self) -> bool:
        return self.wide is not None and all(view[2] is not None for view in self.wide)


@keras.saving.register_keras_serializable(package="tasks.sentiment_stars")
class LogitScale(keras.layers.Layer):
    """logits * w with one trainable scalar w (1 at the start).

    Where word order decides the stars (the built-in corpus' contrast and negation pairs) the frozen
    regression is confidently wrong; shrinking its logits lets the RNN's answer through without retraining it.
    """

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, logits):
        return logits * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="tasks.sentiment_stars")
class DropRows(keras.layers.Layer):
    """In training, zeroes each review's whole row with probability `rate` (no rescaling); identity otherwise.

    Applied to the regression's logits: on the dropped reviews the RNN must find the stars alone, so it still
    learns what word order holds where the regression already fits most reviews (without it the RNN barely
    moves from zero: the regression's shortcut takes the gradient away).
    """

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.generator = keras.random.SeedGenerator()

    def call(self, rows, training=False):
        if not training or not self.rate:
            return rows
        keep = keras.random.uniform(tf.shape(rows)[:1], seed=self.generator) >= self.rate  # (B,)
        return rows * tf.cast(keep, rows.dtype)[:, None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def make_vectorizer(config, train_tokens: list[str]) -> keras.layers.TextVectorization:
    """Words seen at least min_frequency times in training (at most max_tokens - 2); rarer ones share the OOV id.

    A word seen once in 7k noisy reviews is mostly a typo or a name; its own embedding would only memorise
    that review's stars.
    """
    counts = Counter(token for text in train_tokens for token in text.split())
    words = [w for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n >= config.min_frequency]
    words = words[:max(config.max_tokens - 2, 0)] or ["[none]"]  # 0 is padding, 1 is OOV
    return keras.layers.TextVectorization(standardize=standardize_text, split="whitespace", ragged=True,
                                          vocabulary=words, name="vectorize")


def fit_wide_path(config, train_tokens: list[str], train_stars=None, class_weight: dict | None = None,
                  seed: int = 0, view: str = "model") -> tuple[list, np.ndarray | None]:
    """TF-IDF of word 1..wide_ngrams-grams seen in >= wide_min_df training reviews, and the linear layer on it
    (the "nb" view: binary 1..wide_nb_ngrams-grams and NBSVM, `nb_svm`).

    With `wide_warm_start` the layer is scikit-learn's LogisticRegression(C=wide_c) fitted on exactly these
    features (weighted like the network's loss) and frozen: the model starts as the linear model a user of
    real reviews would try first, and the RNN, whose output layer starts at zero, only adds what word order
    holds. Returns ([counter, tfidf, layer], out-of-fold logits (N, 5) of the training reviews): the
    regression fits its own training reviews almost perfectly (train accuracy 0.97 on 7k real reviews), so
    the RNN learns its residual from the logits of regressions that did not see the review
    (`wide_folds`-fold cross-fitting, stacking). Without the warm start, or without `train_stars`, the
    layer is None (build_model gives each member a trainable one, L2 `wide_l2`) and so are the logits.
    `train_tokens` are the training texts standardized as the `view` (a WIDE_VIEWS key) does in the graph.
    """
    standardize, suffix = WIDE_VIEWS[view]
    if view == "nb":
        ngrams = config.wide_nb_ngrams
        vectorizer = CountVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, binary=True,
                                     ngram_range=(1, ngrams), min_df=config.wide_min_df)
    else:
        ngrams = config.wide_ngrams
        vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, sublinear_tf=True,
                                     ngram_range=(1, ngrams), min_df=config.wide_min_df)
    features = vectorizer.fit_transform(train_tokens).astype(np.float64)
    counter = keras.layers.TextVectorization(standardize=standardize, split="whitespace", ngrams=ngrams,
                                             output_mode="multi_hot" if view == "nb" else "count",
                                             vocabulary=list(vectorizer.get_feature_names_out()),
                                             name=f"wide_ngrams{suffix}")
    weighting = None  # binary n-grams enter the NBSVM as they are
    if view != "nb":
        idf = np.concatenate([[0.0], vectorizer.idf_]).astype("float32")  # index 0 counts out-of-vocabulary n-grams
        weighting = SublinearTfidf(idf, name=f"wide_tfidf{suffix}")
    if not config.wide_warm_start or train_stars is None:
        return [counter, weighting, None], None
    stars = np.asarray(train_stars)
    counts = np.bincount(stars, minlength=6)[1:]
    if counts.min() < config.wide_folds:  # every fold's regression needs every star, or it has no row for it
        raise DataError(None, None, f"model.wide_warm_start needs at least model.wide_folds={config.wide_folds} "
                                    f"training reviews of every star 1..5, got "
                                    f"{dict(zip(range(1, 6), counts.tolist()))}")
    weights = None if class_weight is None else np.array([class_weight[int(s) - 1] for s in stars])

    def regression(rows) -> tuple[np.ndarray, np.ndarray]:  # kernel (V, 5), bias (5,): logits = x @ kernel + bias
        sample_weight = None if weights is None else weights[rows]
        if view == "nb":
            return nb_svm(features[rows], stars[rows], config.wide_nb_c, sample_weight, seed)
        fitted = LogisticRegression(C=config.wide_c, max_iter=3000, random_state=seed)
        fitted.fit(features[rows], stars[rows], sample_weight=sample_weight)
        return fitted.coef_.T, fitted.intercept_

    held_out = np.zeros((len(stars), 5), np.float32)
    for fit_rows, other in StratifiedKFold(config.wide_folds, shuffle=True, random_state=seed).split(features, stars):
        kernel, bias = regression(fit_rows)
        held_out[other] = features[other] @ kernel + bias
    kernel, bias = regression(np.arange(len(stars)))
    kernel = np.vstack([np.zeros((1, 5)), kernel]).astype("float32")  # (V + 1, 5); OOV row 0
    dense = keras.layers.Dense(5, kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(np.asarray(bias, "float32")),
                               trainable=False, name=f"wide_logits{suffix}")  # frozen: the optimum of its own loss
    return [counter, weighting, dense], held_out


def nb_svm(features, stars, c: float, sample_weight=None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """NBSVM (Wang & Manning 2012, logistic loss): per star, binary features scaled by their log-count ratio.

    For star k, r = log((p / |p|_1) / (q / |q|_1)) with p, q = 1 + the feature counts of the reviews with and
    without k; a one-vs-rest LogisticRegression(C=c) on x * r. Returns (kernel (V, 5), bias (5,)) with
    logits = x @ kernel + bias, the scaling folded into the kernel. Strong on short sentiment texts: the
    ratio tells the regression which n-grams are rare but telling before it sees a single weight.
    """
    kernel, bias = np.zeros((features.shape[1], 5)), np.zeros(5)
    for star in range(1, 6):
        target = stars == star
        p = 1.0 + np.asarray(features[target].sum(0)).ravel()
        q = 1.0 + np.asarray(features[~target].sum(0)).ravel()
        ratio = np.log(p / p.sum()) - np.log(q / q.sum())
        fitted = LogisticRegression(C=c, max_iter=3000, random_state=seed)
        fitted.fit(features @ sparse.diags(ratio), target.astype(int), sample_weight=sample_weight)
        kernel[:, star - 1], bias[star - 1] = ratio * fitted.coef_[0], fitted.intercept_[0]
    return kernel, bias


def fit_text_features(config, train_texts, train_stars=None, class_weight: dict | None = None,
                      seed: int = 0) -> TextFeatures:
    """Vocabulary (and wide path) from the training split, fitted once however many members are trained.

    Without `train_stars` the wide path cannot be warm-started and starts at random. With several views the
    training logits are the log of the mean of the views' out-of-fold probabilities (same folds).
    """
    train_texts = list(train_texts)
    tokens = standardized(train_texts)
    if not config.wide_ngrams:
        return TextFeatures(make_vectorizer(config, tokens))
    views, held_out = [], []
    for view in config.wide_views:
        standardize = WIDE_VIEWS[view][0]
        view_tokens = tokens if standardize is standardize_text else standardized(train_texts, standardize=standardize)
        layers, logits = fit_wide_path(config, view_tokens, train_stars, class_weight, seed, view)
        views.append(layers)
        held_out.append(logits)
    train_logits = None if held_out[0] is None else mean_probability_logits(held_out)
    return TextFeatures(make_vectorizer(config, tokens), views, train_logits)


def wide_outputs(features: TextFeatures, text) -> list:
    """Each view's logits (B, 5) of the text input, through the shared (frozen or None) layers."""
    return [dense(weighted(text, counter, weighting)) for counter, weighting, dense in features.wide]


def weighted(text, counter, weighting):
    """A view's features (B, V + 1) of the text input: n-gram counts, TF-IDF-weighted unless the view is binary."""
    return counter(text) if weighting is None else weighting(counter(text))


def wide_logits(features: TextFeatures, texts, batch_size: int = 512) -> np.ndarray:
    """The frozen wide path's logits (N, 5) for raw texts, as the export computes them."""
    text = keras.Input(shape=(), dtype="string", name="text")
    outputs = wide_outputs(features, text)
    model = keras.Model(text, outputs[0] if len(outputs) == 1 else MeanProbabilityLogits(name="wide_mix")(outputs))
    return model.predict(tf.constant(list(texts)), batch_size=batch_size, verbose=0)


def recurrent_block(config, return_sequences: bool, name: str):
    """The lesson's RNN (fast layer or RNN(SimpleRNNCell)), wrapped in Bidirectional when configured."""
    layer = recurrent_layer(config.rnn_units, activation=config.activation, return_sequences=return_sequences,
                            implementation=config.rnn_implementation, name=name, dropout=config.dropout,
                            recurrent_dropout=config.recurrent_dropout)
    return keras.layers.Bidirectional(layer, name=f"bi_{name}") if config.bidirectional else layer


def build_model(config, features, name: str = "sentiment_stars") -> keras.Model:
    """Functional model from raw strings (batch,) to star probabilities (batch, 5); `name` tells ensemble members apart.

    `features`: a `TextFeatures` (shared by ensemble members) or the training texts to fit one from.
    """
    return build_models(config, features, name)[0]


def build_models(config, features, name: str = "sentiment_stars") -> tuple[keras.Model, keras.Model]:
    """(serving model, training model), sharing every weight.

    The serving model maps raw strings (B,) to star probabilities (B, 5). With a warm-started wide path the
    training model takes [text (B,), wide logits (B, 5)] instead, so that the RNN learns on top of held-out
    logits (`fit_wide_path`); otherwise both are the same model.
    """
    if not isinstance(features, TextFeatures):
        features = fit_text_features(config, features)
    text = keras.Input(shape=(), dtype="string", name="text")
    vectorizer = features.vectorizer
    regularizer = keras.regularizers.L2(config.weight_decay) if config.weight_decay else None
    ids = LastTokens(vectorizer, config.max_length, name="last_tokens")(text)  # (B, T)
    x = keras.layers.Embedding(vectorizer.vocabulary_size(), config.embedding_dim, mask_zero=True,
                               embeddings_regularizer=regularizer, name="embedding")(ids)  # (B, T, E)
    if config.word_dropout:  # drops whole words (all of x_t), so no single word can carry a review
        x = keras.layers.Dropout(config.word_dropout, noise_shape=(None, None, 1), name="word_dropout")(x)
    for layer in range(config.num_layers):
        x = recurrent_block(config, return_sequences=layer < config.num_layers - 1, name=f"rnn_{layer}")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)  # (B, rnn_units or 2 * rnn_units)
    warm = features.warm_started
    logits = keras.layers.Dense(5, kernel_regularizer=regularizer, kernel_initializer="zeros" if warm else "glorot_uniform",
                                name="rnn_logits")(x)  # (B, 5); zero at the start: the warm-started model is the linear one
    if features.wide is None:
        model = keras.Model(text, keras.layers.Softmax(name="probabilities")(logits), name=name)
        return model, model
    if not warm:  # a wide path learnt from random gets dropout and a layer per member and view
        views = []
        for (counter, weighting, _), view in zip(features.wide, config.wide_views):
            suffix = WIDE_VIEWS[view][1]
            features_in = weighted(text, counter, weighting)  # (B, V + 1)
            wide = keras.layers.Dropout(config.dropout, name=f"wide_dropout{suffix}")(features_in)
            views.append(keras.layers.Dense(5, kernel_regularizer=keras.regularizers.L2(config.wide_l2),
                                            name=f"wide_logits{suffix}")(wide))  # (B, 5)
        total = keras.layers.Add(name="logits")([logits, *views])  # (B, 5)
        model = keras.Model(text, keras.layers.Softmax(name="probabilities")(total), name=name)
        return model, model
    views = wide_outputs(features, text)
    wide = views[0] if len(views) == 1 else MeanProbabilityLogits(name="wide_mix")(views)  # (B, 5)
    add, softmax = keras.layers.Add(name="logits"), keras.layers.Softmax(name="probabilities")
    scale = LogitScale(name="wide_scale")  # one weight, 1 at the start: the RNN may learn to outvote the regression
    serving = keras.Model(text, softmax(add([logits, scale(wide)])), name=name)
    held_out = keras.Input(shape=(5,), dtype="float32", name="wide_logits")
    dropped = DropRows(config.wide_drop, name="wide_logit_drop")(held_out)  # (B, 5); rows zeroed in training only
    training = keras.Model([text, held_out], softmax(add([logits, scale(dropped)])), name=f"{name}_training")
    return serving, training


def residual_model(serving: keras.Model) -> keras.Model:
    """The training model of the residual phase: [text (B,), wide logits (B, 5)] -> probabilities (B, 5).

    The warm start's training model hides the regression's logits of `wide_drop` of the reviews, so the RNN
    learns to answer alone too, and is then served on top of every review's logits; this one keeps every row,
    so what the RNN is fitted on is what is served and validated (a residual on the frozen linear model).
    It reuses the serving model's layers: every weight is shared.
    """
    text = keras.Input(shape=(), dtype="string", name="text")
    held_out = keras.Input(shape=(5,), dtype="float32", name="wide_logits")
    rnn_logits = keras.Model(serving.input, serving.get_layer("rnn_logits").output, name=f"{serving.name}_rnn")
    logits = serving.get_layer("logits")([rnn_logits(text), serving.get_layer("wide_scale")(held_out)])  # (B, 5)
    return keras.Model([text, held_out], serving.get_layer("probabilities")(logits), name=f"{serving.name}_residual")


class ServingModule(KerasServingModule):
    """The export: raw review strings in, stars 1..5 (by the configured decision) and probabilities out."""

    def __init__(self, model, decision: str = "argmax"):
        super().__init__(model)
        self.decision = decision

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        probabilities = self.model(text, training=False)
        return {"stars": decide(probabilities, self.decision), "probabilities": probabilities}
