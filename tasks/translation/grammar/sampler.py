"""The grammar's sampler: random sentence pairs, and the three splits with a compositional test split."""
from __future__ import annotations

import collections
import math
import random

from tasks.common.errors import ConfigError
from tasks.translation.grammar.rules import copula_sentence, verb_sentence, wh_question

# Combinations kept out of training. Each part occurs in training in other combinations.
HELD_OUT = frozenset({
    ("adjective", "red", "car"),
    ("adjective", "old", "dog"),
    ("adjective", "new", "phone"),
    ("adjective", "small", "house"),
    ("adjective", "black", "bird"),
    ("adjective", "cheap", "book"),
    ("object", "buy", "book"),
    ("object", "drink", "coffee"),
    ("object", "visit", "Hue"),
    ("object", "eat", "apple"),
    ("object", "read", "newspaper"),
    ("object", "love", "Japan"),
    ("object", "see", "buffalo"),
    ("determiner", "three", "cat"),
    ("determiner", "this", "bicycle"),
    ("determiner", "their", "house"),
    ("form", "she", "future_question"),
    ("form", "they", "past_negative"),
    ("form", "Minh", "progressive"),
    ("form", "we", "perfect_question"),
})

# The lesson's example is always in the training split, with and without the full stop.
LESSON_EXAMPLE = ("I love Vietnam", "Tôi yêu Việt Nam")


def sentence(rng: random.Random) -> tuple[str, str, frozenset]:
    """One random sentence pair with its capitalisation and punctuation."""
    roll = rng.random()
    if roll < 0.6:
        phrase = verb_sentence(rng)
    elif roll < 0.8:
        phrase = copula_sentence(rng)
    else:
        phrase = wh_question(rng)
    question = phrase.english[0] in ("Do", "Does", "Did", "Will", "Is", "Are", "Am", "Have", "Has", "What", "Who", "Where")
    english = " ".join(phrase.english)
    vietnamese = " ".join(phrase.vietnamese)
    english = english[0].upper() + english[1:]
    vietnamese = vietnamese[0].upper() + vietnamese[1:]
    if question:
        english, vietnamese = english + "?", vietnamese + "?"
    elif rng.random() < 0.5:  # statements come with and without a full stop, as users type them
        english, vietnamese = english + ".", vietnamese + "."
    return english, vietnamese, phrase.features


def generate_corpus(num_train: int, num_val: int, num_test: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Unique (english, vietnamese) pairs in three splits: "train", "val" (validation) and compositional "test".

    A sentence with any HELD_OUT combination goes to the test split, every other one to training or
    validation (drawn from the same distribution). Each held-out combination fills at most twice its
    fair share of the test split, so that the frequent ones ("read a newspaper") do not crowd out the
    rare ones ("three cats"). The lesson's example is always in training.
    """
    if num_train < 2 or num_val < 1 or num_test < 1:
        raise ConfigError(f"num_train must be >= 2, num_val and num_test >= 1, got {num_train}, {num_val}, {num_test}")
    rng = random.Random(seed)
    splits: dict[str, dict[str, str]] = {
        "train": {LESSON_EXAMPLE[0]: LESSON_EXAMPLE[1], LESSON_EXAMPLE[0] + ".": LESSON_EXAMPLE[1] + "."},
        "val": {},
        "test": {},
    }
    wanted = {"train": num_train, "val": num_val, "test": num_test}
    per_combination = collections.Counter()
    cap = math.ceil(2 * num_test / len(HELD_OUT))
    seen = set(splits["train"])
    for _ in range(200 * sum(wanted.values())):
        if all(len(splits[name]) >= count for name, count in wanted.items()):
            return {name: list(pairs.items()) for name, pairs in splits.items()}
        english, vietnamese, features = sentence(rng)
        if english in seen:
            continue
        held_out = sorted(features & HELD_OUT)
        if held_out:
            if len(splits["test"]) >= num_test or per_combination[held_out[0]] >= cap:
                continue
            per_combination[held_out[0]] += 1
            name = "test"
        else:  # one validation pair for every num_train / num_val training pairs
            name = "val" if rng.random() * (num_train + num_val) < num_val else "train"
            if len(splits[name]) >= wanted[name]:
                name = "train" if name == "val" else "val"
                if len(splits[name]) >= wanted[name]:
                    continue
        splits[name][english] = vietnamese
        seen.add(english)
    raise ConfigError(f"the grammar cannot produce {num_train} training, {num_val} validation and {num_test} "
                      f"test sentences")
