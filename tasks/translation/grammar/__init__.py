"""A small English -> Vietnamese grammar that generates the built-in parallel corpus.

lexicon.py holds the words, rules.py the rules that arrange them, sampler.py draws sentences and splits
them, files.py writes the splits as TSV files.

Every sentence is built from the same slots on both sides, so the pair is an exact translation.
The grammar covers the structures a learner meets first in Vietnamese:

- pronouns and names ("he" -> "anh ấy", "they" -> "họ", "Lan" -> "Lan");
- classifiers between number and noun ("two cats" -> "hai con mèo", "a book" -> "một quyển sách");
- adjectives, demonstratives and possessives after the noun ("my old car" -> "chiếc xe hơi cũ của tôi"),
  and adjective choice by noun ("old" is "cũ" for things but "già" for animals);
- no copula before adjectives ("the cat is big" -> "con mèo to"), "là" before nouns;
- negation with "không" ("không phải là" before nouns, "chưa" for "not ... yet");
- tense and aspect markers "đã", "đang", "sẽ", "rồi";
- questions "có ... không?", "sẽ ... không?", "đã ... chưa?", "có phải là ... không?" and
  wh-words left in place ("What do you eat?" -> "Bạn ăn gì?").

`generate_corpus` keeps a compositional test split: a set of word combinations (an adjective with a
noun, a verb with an object, a determiner with a noun, a subject with a sentence form) never occurs in
the training split, while every word of the test split does.
"""
from tasks.translation.grammar.files import SPLIT_FILES, write_corpus
from tasks.translation.grammar.lexicon import (ADJECTIVES, NOUNS, NOUNS_BY_NAME, SUBJECTS, VERBS, VERBS_BY_NAME,
                                               Noun, Subject, Verb)
from tasks.translation.grammar.rules import VERB_FORMS, Phrase, clause, noun_phrase
from tasks.translation.grammar.sampler import HELD_OUT, LESSON_EXAMPLE, generate_corpus, sentence

__all__ = ["ADJECTIVES", "HELD_OUT", "LESSON_EXAMPLE", "NOUNS", "NOUNS_BY_NAME", "SPLIT_FILES", "SUBJECTS",
           "VERBS", "VERBS_BY_NAME", "VERB_FORMS", "Noun", "Phrase", "Subject", "Verb", "clause",
           "generate_corpus", "noun_phrase", "sentence", "write_corpus"]
