"""Encoder-decoder of the lesson's RNN, trained with teacher forcing (many to many).

    source ids (B, S) -> Embedding -> the lesson's RNN -> encoder states (B, S, H), last state s_S (B, H)
    target_in  (B, T) = [START] y_1 .. y_{T-1} -> Embedding -> the lesson's RNN (initial state s_S)
        -> decoder states h_t (B, T, H)
        -> [attention: context c_t over encoder states; tanh(W_c [c_t; h_t])] -> Dense -> logits (B, T, V)

The training model sees the correct previous syllable at every step (teacher forcing); padding is
masked in both RNNs, in attention and, through sample weights, in the loss. `decoding.StepDecoder`
calls the same layers one step at a time to translate.
"""
from __future__ import annotations

import keras
from keras import ops

from tasks.common.errors import ConfigError
from tasks.common.layers import recurrent_layer

NEG_INF = -1e9  # score of padded source positions: exp() underflows to an exact 0


@keras.saving.register_keras_serializable(package="tasks.translation")
class LuongAttention(keras.layers.Layer):
    """Global attention, "general" score (Luong et al., 2015): score(h_t, h_s) = h_t . (W_a h_s).

    Call arguments: `queries` (B, T, H) decoder states, `values` (B, S, H) encoder states and
    `values_mask` (B, S) bool. Returns the context vectors (B, T, H) and the weights (B, T, S), which
    sum to 1 over the unmasked source positions.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True  # the decoder's padding mask passes on to the context vectors
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="W_a")

    def build(self, queries_shape, values_shape=None, values_mask_shape=None, mask_shape=None):
        self.key_projection.build(values_shape)

    def call(self, queries, values, values_mask, mask=None):
        del mask  # the decoder's padding mask: padded steps are computed, then masked downstream
        keys = self.key_projection(values)  # (B, S, H)
        scores = ops.einsum("bth,bsh->bts", queries, keys)  # (B, T, S)
        scores = ops.where(ops.expand_dims(values_mask, 1), scores, NEG_INF)
        weights = ops.softmax(scores, axis=-1)  # (B, T, S)
        context = ops.einsum("bts,bsh->bth", weights, values)  # (B, T, H)
        return context, weights

    def compute_mask(self, queries, values=None, values_mask=None, mask=None):
        return [mask, None]

    def compute_output_shape(self, queries_shape, values_shape=None, values_mask_shape=None):
        return (*queries_shape[:2], values_shape[-1]), (*queries_shape[:2], values_shape[1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class TiedLogits(keras.layers.Layer):
    """logits = h E^T + b: the output layer reuses the target embedding E (V, D) (Press and Wolf, 2017).

    A syllable's input and output vectors are one vector, learned from both roles: on a few thousand
    pairs, most syllables are too rare to learn two. `hidden` must have the embedding's size D.
    """

    def __init__(self, embedding: keras.layers.Embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.units = embedding.input_dim  # the vocabulary size, as Dense(units) would have it
        self.supports_masking = True  # like Dense: the padding mask passes on to the loss

    def build(self, hidden_shape):
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, hidden):
        return ops.matmul(hidden, ops.transpose(self.embedding.embeddings)) + self.bias

    def compute_output_shape(self, hidden_shape):
        return (*hidden_shape[:-1], self.units)


class SmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy from logits against (1 - smoothing) on the target and smoothing spread over the vocabulary.

    Label smoothing (Szegedy et al., 2016) keeps the model from putting all its mass on the training
    syllable, which on small corpora means fewer over-confident, repetitive translations.
    """

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(y_pred, axis=-1)  # (B, T, V)
        picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(y_true, "int32"), -1), axis=-1)[..., 0]
        return -(1.0 - self.smoothing) * picked - self.smoothing * ops.mean(log_probs, axis=-1)


