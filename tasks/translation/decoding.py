"""Greedy and beam search over the trained model's layers, as graph loops (tf.while_loop in tf.function).

Both decoders score a translation by the model's own log-probability, sum_t log p(y_t | y_<t, x), with
the [END] step included. Decoding stops at [END] or after `max_length` syllables.

Beam search keeps the `beam_width` best partial translations of each sentence. A finished hypothesis
stays in the beam with its score frozen, so it competes with longer ones; the search stops once every
sentence's best finished hypothesis outscores all its unfinished ones. An optional length penalty
(GNMT's) ranks the final hypotheses by log-probability per length unit instead. Pruning can drop the
prefix the greedy decoder follows, so the beam result is compared with the greedy one and the better
of the two returned: the beam decoder never scores below greedy (by the same ranking).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tasks.common.layers import step_function
from tasks.translation.model import FeedingDecoder, encode
from tasks.translation.tokens import END_ID, PAD_ID, START_ID

NEG_INF = -1e9  # finite, so that sums of "impossible" scores never produce NaN


class StepDecoder:
    """The layers of a model from `model.build_model`, called one decoder step at a time."""

    def __init__(self, model: keras.Model):
        layer_names = {layer.name for layer in model.layers}
        self.source_embedding = model.get_layer("source_embedding")
        self.encoder = model.get_layer("encoder")
        self.bridge = model.get_layer("bridge") if "bridge" in layer_names else None  # bidirectional encoder
        self.target_embedding = model.get_layer("target_embedding")
        decoder = model.get_layer("decoder")
        # Input feeding: attention runs inside the decoder, whose state is the packed [s_t; a_t].
        self.feeding = decoder if isinstance(decoder, FeedingDecoder) else None
        if self.feeding is not None:
            self.attention, self.attention_weights = self.feeding.attention, decoder.output[1]  # (B, T, S)
        else:
            self.decoder_step = step_function(decoder)  # (x_t, s_{t-1}) -> s_t
            self.attention = model.get_layer("attention") if "attention" in layer_names else None
            self.attention_weights = self.attention.output[1] if self.attention is not None else None
            self.attentional = model.get_layer("attentional") if self.attention is not None else None
        self.projection = model.get_layer("projection") if "projection" in layer_names else None  # tied, no attention
        self.logits = model.get_layer("logits")
        self.vocabulary_size = self.logits.units
        # [PAD] and [START] are never targets; forbid them so a decoder cannot emit them.
        self._forbidden = tf.constant([i in (PAD_ID, START_ID) for i in range(self.vocabulary_size)])

    def encode(self, source_ids: tf.Tensor):
        """(B, S) ids -> encoder states (B, S, H), last state (B, H), source mask (B, S)."""
        mask = tf.not_equal(source_ids, PAD_ID)
        states, last = encode(self.source_embedding(source_ids), self.encoder, self.bridge, mask=mask)
        if self.feeding is not None:
            last = self.feeding.initial_state(last)  # (B, H + O)
        return states, last, mask

    def _after_state(self, state, encoder_states, source_mask):
        """A decoder without input feeding: attention (if any) on top of s_t -> output (B, O), weights (B, S)."""
        if self.attention is None:
            weights = tf.zeros(tf.shape(source_mask), state.dtype)
            return (state if self.projection is None else self.projection(state)), weights
        context, weights = self.attention(state[:, tf.newaxis], encoder_states, source_mask)  # (B, 1, H/S)
        return self.attentional(tf.concat([context[:, 0], state], axis=-1)), weights[:, 0]  # (B, O), (B, S)

    def step(self, tokens: tf.Tensor, state: tf.Tensor, encoder_states: tf.Tensor, source_mask: tf.Tensor):
        """One decoder step: previous tokens (B,) -> log-probabilities (B, V), new state (B, H or H + O),
        attention (B, S)."""
        embedded = tf.gather(self.target_embedding.embeddings, tokens)  # (B, E), the Embedding layer's lookup
        if self.feeding is not None:  # attention inside the decoder; its output is a_t
            state, output, weights = self.feeding.step(embedded, state, encoder_states, source_mask)
        else:
            state = self.decoder_step(embedded, state)  # (B, H): s_t, also the RNN's output
            output, weights = self._after_state(state, encoder_states, source_mask)
        log_probs = tf.nn.log_softmax(self.logits(output), axis=-1)  # (B, V)
        log_probs = tf.where(self._forbidden, tf.cast(NEG_INF, log_probs.dtype), log_probs)
        return log_probs, state, weights


class EnsembleDecoder:
    """Several StepDecoders of one vocabulary as one: at each step the mean of their next-syllable
    probabilities (fairseq's ensemble rule; the mean of distributions is itself one, so scores stay
    log-probabilities), and the mean of their attention weights.

    Members trained from different seeds err differently; their mean is steadier than any one of them. The
    search loops carry one tensor per quantity, so the members' encoder states and decoder states are
    concatenated on the last axis and split again at each step: every member has the same sizes (one config).
    """

    def __init__(self, members: list[StepDecoder]):
        if len({member.vocabulary_size for member in members}) != 1:
            raise ValueError(f"ensemble members must share one target vocabulary, got sizes "
                             f"{[member.vocabulary_size for member in members]}")
        self.members = members
        self.vocabulary_size = members[0].vocabulary_size

    def encode(self, source_ids: tf.Tensor):
        """(B, S) ids -> the members' encoder states (B, S, N * H) and last states (B, N * H), source mask (B, S)."""
        encoded = [member.encode(source_ids) for member in self.members]
        return (tf.concat([states for states, _, _ in encoded], axis=-1),
                tf.concat([last for _, last, _ in encoded], axis=-1), encoded[0][2])

    def step(self, tokens: tf.Tensor, state: tf.Tensor, encoder_states: tf.Tensor, source_mask: tf.Tensor):
        """One step of every member -> log of their mean probabilities (B, V), packed states, mean attention (B, S)."""
        count = len(self.members)
        steps = [member.step(tokens, member_state, member_encoder_states, source_mask)
                 for member, member_state, member_encoder_states in zip(
                     self.members, tf.split(state, count, axis=-1), tf.split(encoder_states, count, axis=-1))]
        log_probs = tf.reduce_logsumexp(tf.stack([log_probs for log_probs, _, _ in steps]), axis=0)
        log_probs -= tf.math.log(tf.cast(count, log_probs.dtype))  # (B, V)
        weights = tf.add_n([weights for _, _, weights in steps]) / count  # (B, S)
        return log_probs, tf.concat([new_state for _, new_state, _ in steps], axis=-1), weights


