"""Text -> TextVectorization (standardized in the graph) -> Embedding(mask_zero) -> the lesson's RNN -> 5 stars."""
from __future__ import annotations

import keras
import tensorflow as tf

from tasks.common.export import KerasServingModule
from tasks.common.layers import recurrent_layer
from tasks.common.text import standardize_text


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


def make_vectorizer(config, train_texts) -> keras.layers.TextVectorization:
    """Vocabulary of the training split; standardization (NFC, lowercase, punctuation) runs inside the graph."""
    vectorizer = keras.layers.TextVectorization(max_tokens=config.max_tokens, standardize=standardize_text,
                                                split="whitespace", ragged=True, name="vectorize")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train_texts)).batch(512))
    return vectorizer


def recurrent_block(config, return_sequences: bool, name: str):
    """The lesson's RNN (fast layer or RNN(SimpleRNNCell)), wrapped in Bidirectional when configured."""
    layer = recurrent_layer(config.units, activation=config.activation, return_sequences=return_sequences,
                            implementation=config.rnn_implementation, name=name, dropout=config.dropout,
                            recurrent_dropout=config.recurrent_dropout)
    return keras.layers.Bidirectional(layer, name=f"bi_{name}") if config.bidirectional else layer


def build_model(config, train_texts) -> keras.Model:
    """Functional model from raw strings (batch,) to star probabilities (batch, 5)."""
    text = keras.Input(shape=(), dtype="string", name="text")
    vectorizer = make_vectorizer(config, train_texts)
    ids = LastTokens(vectorizer, config.max_length, name="last_tokens")(text)  # (B, T)
    x = keras.layers.Embedding(vectorizer.vocabulary_size(), config.embedding_dim, mask_zero=True,
                               name="embedding")(ids)  # (B, T, E)
    for layer in range(config.num_layers):
        x = recurrent_block(config, return_sequences=layer < config.num_layers - 1, name=f"rnn_{layer}")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)  # (B, units or 2 * units)
    probabilities = keras.layers.Dense(5, activation="softmax", name="probabilities")(x)  # (B, 5)
    return keras.Model(text, probabilities, name="sentiment_stars")


class ServingModule(KerasServingModule):
    """The export: raw review strings in, stars 1..5 and probabilities out."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        probabilities = self.model(text, training=False)
        stars = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32) + 1
        return {"stars": stars, "probabilities": probabilities}
