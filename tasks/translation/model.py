"""Encoder-decoder of the lesson's RNN, trained with teacher forcing (many to many).

    source ids (B, S) -> Embedding -> the lesson's RNN -> encoder states (B, S, H), last state s_S (B, H)
    target_in  (B, T) = [START] y_1 .. y_{T-1} -> Embedding -> the lesson's RNN (initial state s_S)
        -> decoder states h_t (B, T, H)
        -> [attention: context c_t over encoder states; tanh(W_c [c_t; h_t])] -> Dense -> logits (B, T, V)

The training model sees the correct previous syllable at every step (teacher forcing); padding is
masked in both RNNs, in attention and, through sample weights, in the loss. `decoding.StepDecoder`
calls the same layers one step at a time to translate. With `model.input_feeding` the decoder is a
`FeedingDecoder`: attention moves inside its loop and a_{t-1} joins its input (off by default).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from rnn_layers import SimpleRNNCell
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

    def call(self, queries, values, values_mask, mask=None, keys=None):
        del mask  # the decoder's padding mask: padded steps are computed, then masked downstream
        keys = self.key_projection(values) if keys is None else keys  # (B, S, H); a loop passes them in once
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


@keras.saving.register_keras_serializable(package="tasks.translation")
class FeedingDecoder(keras.layers.Layer):
    """Decoder RNN with Luong attention inside the loop and input feeding (Luong et al., 2015, section 3.3).

        x'_t = [embedding(y_{t-1}); a_{t-1}]   s_t = cell(x'_t, s_{t-1})
        c_t  = attention(s_t, encoder states)  a_t = tanh(W_c [c_t; s_t])      (a_0 = 0)

    The attentional vector a_{t-1} tells the next step what was attended to and said, so the state s_t
    need not carry it alone. Call arguments: embedded targets (B, T, E), the initial state (B, H), encoder
    states (B, S, H') and their mask (B, S). Returns a_t (B, T, O) and the attention weights (B, T, S).
    `step` runs one step on the packed state [s; a] (B, H + O), which the decoders carry as one tensor.
    """

    def __init__(self, cell: keras.layers.Layer, attention_units: int, output_size: int, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell  # SimpleRNNCell (the lesson's) or keras.layers.GRUCell (the reference)
        self.state_size = cell.units
        self.output_size = output_size
        self.supports_masking = True  # the targets' padding mask passes on to the loss
        self.attention = LuongAttention(attention_units, name="attention")
        self.attentional = keras.layers.Dense(output_size, activation="tanh", name="attentional")

    def build(self, embedded_shape, initial_state_shape=None, values_shape=None, values_mask_shape=None):
        self.cell.build((None, embedded_shape[-1] + self.output_size))
        self.attention.build((None, None, self.state_size), values_shape)
        self.attentional.build((None, values_shape[-1] + self.state_size))

    def initial_state(self, state):
        """The packed state [s_0; a_0 = 0] (B, H + O) from the encoder's bridge state s_0 (B, H)."""
        return ops.concatenate([state, ops.zeros((ops.shape(state)[0], self.output_size), state.dtype)], axis=-1)

    def step(self, x_t, packed, values, values_mask, training=False, keys=None):
        """(x_t (B, E), [s; a] (B, H + O)) -> new packed state, a_t (B, O), attention weights (B, S).

        `keys`: the attention's projected encoder states, when a loop computes them once for every step."""
        state, fed = packed[:, :self.state_size], packed[:, self.state_size:]
        _, (state, *_) = self.cell(ops.concatenate([x_t, fed], axis=-1), [state], training=training)
        context, weights = self.attention(state[:, None], values, values_mask, keys=keys)  # (B, 1, H'), (B, 1, S)
        attentional = self.attentional(ops.concatenate([context[:, 0], state], axis=-1))  # (B, O)
        return ops.concatenate([state, attentional], axis=-1), attentional, weights[:, 0]

    def call(self, embedded, initial_state, values, values_mask, training=False, mask=None):
        del mask  # padding sits at the end of each target: its steps are computed, then weighted 0 by the loss
        keys = self.attention.key_projection(values)  # (B, S, H), the same at every step

        def one_step(carried, x_t):
            packed, _, _ = carried
            return self.step(x_t, packed, values, values_mask, training, keys)

        start = self.initial_state(initial_state)
        batch, source_length = ops.shape(values)[0], ops.shape(values)[1]
        first = (start, start[:, self.state_size:], tf.zeros((batch, source_length), values.dtype))
        _, outputs, weights = tf.scan(one_step, tf.transpose(embedded, [1, 0, 2]), initializer=first)  # time-major
        return tf.transpose(outputs, [1, 0, 2]), tf.transpose(weights, [1, 0, 2])

    def compute_mask(self, embedded, initial_state=None, values=None, values_mask=None, mask=None):
        return [mask, None]

    def compute_output_shape(self, embedded_shape, initial_state_shape=None, values_shape=None,
                             values_mask_shape=None):
        return (*embedded_shape[:2], self.output_size), (*embedded_shape[:2], values_shape[1])

    def get_config(self):
        return {**super().get_config(), "cell": keras.saving.serialize_keras_object(self.cell),
                "attention_units": self.attention.units, "output_size": self.output_size}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "cell": keras.saving.deserialize_keras_object(config["cell"])})


