"""A small English -> Vietnamese grammar that generates the built-in parallel corpus.

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

from __future__ import annotations

import collections
import dataclasses
import math
import random
from pathlib import Path
from typing import NamedTuple

from tasks.common.errors import ConfigError
from tasks.common.files import write_generated


class Phrase(NamedTuple):
    """Aligned English and Vietnamese words plus the combinations the phrase contains."""

    english: tuple[str, ...]
    vietnamese: tuple[str, ...]
    features: frozenset[tuple[str, str, str]]


@dataclasses.dataclass(frozen=True)
class Subject:
    english: str
    object_form: str  # English object pronoun ("me"), or the same words for names
    possessive: str  # English possessive determiner ("my"); "" for names
    vietnamese: str
    person: str  # "1sg", "2", "3sg", "1pl", "3pl": drives English agreement


@dataclasses.dataclass(frozen=True)
class Noun:
    english: str
    plural: str
    vietnamese: str
    classifier: str  # "" for mass nouns
    kind: str  # animal, thing, clothes, vehicle, food, fruit, drink, readable


@dataclasses.dataclass(frozen=True)
class Verb:
    base: str
    third: str
    past: str
    participle: str
    ing: str
    vietnamese: str
    objects: tuple[str, ...]  # noun kinds and "place" / "person" it takes
    progressive: bool = True  # "I am loving Vietnam" is not taught
    perfect: bool = True  # nor "I have already known Lan"
    questions: bool = True  # "Do you have ...?" would need "có" twice in Vietnamese


PRONOUNS = (
    Subject("I", "me", "my", "tôi", "1sg"),
    Subject("you", "you", "your", "bạn", "2"),
    Subject("he", "him", "his", "anh ấy", "3sg"),
    Subject("she", "her", "her", "cô ấy", "3sg"),
    Subject("we", "us", "our", "chúng tôi", "1pl"),
    Subject("they", "them", "their", "họ", "3pl"),
)
OTHER_SUBJECTS = (
    Subject("Lan", "Lan", "", "Lan", "3sg"),
    Subject("Minh", "Minh", "", "Minh", "3sg"),
    Subject("my mother", "my mother", "", "mẹ tôi", "3sg"),
    Subject("my father", "my father", "", "bố tôi", "3sg"),
    Subject("the teacher", "the teacher", "", "giáo viên", "3sg"),
)
SUBJECTS = PRONOUNS + OTHER_SUBJECTS

PLACES = {
    "Vietnam": "Việt Nam",
    "Hanoi": "Hà Nội",
    "Saigon": "Sài Gòn",
    "Hue": "Huế",
    "Da Nang": "Đà Nẵng",
    "Japan": "Nhật Bản",
    "France": "Pháp",
    "China": "Trung Quốc",
}
LOCATIONS = {  # "at ..." complements of live / work / study; places are added below
    "at home": "ở nhà",
    "at school": "ở trường",
    "at the market": "ở chợ",
    "at the hospital": "ở bệnh viện",
}
PROFESSIONS = {  # singular, plural, Vietnamese (no article, no classifier after "là")
    "teacher": ("teachers", "giáo viên"),
    "doctor": ("doctors", "bác sĩ"),
    "student": ("students", "sinh viên"),
    "farmer": ("farmers", "nông dân"),
    "engineer": ("engineers", "kỹ sư"),
    "singer": ("singers", "ca sĩ"),
}

NOUNS = (
    Noun("cat", "cats", "mèo", "con", "animal"),
    Noun("dog", "dogs", "chó", "con", "animal"),
    Noun("bird", "birds", "chim", "con", "animal"),
    Noun("buffalo", "buffaloes", "trâu", "con", "animal"),
    Noun("book", "books", "sách", "quyển", "readable"),
    Noun("newspaper", "newspapers", "báo", "tờ", "readable"),
    Noun("letter", "letters", "thư", "lá", "readable"),
    Noun("car", "cars", "xe hơi", "chiếc", "vehicle"),
    Noun("bicycle", "bicycles", "xe đạp", "chiếc", "vehicle"),
    Noun("house", "houses", "nhà", "ngôi", "thing"),
    Noun("table", "tables", "bàn", "cái", "thing"),
    Noun("pen", "pens", "bút", "cái", "thing"),
    Noun("phone", "phones", "điện thoại", "chiếc", "thing"),
    Noun("shirt", "shirts", "áo", "cái", "clothes"),
    Noun("hat", "hats", "mũ", "cái", "clothes"),
    Noun("apple", "apples", "táo", "quả", "fruit"),
    Noun("banana", "bananas", "chuối", "quả", "fruit"),
    Noun("egg", "eggs", "trứng", "quả", "fruit"),
    Noun("rice", "rice", "cơm", "", "food"),
    Noun("bread", "bread", "bánh mì", "", "food"),
    Noun("fish", "fish", "cá", "", "food"),
    Noun("pho", "pho", "phở", "", "food"),
    Noun("chicken", "chicken", "thịt gà", "", "food"),
    Noun("water", "water", "nước", "", "drink"),
    Noun("tea", "tea", "trà", "", "drink"),
    Noun("coffee", "coffee", "cà phê", "", "drink"),
    Noun("milk", "milk", "sữa", "", "drink"),
    Noun("beer", "beer", "bia", "", "drink"),
)
NOUNS_BY_NAME = {noun.english: noun for noun in NOUNS}
COUNT_KINDS = ("animal", "readable", "vehicle", "thing", "clothes", "fruit")

# English adjective -> Vietnamese by noun kind; a kind that is missing does not take the adjective.
ADJECTIVES = {
    "big": dict.fromkeys(("animal", "vehicle", "thing", "clothes", "fruit"), "to"),
    "small": dict.fromkeys(("animal", "vehicle", "thing", "clothes", "fruit"), "nhỏ"),
    "new": dict.fromkeys(("readable", "vehicle", "thing", "clothes"), "mới"),
    "old": {**dict.fromkeys(("readable", "vehicle", "thing", "clothes"), "cũ"), "animal": "già"},
    "beautiful": dict.fromkeys(("animal", "vehicle", "thing", "clothes"), "đẹp"),
    "red": dict.fromkeys(("animal", "vehicle", "thing", "clothes", "fruit"), "đỏ"),
    "black": dict.fromkeys(("animal", "vehicle", "thing", "clothes"), "đen"),
    "white": dict.fromkeys(("animal", "vehicle", "thing", "clothes"), "trắng"),
    "expensive": dict.fromkeys(("readable", "vehicle", "thing", "clothes", "fruit"), "đắt"),
    "cheap": dict.fromkeys(("readable", "vehicle", "thing", "clothes", "fruit"), "rẻ"),
    "hot": dict.fromkeys(("drink", "food"), "nóng"),
    "cold": dict.fromkeys(("drink", "food"), "lạnh"),
}
NUMBERS = {"two": "hai", "three": "ba", "four": "bốn", "five": "năm"}

_COUNT = ("animal", "readable", "vehicle", "thing", "clothes", "fruit")
STATIVE = {"progressive": False, "perfect": False}
VERBS = (
    Verb("love", "loves", "loved", "loved", "loving", "yêu", ("place", "person", "animal"), **STATIVE),
    Verb("like", "likes", "liked", "liked", "liking", "thích", ("place", "person") + _COUNT + ("food", "drink"), **STATIVE),
    Verb("see", "sees", "saw", "seen", "seeing", "thấy", ("person",) + _COUNT, progressive=False),
    Verb("know", "knows", "knew", "known", "knowing", "biết", ("person", "place"), **STATIVE),
    Verb("want", "wants", "wanted", "wanted", "wanting", "muốn", _COUNT + ("food", "drink"), **STATIVE),
    Verb("need", "needs", "needed", "needed", "needing", "cần", _COUNT + ("food", "drink"), **STATIVE),
    Verb("have", "has", "had", "had", "having", "có", ("animal", "readable", "vehicle", "thing", "clothes"), **STATIVE, questions=False),
    Verb("eat", "eats", "ate", "eaten", "eating", "ăn", ("food", "fruit")),
    Verb("drink", "drinks", "drank", "drunk", "drinking", "uống", ("drink",)),
    Verb("cook", "cooks", "cooked", "cooked", "cooking", "nấu", ("food",)),
    Verb("buy", "buys", "bought", "bought", "buying", "mua", _COUNT + ("food", "drink")),
    Verb("sell", "sells", "sold", "sold", "selling", "bán", _COUNT + ("food", "drink")),
    Verb("read", "reads", "read", "read", "reading", "đọc", ("readable",)),
    Verb("write", "writes", "wrote", "written", "writing", "viết", ("readable",)),
    Verb("visit", "visits", "visited", "visited", "visiting", "thăm", ("place", "person")),
    Verb("wash", "washes", "washed", "washed", "washing", "rửa", ("vehicle", "thing")),
    Verb("clean", "cleans", "cleaned", "cleaned", "cleaning", "lau", ("thing",)),
)
INTRANSITIVE = (  # verbs that take a location: "I live in Hanoi" -> "Tôi sống ở Hà Nội"
    Verb("live", "lives", "lived", "lived", "living", "sống", ("location",)),
    Verb("work", "works", "worked", "worked", "working", "làm việc", ("location",)),
    Verb("study", "studies", "studied", "studied", "studying", "học", ("location",)),
)
VERBS_BY_NAME = {verb.base: verb for verb in VERBS + INTRANSITIVE}

# Verb forms: the tense/aspect/polarity/mood of a clause. Time adverbs fit some of them.
VERB_FORMS = (
    "present", "past", "progressive", "future",
    "present_negative", "past_negative", "future_negative", "perfect_negative",
    "perfect", "present_question", "past_question", "future_question",
    "progressive_question", "perfect_question",
)
TIME_ADVERBS = {
    "present": ("every day", "mỗi ngày"),
    "present_negative": ("every day", "mỗi ngày"),
    "past": ("yesterday", "hôm qua"),
    "past_negative": ("yesterday", "hôm qua"),
    "progressive": ("now", "bây giờ"),
    "future": ("tomorrow", "ngày mai"),
    "future_negative": ("tomorrow", "ngày mai"),
}

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


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


SINGULAR_DETERMINERS = ("a", "the", "this", "that", "my", "your", "his", "her", "our", "their")
PLURAL_DETERMINERS = ("these", "those", "the_plural") + tuple(NUMBERS)
MASS_DETERMINERS = ("", "", "", "this", "that", "my", "your", "his", "her", "our", "their")


def noun_phrase(
    rng: random.Random,
    noun: Noun,
    determiners: tuple[str, ...] = SINGULAR_DETERMINERS + PLURAL_DETERMINERS,
    adjective_probability: float = 0.4,
) -> tuple[Phrase, bool]:
    """A determiner + adjective + noun phrase; returns the phrase and whether it is plural.

    Vietnamese order: (number | "một" | "những") + classifier + noun + adjective + (demonstrative | "của" owner).
    """
    adjectives = [name for name, by_kind in ADJECTIVES.items() if noun.kind in by_kind]
    adjective = rng.choice(adjectives) if adjectives and rng.random() < adjective_probability else None
    features = set()
    en_adjective: tuple[str, ...] = ()
    vi_adjective: tuple[str, ...] = ()
    if adjective:
        en_adjective, vi_adjective = (adjective,), _words(ADJECTIVES[adjective][noun.kind])
        features.add(("adjective", adjective, noun.english))
    vi_noun = _words(noun.vietnamese)
    if not noun.classifier:  # mass noun: bare, or with a demonstrative / possessive
        determiner = rng.choice(MASS_DETERMINERS)
        en, vi = en_adjective + (noun.english,), vi_noun + vi_adjective
        if determiner:
            features.add(("determiner", determiner, noun.english))
            en, vi = (determiner,) + en, vi + _possessive_or_demonstrative(determiner)
        return Phrase(en, vi, frozenset(features)), False
    determiner = rng.choice(determiners)
    features.add(("determiner", determiner.replace("_plural", ""), noun.english))
    features = frozenset(features)
    core_vi = (noun.classifier,) + vi_noun + vi_adjective  # "con mèo to"
    singular_en, plural_en = en_adjective + (noun.english,), en_adjective + (noun.plural,)
    if determiner == "a":
        return Phrase((_a_or_an(singular_en[0]),) + singular_en, ("một",) + core_vi, features), False
    if determiner == "the":
        return Phrase(("the",) + singular_en, core_vi, features), False
    if determiner == "the_plural":
        return Phrase(("the",) + plural_en, ("những",) + core_vi, features), True
    if determiner in NUMBERS:
        return Phrase((determiner,) + plural_en, (NUMBERS[determiner],) + core_vi, features), True
    if determiner in ("these", "those"):
        demonstrative = "này" if determiner == "these" else "đó"
        return Phrase((determiner,) + plural_en, ("những",) + core_vi + (demonstrative,), features), True
    return Phrase((determiner,) + singular_en, core_vi + _possessive_or_demonstrative(determiner), features), False


def _possessive_or_demonstrative(determiner: str) -> tuple[str, ...]:
    if determiner == "this":
        return ("này",)
    if determiner == "that":
        return ("đó",)
    owner = next(p for p in PRONOUNS if p.possessive == determiner)
    return ("của",) + _words(owner.vietnamese)


def object_phrase(rng: random.Random, verb: Verb, subject: Subject | None = None) -> tuple[Phrase, str]:
    """An object the verb takes (never the subject itself); returns the phrase and its head word."""
    kind = rng.choice(verb.objects)
    if kind == "place":
        head = rng.choice(sorted(PLACES))
        return Phrase(_words(head), _words(PLACES[head]), frozenset()), head
    if kind == "location":
        options = {**LOCATIONS, **{f"in {place}": f"ở {vi}" for place, vi in PLACES.items()}}
        head = rng.choice(sorted(options))
        return Phrase(_words(head), _words(options[head]), frozenset()), head.split(" ", 1)[1]
    if kind == "person":
        person = rng.choice([other for other in SUBJECTS if other != subject])
        return Phrase(_words(person.object_form), _words(person.vietnamese), frozenset()), person.english
    noun = rng.choice([noun for noun in NOUNS if noun.kind == kind])
    phrase, _ = noun_phrase(rng, noun)
    return phrase, noun.english


def _agree(person: str, singular_third: str, first: str, other: str) -> str:
    if person == "3sg":
        return singular_third
    return first if person == "1sg" else other


def clause(rng: random.Random, subject: Subject, verb: Verb, form: str, obj: Phrase) -> Phrase:
    """Subject + verb phrase in one of VERB_FORMS; returns words without final punctuation."""
    s_en, s_vi, o_en, o_vi, v_vi = _words(subject.english), _words(subject.vietnamese), obj.english, obj.vietnamese, _words(verb.vietnamese)
    p = subject.person
    do = "does" if p == "3sg" else "do"
    have = "has" if p == "3sg" else "have"
    be = _agree(p, "is", "am", "are")
    if form == "present":
        en, vi = s_en + (verb.third if p == "3sg" else verb.base,) + o_en, s_vi + v_vi + o_vi
    elif form == "past":
        en, vi = s_en + (verb.past,) + o_en, s_vi + ("đã",) + v_vi + o_vi
    elif form == "progressive":
        en, vi = s_en + (be, verb.ing) + o_en, s_vi + ("đang",) + v_vi + o_vi
    elif form == "future":
        en, vi = s_en + ("will", verb.base) + o_en, s_vi + ("sẽ",) + v_vi + o_vi
    elif form == "present_negative":
        en, vi = s_en + (do, "not", verb.base) + o_en, s_vi + ("không",) + v_vi + o_vi
    elif form == "past_negative":
        en, vi = s_en + ("did", "not", verb.base) + o_en, s_vi + ("đã", "không") + v_vi + o_vi
    elif form == "future_negative":
        en, vi = s_en + ("will", "not", verb.base) + o_en, s_vi + ("sẽ", "không") + v_vi + o_vi
    elif form == "perfect":
        en, vi = s_en + (have, "already", verb.participle) + o_en, s_vi + ("đã",) + v_vi + o_vi + ("rồi",)
    elif form == "perfect_negative":
        en, vi = s_en + (have, "not", verb.participle) + o_en + ("yet",), s_vi + ("chưa",) + v_vi + o_vi
    elif form == "present_question":
        en, vi = (do.capitalize(),) + s_en + (verb.base,) + o_en, s_vi + ("có",) + v_vi + o_vi + ("không",)
    elif form == "past_question":
        en, vi = ("Did",) + s_en + (verb.base,) + o_en, s_vi + ("có",) + v_vi + o_vi + ("không",)
    elif form == "future_question":
        en, vi = ("Will",) + s_en + (verb.base,) + o_en, s_vi + ("sẽ",) + v_vi + o_vi + ("không",)
    elif form == "progressive_question":
        en, vi = (be.capitalize(),) + s_en + (verb.ing,) + o_en, s_vi + ("có", "đang") + v_vi + o_vi + ("không",)
    elif form == "perfect_question":
        en, vi = (have.capitalize(),) + s_en + (verb.participle,) + o_en + ("yet",), s_vi + ("đã",) + v_vi + o_vi + ("chưa",)
    else:
        raise ValueError(f"form must be one of {VERB_FORMS}, got {form!r}")
    return Phrase(en, vi, obj.features | {("form", subject.english, form)})


def _allowed_forms(subject: Subject, verb: Verb) -> list[str]:
    forms = [
        form
        for form in VERB_FORMS
        if (verb.progressive or "progressive" not in form)
        and (verb.perfect or "perfect" not in form)
        and (verb.questions or "question" not in form)
    ]
    if verb.past == verb.base and subject.person != "3sg":
        forms.remove("past")  # "I read the book" would be present and past at once
    return forms


def verb_sentence(rng: random.Random) -> Phrase:
    """A transitive or locative clause, sometimes with a time adverb."""
    verb = rng.choice(VERBS * 2 + INTRANSITIVE * 4)  # weighs the few locative verbs up
    subject = rng.choice(SUBJECTS)
    form = rng.choice(_allowed_forms(subject, verb))
    obj, head = object_phrase(rng, verb, subject)
    phrase = clause(rng, subject, verb, form, obj)
    phrase = phrase._replace(features=phrase.features | {("object", verb.base, head)})
    if form in TIME_ADVERBS and rng.random() < 0.25:
        en_time, vi_time = TIME_ADVERBS[form]
        phrase = phrase._replace(english=phrase.english + _words(en_time), vietnamese=phrase.vietnamese + _words(vi_time))
    return phrase


def wh_question(rng: random.Random) -> Phrase:
    """What / who / where questions; the Vietnamese wh-word stays where the answer would be."""
    kind = rng.choice(("what", "who_object", "who_subject", "where"))
    form = rng.choice(("present", "past", "future", "progressive"))
    subject = rng.choice(SUBJECTS)
    if kind == "who_subject":
        verb = rng.choice(VERBS)
        if not verb.progressive and form == "progressive":
            form = "present"
        obj, head = object_phrase(rng, verb)
        who = Subject("who", "whom", "", "ai", "3sg")
        phrase = clause(rng, who, verb, form, obj)
        english = ("Who",) + phrase.english[1:]
        return Phrase(english, phrase.vietnamese, phrase.features | {("object", verb.base, head)})
    if kind == "what":
        verb = rng.choice([v for v in VERBS if "person" not in v.objects and "place" not in v.objects])
        wh_en, wh_vi = "What", ("gì",)
    elif kind == "who_object":
        verb = rng.choice([v for v in VERBS if "person" in v.objects])
        wh_en, wh_vi = "Who", ("ai",)
    else:
        verb = rng.choice(INTRANSITIVE)
        wh_en, wh_vi = "Where", ("ở", "đâu")
    if not verb.progressive and form == "progressive":
        form = "present"
    p = subject.person
    s_en, s_vi, v_vi = _words(subject.english), _words(subject.vietnamese), _words(verb.vietnamese)
    if form == "present":
        en, vi = (wh_en, "does" if p == "3sg" else "do") + s_en + (verb.base,), s_vi + v_vi + wh_vi
    elif form == "past":
        en, vi = (wh_en, "did") + s_en + (verb.base,), s_vi + ("đã",) + v_vi + wh_vi
    elif form == "future":
        en, vi = (wh_en, "will") + s_en + (verb.base,), s_vi + ("sẽ",) + v_vi + wh_vi
    else:
        en, vi = (wh_en, _agree(p, "is", "am", "are")) + s_en + (verb.ing,), s_vi + ("đang",) + v_vi + wh_vi
    return Phrase(en, vi, frozenset({("form", subject.english, f"{kind}_{form}")}))


def copula_sentence(rng: random.Random) -> Phrase:
    """'X is (not) ADJ' -> no copula in Vietnamese; 'X is (not) a N' -> 'là' / 'không phải là'."""
    polarity = rng.choice(("affirmative", "negative", "question"))
    if rng.random() < 0.5:  # adjective predicate on a noun phrase
        noun = rng.choice([n for n in NOUNS if n.classifier])
        adjective = rng.choice([name for name, by_kind in ADJECTIVES.items() if noun.kind in by_kind])
        determiners = ("the", "this", "that", "my", "your", "his", "her", "our", "their", "these", "those", "the_plural")
        np, plural = noun_phrase(rng, noun, determiners, adjective_probability=0.0)  # "A cat is big" is not idiomatic
        be = "are" if plural else "is"
        very = rng.random() < 0.3 and polarity != "question"
        vi_adjective = _words(ADJECTIVES[adjective][noun.kind])
        if polarity == "affirmative":
            very_en, very_vi = (("very",), ("rất",)) if very else ((), ())
            en, vi = np.english + (be,) + very_en + (adjective,), np.vietnamese + very_vi + vi_adjective
        elif polarity == "negative":  # "not very big" -> "không to lắm"
            very_en, very_vi = (("very",), ("lắm",)) if very else ((), ())
            en, vi = np.english + (be, "not") + very_en + (adjective,), np.vietnamese + ("không",) + vi_adjective + very_vi
        else:
            en, vi = (be.capitalize(),) + np.english + (adjective,), np.vietnamese + ("có",) + vi_adjective + ("không",)
        return Phrase(en, vi, np.features | {("adjective", adjective, noun.english)})
    subject = rng.choice(SUBJECTS)
    profession = rng.choice(sorted(PROFESSIONS))
    plural_form, vi_profession = PROFESSIONS[profession]
    plural = subject.person in ("1pl", "3pl")
    be = _agree(subject.person, "is", "am", "are")
    predicate_en = (plural_form,) if plural else (_a_or_an(profession), profession)
    s_en, s_vi = _words(subject.english), _words(subject.vietnamese)
    if polarity == "affirmative":
        en, vi = s_en + (be,) + predicate_en, s_vi + ("là",) + _words(vi_profession)
    elif polarity == "negative":
        en, vi = s_en + (be, "not") + predicate_en, s_vi + ("không", "phải", "là") + _words(vi_profession)
    else:
        en, vi = (be.capitalize(),) + s_en + predicate_en, s_vi + ("có", "phải", "là") + _words(vi_profession) + ("không",)
    return Phrase(en, vi, frozenset({("form", subject.english, f"copula_{polarity}")}))


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
    """Unique (english, vietnamese) pairs in three splits: train, validation and compositional test.

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
        "validation": {},
        "test": {},
    }
    wanted = {"train": num_train, "validation": num_val, "test": num_test}
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
            name = "validation" if rng.random() * (num_train + num_val) < num_val else "train"
            if len(splits[name]) >= wanted[name]:
                name = "train" if name == "validation" else "validation"
                if len(splits[name]) >= wanted[name]:
                    continue
        splits[name][english] = vietnamese
        seen.add(english)
    raise ConfigError(f"the grammar cannot produce {num_train} training, {num_val} validation and {num_test} "
                      f"test sentences")


SPLIT_FILES = {"train": "train.tsv", "validation": "valid.tsv", "test": "test.tsv"}


def write_corpus(directory, num_train: int, num_val: int, num_test: int, seed: int) -> dict[str, Path]:
    """Writes train.tsv, valid.tsv and test.tsv (english<TAB>vietnamese, no header); returns split -> path.

    The files depend only on the arguments; an existing file with the same content is left untouched,
    and a new one is written beside it and renamed into place, so readers never see half a file. A file
    the generator did not write (a user's train.tsv) is never replaced: that is a DataError.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, pairs in generate_corpus(num_train, num_val, num_test, seed).items():
        path = directory / SPLIT_FILES[split]
        text = "".join(f"{english}\t{vietnamese}\n" for english, vietnamese in pairs)
        paths[split] = write_generated(path, text)  # never replaces a train.tsv the user put there
    return paths