def training_loss(config) -> keras.losses.Loss:
    """The loss the model trains on: plain cross-entropy, or label-smoothed when config.label_smoothing > 0."""
    if config.label_smoothing:
        return SmoothedCrossEntropy(config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def recurrent(config, cell: str, name: str, **options) -> keras.layers.Layer:
    """The lesson's RNN (cell "simple") or, for the reference model, keras.layers.GRU (cell "gru")."""
    if cell == "gru":
        return keras.layers.GRU(config.rnn_units, name=name, **options)
    if cell != "simple":
        raise ConfigError(f"cell must be 'simple' or 'gru', got {cell!r}")
    return recurrent_layer(config.rnn_units, config.activation, implementation=config.rnn_implementation, name=name,
                           **options)


def encode(source_embedded, encoder, bridge, mask=None):
    """Encoder states (B, S, H or 2H) and the decoder's initial state (B, H), for training and decoding alike.

    A bidirectional encoder's last forward and backward states pass through `bridge`, tanh(W [s_fwd; s_bwd]),
    to the size of the decoder's state.
    """
    outputs = encoder(source_embedded, mask=mask)
    if bridge is None:
        return outputs[0], outputs[1]
    return outputs[0], bridge(ops.concatenate(outputs[1:], axis=-1))


def build_model(config, source_vocab_size: int, target_vocab_size: int, attention: str | None = None,
                cell: str | None = None) -> keras.Model:
    """Teacher-forced training model: {"source", "target_in"} ids -> next-syllable logits (B, T, V).

    `attention` overrides `config.attention` ("luong" | "none"), for the attention-free baseline; `cell`
    overrides `config.cell` ("simple" | "gru"), for the GRU reference.
    """
    attention = config.attention if attention is None else attention
    cell = config.cell if cell is None else cell
    source = keras.Input(shape=(None,), dtype="int32", name="source")  # (B, S), 0 = padding
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")  # (B, T), [START] first

    source_mask = ops.not_equal(source, 0)  # (B, S)
    x = keras.layers.Embedding(source_vocab_size, config.embedding_dim, mask_zero=True,
                               name="source_embedding")(source)  # (B, S, E)
    x = keras.layers.Dropout(config.dropout, name="source_dropout")(x)
    encoder = recurrent(config, cell, "encoder", return_sequences=True, return_state=True)
    bridge = None
    if config.bidirectional:
        encoder = keras.layers.Bidirectional(encoder, merge_mode="concat", name="encoder")
        bridge = keras.layers.Dense(config.rnn_units, activation="tanh", name="bridge")
    encoder_states, last_state = encode(x, encoder, bridge)  # (B, S, H or 2H), (B, H)

    target_embedding = keras.layers.Embedding(target_vocab_size, config.embedding_dim, mask_zero=True,
                                              name="target_embedding")
    y = target_embedding(target_in)  # (B, T, E)
    y = keras.layers.Dropout(config.dropout, name="target_dropout")(y)
    decoder = recurrent(config, cell, "decoder", return_sequences=True)
    hidden = decoder(y, initial_state=[last_state])  # (B, T, H); decoding.StepDecoder steps it
    output_size = config.embedding_dim if config.tie_embeddings else config.rnn_units  # O
    if attention == "luong":
        context, _ = LuongAttention(config.rnn_units, name="attention")(hidden, encoder_states, source_mask)
        hidden = keras.layers.Concatenate(name="context_and_state")([context, hidden])  # (B, T, 2H or 3H)
        hidden = keras.layers.Dense(output_size, activation="tanh", name="attentional")(hidden)  # (B, T, O)
    elif attention != "none":
        raise ConfigError(f"attention must be 'luong' or 'none', got {attention!r}")
    elif config.tie_embeddings:
        hidden = keras.layers.Dense(output_size, name="projection")(hidden)  # (B, T, E)
    hidden = keras.layers.Dropout(config.dropout, name="output_dropout")(hidden)
    if config.tie_embeddings:
        logits = TiedLogits(target_embedding, name="logits")(hidden)  # (B, T, V)
    else:
        logits = keras.layers.Dense(target_vocab_size, name="logits")(hidden)  # (B, T, V)
    name = "translation" + ("" if attention == "luong" else "_no_attention") + ("_gru" if cell == "gru" else "")
    return keras.Model({"source": source, "target_in": target_in}, logits, name=name)