def decoder_cell(config, cell: str) -> keras.layers.Layer:
    """One step of the decoder: the lesson's SimpleRNNCell, or keras.layers.GRUCell for the reference."""
    if cell == "gru":
        return keras.layers.GRUCell(config.rnn_units, name="decoder_cell")
    if cell != "simple":
        raise ConfigError(f"cell must be 'simple' or 'gru', got {cell!r}")
    return SimpleRNNCell(config.rnn_units, activation=config.activation, name="decoder_cell")


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


def attend(config, attention: str, hidden, encoder_states, source_mask, output_size: int):
    """Decoder states (B, T, H) -> the output layer's input: Luong's attentional vectors tanh(W_c [c_t; h_t])
    (B, T, O), or without attention the states themselves (projected to the embedding's size when tied)."""
    if attention == "luong":
        context, _ = LuongAttention(config.rnn_units, name="attention")(hidden, encoder_states, source_mask)
        hidden = keras.layers.Concatenate(name="context_and_state")([context, hidden])  # (B, T, 2H or 3H)
        return keras.layers.Dense(output_size, activation="tanh", name="attentional")(hidden)  # (B, T, O)
    if attention != "none":
        raise ConfigError(f"attention must be 'luong' or 'none', got {attention!r}")
    if config.tie_embeddings:
        return keras.layers.Dense(output_size, name="projection")(hidden)  # (B, T, E)
    return hidden


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
    output_size = config.embedding_dim if config.tie_embeddings else config.rnn_units  # O
    if attention == "luong" and config.input_feeding:  # attention inside the decoder loop
        decoder = FeedingDecoder(decoder_cell(config, cell), config.rnn_units, output_size, name="decoder")
        hidden, _ = decoder(y, last_state, encoder_states, source_mask)  # (B, T, O): the attentional vectors
    else:
        decoder = recurrent(config, cell, "decoder", return_sequences=True)
        hidden = decoder(y, initial_state=[last_state])  # (B, T, H); decoding.StepDecoder steps it
        hidden = attend(config, attention, hidden, encoder_states, source_mask, output_size)  # (B, T, O or H)
    hidden = keras.layers.Dropout(config.dropout, name="output_dropout")(hidden)
    if config.tie_embeddings:
        logits = TiedLogits(target_embedding, name="logits")(hidden)  # (B, T, V)
    else:
        logits = keras.layers.Dense(target_vocab_size, name="logits")(hidden)  # (B, T, V)
    name = "translation" + ("" if attention == "luong" else "_no_attention") + ("_gru" if cell == "gru" else "")
    return keras.Model({"source": source, "target_in": target_in}, logits, name=name)
