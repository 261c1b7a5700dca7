"""Text standardization in pure TensorFlow, so exports stay loadable without tensorflow_text.

Core TF has no Unicode normalization op. Vietnamese typed on some keyboards (and text copied from macOS)
arrives in NFD: "ệ" as "e" + U+0323 + U+0302. `normalize_nfc` recomposes such sequences with a table of
(letter, combining mark) -> precomposed letter pairs built at import time from Python's `unicodedata`,
applied in a few vectorized rounds over code points. It covers every precomposed Latin letter (which
includes all of Vietnamese), in any order of the marks; other scripts pass through unchanged.
"""
from __future__ import annotations

import itertools
import unicodedata

import numpy as np
import tensorflow as tf

_LATIN_RANGES = ((0x00C0, 0x0250), (0x1E00, 0x1F00))  # Latin-1 Supplement .. Latin Extended-B, Extended Additional
_KEY_SHIFT = 21  # code points fit in 21 bits, so (letter << 21) | mark is a unique int64 key


def _composition_pairs() -> dict[tuple[int, int], int]:
    """(letter, mark) -> composed letter, for every path from a base letter to each precomposed Latin letter."""
    pairs = {}
    for start, stop in _LATIN_RANGES:
        for code in range(start, stop):
            char = chr(code)
            decomposed = unicodedata.normalize("NFD", char)
            if decomposed == char or len(decomposed) > 4:
                continue
            base, marks = decomposed[0], decomposed[1:]
            for order in itertools.permutations(marks):  # users' text may hold marks in any order
                current = base
                for mark in order:
                    composed = unicodedata.normalize("NFC", current + mark)
                    if len(composed) != 1:
                        break
                    pairs[(ord(current), ord(mark))] = ord(composed)
                    current = composed
    return pairs


_PAIRS = _composition_pairs()
_KEYS = np.array(sorted((a << _KEY_SHIFT) | b for a, b in _PAIRS), dtype=np.int64)
_VALUES = np.array([_PAIRS[(k >> _KEY_SHIFT, k & ((1 << _KEY_SHIFT) - 1))] for k in _KEYS], dtype=np.int32)
_MAX_MARKS = 3  # rounds of composition; precomposed Latin letters carry at most 3 marks


def _compose_once(codes: tf.RaggedTensor) -> tf.RaggedTensor:
    """Merges each (letter, following mark) pair found in the table into one code point."""
    values, row_ids = codes.values, codes.value_rowids()
    # A sentinel after the last code point keeps every vector the length of `values`, also when a batch
    # holds no code point at all (all-empty strings): concatenating [0] to an empty slice would not.
    nxt = tf.concat([values, [0]], axis=0)[1:]
    same_row = tf.equal(tf.concat([row_ids, [-1]], axis=0)[1:], row_ids)
    keys = tf.bitwise.left_shift(tf.cast(values, tf.int64), _KEY_SHIFT) | tf.cast(nxt, tf.int64)
    keys_table = tf.constant(_KEYS)
    index = tf.minimum(tf.searchsorted(keys_table, keys), len(_KEYS) - 1)
    found = tf.logical_and(same_row, tf.equal(tf.gather(keys_table, index), keys))
    merged = tf.where(found, tf.gather(tf.constant(_VALUES), index), values)
    absorbed = tf.concat([[False], found], axis=0)[:-1]  # the mark now lives in the letter before it
    keep = tf.logical_not(absorbed)
    return tf.RaggedTensor.from_value_rowids(
        tf.boolean_mask(merged, keep), tf.boolean_mask(row_ids, keep), nrows=codes.nrows())


# One graph per input shape, reused by every model, trace and export that calls it: inlined, its ~900 ops
# (ragged decode, 3 rounds of table look-ups) took ~0.5 s to trace each time a text model was traced.
@tf.function(reduce_retracing=True)
def normalize_nfc(text: tf.Tensor) -> tf.Tensor:
    """NFC for Latin script (all of Vietnamese) in pure TF: "Vie\u0323\u0302t" -> "Việt". Any shape of tf.string."""
    text = tf.convert_to_tensor(text, dtype=tf.string)
    flat = tf.reshape(text, [-1])
    codes = tf.strings.unicode_decode(flat, "UTF-8", errors="replace")
    for _ in range(_MAX_MARKS):
        codes = _compose_once(codes)
    return tf.reshape(tf.strings.unicode_encode(codes, "UTF-8"), tf.shape(text))


def has_visible_text(text: str) -> bool:
    """False for text made only of spaces, control and format characters (zero-width space U+200B, joiner
    U+200D, word joiner U+2060, BOM): such a "review" or "sentence" is empty to a reader and to the tokenizer."""
    return any(unicodedata.category(char)[0] not in "ZC" for char in text)


# A token is a run of letters, digits and combining marks; anything else visible (punctuation, emoji,
# symbols) becomes a token of its own so "tốt!!" and "tốt" share the word "tốt".
_SEPARATE = r"([^\p{L}\p{N}\p{M}\s\p{Z}])"
_SPACES = r"[\s\p{Z}]+"


def standardize_text(text: tf.Tensor, lowercase: bool = True) -> tf.Tensor:
    """NFC, UTF-8 lowercasing that keeps diacritics, punctuation and emoji split off, single spaces.

    `lowercase=False` keeps the case: the same tokens, as written (lowercasing never adds or removes a
    space or a punctuation mark, so the two token lists align one to one).
    """
    text = normalize_nfc(text)
    # Invisible format characters are no tokens (the loaders drop text made only of them): a zero-width
    # space separates words, the others (joiners, BOM, soft hyphen, direction marks) vanish inside them.
    text = tf.strings.regex_replace(text, "\u200b", " ")
    text = tf.strings.regex_replace(text, r"\p{Cf}", "")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _SEPARATE, r" \1 ")
    text = tf.strings.regex_replace(text, _SPACES, " ")
    return tf.strings.strip(text)


def standardized(texts, batch: int = 4096, standardize=standardize_text) -> list[str]:
    """`standardize` (the model's `standardize_text` by default) applied to Python strings, so vocabularies and
    baselines see the model's own tokens."""
    texts, out = list(texts), []
    for start in range(0, len(texts), batch):
        out += [t.decode("utf-8") for t in standardize(tf.constant(texts[start:start + batch])).numpy()]
    return out