def greedy_search(decoder: StepDecoder | EnsembleDecoder, source_ids: tf.Tensor, max_length: int):
    """The most likely next syllable at each step.

    Returns ids (B, max_length) ending with [END] then [PAD], log-probabilities (B,) and attention
    weights (B, max_length, S).
    """
    encoder_states, state, source_mask = decoder.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    ids = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])  # one (B,) per step
    weights = tf.TensorArray(encoder_states.dtype, size=0, dynamic_size=True, element_shape=[None, None])

    def body(t, tokens, state, finished, scores, ids, weights):
        log_probs, state, attention = decoder.step(tokens, state, encoder_states, source_mask)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (B,)
        best_log_prob = tf.gather(log_probs, best, batch_dims=1)
        scores = scores + tf.where(finished, 0.0, best_log_prob)
        best = tf.where(finished, PAD_ID, best)
        finished = tf.logical_or(finished, tf.equal(best, END_ID))
        return t + 1, best, state, finished, scores, ids.write(t, best), weights.write(t, attention)

    def not_done(t, tokens, state, finished, *_):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    t, _, _, _, scores, ids, weights = tf.while_loop(
        not_done, body,
        (tf.constant(0), tf.fill([batch], START_ID), state, tf.zeros([batch], tf.bool),
         tf.zeros([batch], encoder_states.dtype), ids, weights))
    padding = [[0, 0], [0, max_length - t]]
    ids = tf.pad(tf.transpose(ids.stack()), padding)  # (B, max_length)
    weights = tf.pad(tf.transpose(weights.stack(), [1, 0, 2]), padding + [[0, 0]])  # (B, max_length, S)
    return ids, scores, weights


def _merge_beams(tensor: tf.Tensor) -> tf.Tensor:
    """(B, K, ...) -> (B * K, ...)."""
    return tf.reshape(tensor, tf.concat([[-1], tf.shape(tensor)[2:]], axis=0))


def _split_beams(tensor: tf.Tensor, beam_width) -> tf.Tensor:
    """(B * K, ...) -> (B, K, ...)."""
    return tf.reshape(tensor, tf.concat([[-1, beam_width], tf.shape(tensor)[1:]], axis=0))


def length_normalizer(lengths: tf.Tensor, length_penalty: float) -> tf.Tensor:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al., 2016); alpha = 0 gives 1: plain log-probability."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, length_penalty)


def _lengths(ids: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tf.not_equal(ids, PAD_ID), tf.int32), axis=-1)


