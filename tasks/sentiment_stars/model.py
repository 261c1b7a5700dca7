"""Text -> the lesson's RNN over word embeddings, plus an optional wide TF-IDF n-gram path -> 5 stars.

Everything from the raw string on runs inside the graph (standardization, vocabulary, n-gram TF-IDF), so the
export takes raw reviews and loads with TensorFlow alone.
"""
from __future__ import annotations

from collections import Counter

import keras
import numpy as np
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer

from tasks.common.export import KerasServingModule
from tasks.common.layers import recurrent_layer
from tasks.common.text import standardize_text, standardized
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


def wide_features(config, train_tokens: list[str], text):
    """TF-IDF of word 1..wide_ngrams-grams seen in >= wide_min_df training reviews: the linear model's input."""
    tfidf = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, sublinear_tf=True,
                            ngram_range=(1, config.wide_ngrams), min_df=config.wide_min_df).fit(train_tokens)
    vocabulary = list(tfidf.get_feature_names_out())
    counter = keras.layers.TextVectorization(standardize=standardize_text, split="whitespace",
                                             ngrams=config.wide_ngrams, output_mode="count",
                                             vocabulary=vocabulary, name="wide_ngrams")
    idf = np.concatenate([[0.0], tfidf.idf_]).astype("float32")  # index 0 counts out-of-vocabulary n-grams
    return SublinearTfidf(idf, name="wide_tfidf")(counter(text))  # (B, V + 1)


def recurrent_block(config, return_sequences: bool, name: str):
    """The lesson's RNN (fast layer or RNN(SimpleRNNCell)), wrapped in Bidirectional when configured."""
    layer = recurrent_layer(config.units, activation=config.activation, return_sequences=return_sequences,
                            implementation=config.rnn_implementation, name=name, dropout=config.dropout,
                            recurrent_dropout=config.recurrent_dropout)
    return keras.layers.Bidirectional(layer, name=f"bi_{name}") if config.bidirectional else layer


def build_model(config, train_texts, name: str = "sentiment_stars") -> keras.Model:
    """Functional model from raw strings (batch,) to star probabilities (batch, 5); `name` tells ensemble members apart."""
    text = keras.Input(shape=(), dtype="string", name="text")
    tokens = standardized(train_texts)
    vectorizer = make_vectorizer(config, tokens)
    regularizer = keras.regularizers.L2(config.weight_decay) if config.weight_decay else None
    ids = LastTokens(vectorizer, config.max_length, name="last_tokens")(text)  # (B, T)
    x = keras.layers.Embedding(vectorizer.vocabulary_size(), config.embedding_dim, mask_zero=True,
                               embeddings_regularizer=regularizer, name="embedding")(ids)  # (B, T, E)
    if config.word_dropout:  # drops whole words (all of x_t), so no single word can carry a review
        x = keras.layers.Dropout(config.word_dropout, noise_shape=(None, None, 1), name="word_dropout")(x)
    for layer in range(config.num_layers):
        x = recurrent_block(config, return_sequences=layer < config.num_layers - 1, name=f"rnn_{layer}")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)  # (B, units or 2 * units)
    logits = keras.layers.Dense(5, kernel_regularizer=regularizer, name="rnn_logits")(x)  # (B, 5)
    if config.wide_ngrams:
        wide = wide_features(config, tokens, text)
        wide = keras.layers.Dropout(config.dropout, name="wide_dropout")(wide)
        wide_logits = keras.layers.Dense(5, kernel_regularizer=keras.regularizers.L2(config.wide_l2),
                                         name="wide_logits")(wide)  # (B, 5)
        logits = keras.layers.Add(name="logits")([logits, wide_logits])
    probabilities = keras.layers.Softmax(name="probabilities")(logits)  # (B, 5)
    return keras.Model(text, probabilities, name=name)


def average_members(members: list[keras.Model]) -> keras.Model:
    """One model whose probabilities are the mean of the members' (the members themselves when there is one)."""
    if len(members) == 1:
        return members[0]
    text = keras.Input(shape=(), dtype="string", name="text")
    probabilities = keras.layers.Average(name="probabilities")([member(text) for member in members])
    return keras.Model(text, probabilities, name="sentiment_stars_ensemble")


class ServingModule(KerasServingModule):
    """The export: raw review strings in, stars 1..5 (by the configured decision) and probabilities out."""

    def __init__(self, model, decision: str = "argmax"):
        super().__init__(model)
        self.decision = decision

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        probabilities = self.model(text, training=False)
        return {"stars": decide(probabilities, self.decision), "probabilities": probabilities}
