"""Tokens in and out of the graph: vocabularies, [START]/[END]/[UNK], and detokenization with truecasing.

Both sides are standardized by `tasks.common.text.standardize_text` (pure-TF NFC, lowercasing that keeps
diacritics, punctuation split off) and split on spaces, so English comes out as words and Vietnamese as
syllables ("Việt Nam" -> "việt", "nam"), whatever the input's Unicode form.

Case: the target vocabulary is lowercase and the output is truecased afterwards, instead of keeping case
in the vocabulary. Vietnamese capitalises the first word of a sentence and proper nouns only, so a cased
vocabulary would hold "Tôi" and "tôi" as two tokens whose statistics the model must learn twice, from
few examples each. A truecasing table learned from the training targets (the form each syllable most
often takes when it does not start a sentence) restores "Việt Nam", and the first letter of each
sentence is capitalised by rule: "tôi yêu việt nam" -> "Tôi yêu Việt Nam".
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Sequence

import tensorflow as tf

from tasks.common.text import normalize_nfc, standardize_text

RESERVED_TOKENS = ("", "[UNK]", "[START]", "[END]")  # ids 0..3; "" is padding
PAD_ID, UNK_ID, START_ID, END_ID = range(len(RESERVED_TOKENS))
SENTENCE_ENDS = (".", "!", "?")
_TOKENIZE_BATCH = 4096


def split_tokens(texts: tf.Tensor, lowercase: bool = True) -> tf.RaggedTensor:
    """(B,) raw strings -> (B, None) standardized tokens (`lowercase=False`: the same tokens, as written)."""
    return tf.strings.split(standardize_text(texts, lowercase))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Python lists of the tokens the graph sees, for vocabularies and length filters."""
    result = []
    for start in range(0, len(texts), _TOKENIZE_BATCH):
        batch = split_tokens(tf.constant(list(texts[start:start + _TOKENIZE_BATCH]), tf.string))
        result.extend([token.decode("utf-8") for token in row] for row in batch.to_list())
    return result


def build_vocabulary(token_lists: Iterable[Sequence[str]], max_size: int, min_frequency: int = 1) -> list[str]:
    """RESERVED_TOKENS, then the most frequent tokens (ties alphabetical), `max_size` in all.

    Tokens seen fewer than `min_frequency` times are left out: they read as [UNK], so the model learns what
    to do with a word it does not know (copy it, through attention) from the training pairs themselves.
    """
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    for reserved in RESERVED_TOKENS:
        counts.pop(reserved, None)
    ranked = sorted((token for token in counts if counts[token] >= min_frequency),
                    key=lambda token: (-counts[token], token))
    return list(RESERVED_TOKENS) + ranked[: max_size - len(RESERVED_TOKENS)]


def cased_tokens(texts: Sequence[str], token_lists: Sequence[Sequence[str]]) -> list[list[str] | None]:
    """The original-case spelling of each standardized token, or None where it cannot be aligned.

    Standardization only lowercases and inserts spaces (after NFC), so the non-space characters of
    the NFC text, lowercased, are those of the tokens; cutting them at the token lengths gives each
    token's cased form. A text where that does not hold (a letter whose lowercase has another length)
    is left out.
    """
    result = []
    for start in range(0, len(texts), _TOKENIZE_BATCH):
        chunk = list(texts[start:start + _TOKENIZE_BATCH])
        nfc = [t.decode("utf-8") for t in normalize_nfc(tf.constant(chunk, tf.string)).numpy()]
        for text, tokens in zip(nfc, token_lists[start:start + len(chunk)]):
            letters = "".join(text.split())
            cased, position = [], 0
            for token in tokens:
                cased.append(letters[position:position + len(token)])
                position += len(token)
            aligned = position == len(letters) and all(c.lower() == t for c, t in zip(cased, tokens))
            result.append(cased if aligned else None)
    return result


def learn_truecasing(texts: Sequence[str], token_lists: Sequence[Sequence[str]]) -> dict[str, str]:
    """lowercase token -> its most frequent spelling inside sentences, where that is not all lowercase."""
    spellings: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for tokens, cased in zip(token_lists, cased_tokens(texts, token_lists)):
        if cased is None:
            continue
        for position, (token, spelling) in enumerate(zip(tokens, cased)):
            if position > 0 and tokens[position - 1] not in SENTENCE_ENDS:
                spellings[token][spelling] += 1
    table = {}
    for token, counts in spellings.items():
        spelling, _ = max(counts.items(), key=lambda item: (item[1], item[0] == token))
        if spelling != token:
            table[token] = spelling
    return dict(sorted(table.items()))


@dataclasses.dataclass
class Vocabularies:
    """What the training split teaches the graph about tokens."""

    source: "Vocabulary"  # English words
    target: "Vocabulary"  # Vietnamese syllables
    truecasing: dict[str, str]  # lowercase syllable -> its cased spelling ("việt" -> "Việt")