def beam_search(decoder: StepDecoder | EnsembleDecoder, source_ids: tf.Tensor, beam_width, max_length: int,
                length_penalty: float = 0.0):
    """The `beam_width` best hypotheses per sentence, extended one syllable at a time.

    `beam_width` may be a Python int or a scalar int32 tensor (the export's `beam` signature). The final
    choice ranks hypotheses by log p / lp(length) (see `length_normalizer`). The default
    `length_penalty=0` ranks by the plain log-probability, which favours short translations; 0.6 to 1.0
    is usual for real corpora. Returns the chosen hypothesis's ids (B, max_length) and its plain
    log-probability (B,). Its ranking score is never below the greedy translation's.
    """
    vocabulary_size = decoder.vocabulary_size
    beam_width = tf.clip_by_value(tf.cast(beam_width, tf.int32), 1, vocabulary_size - 2)
    encoder_states, state, source_mask = decoder.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    tile = lambda tensor: tf.repeat(tensor, beam_width, axis=0)  # noqa: E731  (B, ...) -> (B * K, ...)
    encoder_states, state, source_mask = tile(encoder_states), tile(state), tile(source_mask)
    dtype = encoder_states.dtype
    # Only beam 0 is alive at the start, so the first step does not pick the same syllable K times.
    first_beam = tf.concat([[0.0], tf.fill([beam_width - 1], NEG_INF)], axis=0)
    scores = tf.tile(tf.cast(first_beam, dtype)[tf.newaxis], [batch, 1])  # (B, K)
    sequences = tf.fill([batch, beam_width, max_length], PAD_ID)  # (B, K, L)
    # A finished beam's only continuation is [PAD] at no cost: its score stays fixed.
    finished_row = tf.cast(tf.where(tf.range(vocabulary_size) == PAD_ID, 0.0, NEG_INF), dtype)  # (V,)
    positions = tf.range(max_length)
    best_possible_normalizer = length_normalizer(max_length, length_penalty)

    def body(t, tokens, state, finished, scores, sequences):
        log_probs, state, _ = decoder.step(tokens, state, encoder_states, source_mask)  # (B*K, V)
        log_probs = _split_beams(log_probs, beam_width)  # (B, K, V)
        log_probs = tf.where(finished[..., tf.newaxis], finished_row, log_probs)
        candidates = tf.reshape(scores[..., tf.newaxis] + log_probs, [batch, -1])  # (B, K*V)
        scores, flat_index = tf.math.top_k(candidates, k=beam_width)  # (B, K)
        parent, token = flat_index // vocabulary_size, flat_index % vocabulary_size
        sequences = tf.gather(sequences, parent, batch_dims=1)  # (B, K, L) reordered by parent beam
        sequences = tf.where(tf.equal(positions, t), token[..., tf.newaxis], sequences)
        finished = tf.logical_or(tf.gather(finished, parent, batch_dims=1), tf.equal(token, END_ID))
        state = _merge_beams(tf.gather(_split_beams(state, beam_width), parent, batch_dims=1))
        return t + 1, tf.reshape(token, [-1]), state, finished, scores, sequences

    def not_done(t, tokens, state, finished, scores, sequences):
        # Log-probabilities only fall as hypotheses grow, so an unfinished one can at best reach
        # score / lp(max_length). Once a sentence's best finished hypothesis is at least that good
        # for all its unfinished ones, its result is settled.
        finished_ranking = scores / length_normalizer(_lengths(sequences), length_penalty)
        best_finished = tf.reduce_max(tf.where(finished, finished_ranking, 2 * NEG_INF), axis=1)
        best_alive = tf.reduce_max(tf.where(finished, 2 * NEG_INF, scores / best_possible_normalizer), axis=1)
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(best_finished >= best_alive)))

    loop_vars = (tf.constant(0), tf.fill([batch * beam_width], START_ID), state, tf.zeros([batch, beam_width], tf.bool),
                 scores, sequences)
    # The beam width may be a tensor: let every beam dimension stay unknown across iterations.
    invariants = tuple(tf.TensorShape([None] * len(v.shape)) for v in loop_vars)
    _, _, _, _, scores, sequences = tf.while_loop(not_done, body, loop_vars, shape_invariants=invariants)
    ranking = scores / length_normalizer(_lengths(sequences), length_penalty)  # (B, K)
    best = tf.argmax(ranking, axis=1, output_type=tf.int32)
    ids, score, rank = (tf.gather(x, best, batch_dims=1) for x in (sequences, scores, ranking))
    greedy_ids, greedy_score, _ = greedy_search(decoder, source_ids, max_length)
    better_greedy = greedy_score / length_normalizer(_lengths(greedy_ids), length_penalty) > rank
    return tf.where(better_greedy[:, tf.newaxis], greedy_ids, ids), tf.where(better_greedy, greedy_score, score)


def sequence_log_probability(model: keras.Model, source_ids, target_ids) -> tf.Tensor:
    """log p(target + [END] | source) under the teacher-forced model; target_ids (B, T) padded with 0."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(target_ids, PAD_ID), tf.int32), axis=1)
    target_out = tf.concat([target_ids, tf.zeros_like(target_ids[:, :1])], axis=1)
    target_out = tf.tensor_scatter_nd_update(
        target_out, tf.stack([tf.range(tf.shape(lengths)[0]), lengths], axis=1), tf.fill(tf.shape(lengths), END_ID))
    target_in = tf.concat([tf.fill([tf.shape(target_ids)[0], 1], START_ID), target_ids], axis=1)
    log_probs = tf.nn.log_softmax(model({"source": source_ids, "target_in": target_in}, training=False), axis=-1)
    picked = tf.gather(log_probs, target_out, batch_dims=2)  # (B, T+1)
    return tf.reduce_sum(tf.where(tf.not_equal(target_out, PAD_ID), picked, 0.0), axis=1)
