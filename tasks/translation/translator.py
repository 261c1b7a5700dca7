"""The exported translator: raw English strings in, Vietnamese strings out, everything in between in the graph.

    text (B,) --standardize_text, split, vocabulary lookup--> source ids (B, S)
        --greedy or beam search over the model's layers (an ensemble: the members' mean probabilities)--> ids (B, L)
        --[UNK] replaced by the source word the attention weighs most (as written: names, numbers)
        --cut at [END], truecase, capitalise, reattach punctuation--> translation (B,)

Signatures of the SavedModel:
    serving_default(text)            -> translation, log_probability   (beam search, the configured width)
    greedy(text)                     -> translation, log_probability
    beam(text, beam_width)           -> translation, log_probability
The training code calls the same methods for the test metrics, so what is measured is what is served.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tasks.translation.decoding import EnsembleDecoder, StepDecoder, beam_search, greedy_search
from tasks.translation.tokens import START_ID, UNK_ID, Detokenizer, Vocabulary, split_tokens

TEXT = tf.TensorSpec([None], tf.string, name="text")
BEAM_WIDTH = tf.TensorSpec([], tf.int32, name="beam_width")


class Translator(tf.Module):
    """A trained model with its vocabularies, truecasing table and decoders."""

    def __init__(self, model: keras.Model | list[keras.Model], source_vocabulary: Vocabulary,
                 target_vocabulary: Vocabulary, truecasing: dict[str, str], beam_width: int, max_length: int,
                 length_penalty: float = 0.0):
        """`model`: one trained model, or a list of them (a seed ensemble over the same vocabularies) whose
        next-syllable probabilities the decoders average (`decoding.EnsembleDecoder`)."""
        super().__init__(name="translator")
        self.members = list(model) if isinstance(model, (list, tuple)) else [model]
        self.model = self.members[0]
        self.source_vocabulary = source_vocabulary
        self.target_vocabulary = target_vocabulary
        self.detokenizer = Detokenizer(target_vocabulary, truecasing)
        self.default_beam_width = beam_width
        self.max_length = max_length
        # A variable, so that tuning it on the validation split (evaluate.tune_length_penalty) needs no retrace.
        self.length_penalty = tf.Variable(float(length_penalty), trainable=False, dtype=tf.float32,
                                          name="length_penalty")
        decoders = [StepDecoder(member) for member in self.members]
        self._decoder = decoders[0] if len(decoders) == 1 else EnsembleDecoder(decoders)
        # Teacher-forced attention weights (B, L, S) of a decoded output, one model per member, to copy words the
        # vocabulary lacks (Luong et al., 2015, "Addressing the rare word problem"); None without attention.
        self._attention = None
        if decoders[0].attention is not None:
            self._attention = [keras.Model(member.input, decoder.attention_weights, name=f"attention_weights_{k}")
                               for k, (member, decoder) in enumerate(zip(self.members, decoders))]

    def source_ids(self, text: tf.Tensor) -> tf.Tensor:
        """(B,) raw strings -> (B, S + 1) ids padded with 0 (the extra column keeps S + 1 >= 1)."""
        return tf.pad(self.source_vocabulary.encode(text).to_tensor(), [[0, 0], [0, 1]])

    def unknown_words(self, text, source_ids, ids, weights=None):
        """(B, L) source words, as written, to stand where the decoder wrote [UNK] (None without attention).

        At each output step, the source token the attention weighs most. A word outside the vocabulary is
        usually a name or a number, which a translation keeps as it is. `weights` (B, L, S) are the
        decoder's own attention weights when the search kept them (greedy); otherwise (beam) they are
        recomputed by one teacher-forced pass over the output, only when some output holds [UNK].
        """
        if self._attention is None:
            return None
        if weights is None:
            target_in = tf.concat([tf.fill([tf.shape(ids)[0], 1], START_ID), ids[:, :-1]], axis=1)
            weights = tf.cond(
                tf.reduce_any(tf.equal(ids, UNK_ID)),
                lambda: tf.add_n([attention({"source": source_ids, "target_in": target_in}, training=False)
                                  for attention in self._attention]) / len(self._attention),  # members' mean
                lambda: tf.zeros(tf.concat([tf.shape(ids), tf.shape(source_ids)[1:]], 0)))  # (B, L, S)
        attended = tf.argmax(weights, axis=-1, output_type=tf.int32)  # (B, L)
        words = split_tokens(text, lowercase=False).to_tensor(shape=tf.shape(source_ids))  # (B, S), like the ids
        return tf.gather(words, attended, batch_dims=1)

    def _output(self, text, source_ids, ids, scores, weights=None):
        """Text outputs; a text without any token translates to "" with log-probability 0."""
        empty = tf.equal(tf.strings.length(tf.strings.regex_replace(text, r"[\s\p{Z}\p{Cf}]", "")), 0)
        unknown_words = self.unknown_words(text, source_ids, ids, weights)
        translation = tf.where(empty, "", self.detokenizer(ids, unknown_words))
        return {"translation": translation, "log_probability": tf.where(empty, 0.0, scores)}

    @tf.function(input_signature=[TEXT])
    def translate(self, text):
        """Beam search with the configured width (the serving default)."""
        return self.beam(text, tf.constant(self.default_beam_width, tf.int32))

    @tf.function(input_signature=[TEXT, BEAM_WIDTH])
    def beam(self, text, beam_width):
        """Beam search of any width (clipped to 1 .. vocabulary size - 2)."""
        source_ids = self.source_ids(text)
        ids, scores = beam_search(self._decoder, source_ids, beam_width, self.max_length, self.length_penalty)
        return self._output(text, source_ids, ids, scores)

    @tf.function(input_signature=[TEXT])
    def greedy(self, text):
        """The most likely syllable at each step."""
        outputs = self.greedy_with_attention(text)
        return {"translation": outputs["translation"], "log_probability": outputs["log_probability"]}

    @tf.function(input_signature=[TEXT])
    def greedy_with_attention(self, text):
        """Greedy translations with their source tokens, target tokens and attention weights (for plots)."""
        source_ids = self.source_ids(text)
        ids, scores, weights = greedy_search(self._decoder, source_ids, self.max_length)
        return {**self._output(text, source_ids, ids, scores, weights),
                "source_tokens": self.source_vocabulary.token_strings(source_ids),
                "target_tokens": self.target_vocabulary.token_strings(ids), "target_ids": ids,
                "attention": weights}

    def signatures(self) -> dict:
        return {"serving_default": self.translate.get_concrete_function(),
                "greedy": self.greedy.get_concrete_function(),
                "beam": self.beam.get_concrete_function()}


def translate_all(function, texts, batch_size: int = 128, **kwargs) -> tuple[list[str], list[float]]:
    """Runs a Translator method (or a loaded signature) over a list in batches -> (translations, log-probabilities)."""
    translations, scores = [], []
    for start in range(0, len(texts), batch_size):
        outputs = function(text=tf.constant(list(texts[start:start + batch_size]), tf.string), **kwargs)
        translations += [value.decode("utf-8") for value in outputs["translation"].numpy()]
        scores += [float(value) for value in outputs["log_probability"].numpy()]
    return translations, scores