def fit_vocabularies(english: Sequence[str], vietnamese: Sequence[str], source_size: int,
                     target_size: int, min_frequency: int = 1) -> Vocabularies:
    """Vocabularies of the most frequent tokens of the training pairs, and the truecasing table."""
    target_tokens = tokenize(vietnamese)
    source = build_vocabulary(tokenize(english), source_size, min_frequency)
    target = build_vocabulary(target_tokens, target_size, min_frequency)
    return Vocabularies(source=Vocabulary(source, name="source_vocabulary"),
                        target=Vocabulary(target, name="target_vocabulary"),
                        truecasing=learn_truecasing(vietnamese, target_tokens))


class Vocabulary(tf.Module):
    """token <-> id lookups that live in the SavedModel; unknown tokens map to [UNK]."""

    def __init__(self, tokens: Sequence[str], name: str | None = None):
        super().__init__(name=name)
        if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(f"a vocabulary must start with {RESERVED_TOKENS}, got {tuple(tokens[:4])}")
        self.tokens = list(tokens)
        self._strings = tf.constant(self.tokens, tf.string)
        self._ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self._strings, tf.range(len(self.tokens), dtype=tf.int64)),
            default_value=UNK_ID)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(B,) raw strings -> (B, None) int32 ids."""
        return tf.cast(tf.ragged.map_flat_values(self._ids.lookup, split_tokens(texts)), tf.int32)

    def token_strings(self, ids) -> tf.Tensor:
        """ids of any shape (dense or ragged) -> the same shape of token strings."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self.token_strings, ids)
        return tf.gather(self._strings, ids)


class Detokenizer(tf.Module):
    """Decoder ids -> text: cut at [END], truecase, capitalise sentence starts, reattach punctuation."""

    def __init__(self, vocabulary: Vocabulary, truecasing: dict[str, str], name: str | None = None):
        super().__init__(name=name)
        self.vocabulary = vocabulary
        self.truecasing = dict(truecasing)
        keys = [""] + list(self.truecasing)  # "" keeps the table non-empty; it maps to "" = "no entry"
        values = [""] + list(self.truecasing.values())
        self._cased = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values)), default_value="")

    def __call__(self, ids: tf.Tensor, unknown_words: tf.Tensor | None = None) -> tf.Tensor:
        """(B, L) int32 ids (padded with 0 or anything after [END]) -> (B,) strings.

        `unknown_words` (B, L) strings, if given, are written where the ids say [UNK].
        """
        keep = tf.logical_and(tf.equal(tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1), 0),
                              tf.not_equal(ids, PAD_ID))
        tokens = self.vocabulary.token_strings(ids)  # (B, L)
        if unknown_words is not None:
            tokens = tf.where(tf.equal(ids, UNK_ID), unknown_words, tokens)
        return self.join(tf.ragged.boolean_mask(tokens, keep))  # (B, None)

    def join(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        """(B, None) lowercase tokens -> (B,) sentences."""
        flat = tokens.flat_values
        cased = self._cased.lookup(flat)
        flat = tf.where(tf.equal(cased, ""), flat, cased)
        positions = tf.ragged.range(tokens.row_lengths()).flat_values
        previous = tf.concat([[""], flat[:-1]], axis=0)
        after_end = tf.reduce_any(tf.equal(previous[:, None], tf.constant(SENTENCE_ENDS)[None, :]), axis=1)
        starts = tf.logical_or(tf.equal(positions, 0), after_end)
        flat = tf.where(starts, capitalize(flat), flat)
        text = tf.strings.reduce_join(tokens.with_flat_values(flat), axis=1, separator=" ")
        return attach_punctuation(text)


def capitalize(words: tf.Tensor) -> tf.Tensor:
    """Upper-cases the first character (UTF-8 aware): "việt" -> "Việt", "đã" -> "Đã"."""
    first = tf.strings.substr(words, 0, 1, unit="UTF8_CHAR")
    start = tf.strings.length(first)  # in bytes: "" has no character 1 to start from
    rest = tf.strings.substr(words, start, tf.fill(tf.shape(start), tf.int32.max))
    return tf.strings.join([tf.strings.upper(first, encoding="utf-8"), rest])


def attach_punctuation(text: tf.Tensor) -> tf.Tensor:
    """Undoes standardization's spaces around punctuation: "nam ." -> "nam.", "3 . 5" -> "3.5", "( a )" -> "(a)"."""
    text = tf.strings.regex_replace(text, r"(\p{N}) ([.,:]) (\p{N})", r"\1\2\3")
    text = tf.strings.regex_replace(text, r"(\p{L}) ' (\p{L})", r"\1'\2")
    text = tf.strings.regex_replace(text, r" ([.,!?;:%…)\]}»”’])", r"\1")
    return tf.strings.regex_replace(text, r"([(\[{«“‘]) ", r"\1")
