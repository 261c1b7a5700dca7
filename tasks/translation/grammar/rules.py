"""The grammar's rules: noun phrases, objects, clauses in every verb form, questions and copula sentences.

Every rule builds both languages from the same slots, so a phrase is an exact translation, and records the
combinations it contains (adjective + noun, verb + object, ...) for the compositional test split.
"""
from __future__ import annotations

import random
from typing import NamedTuple

from tasks.translation.grammar.lexicon import (ADJECTIVES, INTRANSITIVE, LOCATIONS, MASS_DETERMINERS, NOUNS,
                                               NUMBERS, PLACES, PLURAL_DETERMINERS, PROFESSIONS, PRONOUNS,
                                               SINGULAR_DETERMINERS, SUBJECTS, VERBS, Noun, Subject, Verb)


class Phrase(NamedTuple):
    """Aligned English and Vietnamese words plus the combinations the phrase contains."""

    english: tuple[str, ...]
    vietnamese: tuple[str, ...]
    features: frozenset[tuple[str, str, str]]


# Verb forms: the tense/aspect/polarity/mood of a clause, each as its English word order (<slot>s filled by
# `clause`, other words literal) and the Vietnamese markers before the verb and after the object. Vietnamese
# keeps subject-verb-object order in every form; English moves auxiliaries to the front in questions.
CLAUSES = {
    "present": ("<S> <present> <O>", ((), ())),
    "past": ("<S> <past> <O>", (("đã",), ())),
    "progressive": ("<S> <be> <ing> <O>", (("đang",), ())),
    "future": ("<S> will <base> <O>", (("sẽ",), ())),
    "present_negative": ("<S> <do> not <base> <O>", (("không",), ())),
    "past_negative": ("<S> did not <base> <O>", (("đã", "không"), ())),
    "future_negative": ("<S> will not <base> <O>", (("sẽ", "không"), ())),
    "perfect_negative": ("<S> <have> not <participle> <O> yet", (("chưa",), ())),
    "perfect": ("<S> <have> already <participle> <O>", (("đã",), ("rồi",))),
    "present_question": ("<Do> <S> <base> <O>", (("có",), ("không",))),
    "past_question": ("Did <S> <base> <O>", (("có",), ("không",))),
    "future_question": ("Will <S> <base> <O>", (("sẽ",), ("không",))),
    "progressive_question": ("<Be> <S> <ing> <O>", (("có", "đang"), ("không",))),
    "perfect_question": ("<Have> <S> <participle> <O> yet", (("đã",), ("chưa",))),
}
VERB_FORMS = tuple(CLAUSES)  # the order rng.choice draws from: changing it changes the built-in corpus
TIME_ADVERBS = {  # the time adverbs that fit a form
    "present": ("every day", "mỗi ngày"),
    "present_negative": ("every day", "mỗi ngày"),
    "past": ("yesterday", "hôm qua"),
    "past_negative": ("yesterday", "hôm qua"),
    "progressive": ("now", "bây giờ"),
    "future": ("tomorrow", "ngày mai"),
    "future_negative": ("tomorrow", "ngày mai"),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


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
    if form not in CLAUSES:
        raise ValueError(f"form must be one of {VERB_FORMS}, got {form!r}")
    english_template, (before_verb, after_object) = CLAUSES[form]
    p = subject.person
    do, have, be = ("does" if p == "3sg" else "do"), ("has" if p == "3sg" else "have"), _agree(p, "is", "am", "are")
    slots = {"S": _words(subject.english), "O": obj.english, "base": (verb.base,), "past": (verb.past,),
             "present": (verb.third if p == "3sg" else verb.base,), "ing": (verb.ing,),
             "participle": (verb.participle,), "do": (do,), "have": (have,), "be": (be,),
             "Do": (do.capitalize(),), "Have": (have.capitalize(),), "Be": (be.capitalize(),)}
    english = tuple(word for part in english_template.split()
                    for word in (slots[part[1:-1]] if part.startswith("<") else (part,)))
    vietnamese = _words(subject.vietnamese) + before_verb + _words(verb.vietnamese) + obj.vietnamese + after_object
    return Phrase(english, vietnamese, obj.features | {("form", subject.english, form)})


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
        topic, plural = noun_phrase(rng, noun, determiners, adjective_probability=0.0)  # "A cat is big" is not idiomatic
        be = "are" if plural else "is"
        very = rng.random() < 0.3 and polarity != "question"
        vi_adjective = _words(ADJECTIVES[adjective][noun.kind])
        if polarity == "affirmative":
            very_en, very_vi = (("very",), ("rất",)) if very else ((), ())
            en, vi = topic.english + (be,) + very_en + (adjective,), topic.vietnamese + very_vi + vi_adjective
        elif polarity == "negative":  # "not very big" -> "không to lắm"
            very_en, very_vi = (("very",), ("lắm",)) if very else ((), ())
            en, vi = topic.english + (be, "not") + very_en + (adjective,), topic.vietnamese + ("không",) + vi_adjective + very_vi
        else:
            en, vi = (be.capitalize(),) + topic.english + (adjective,), topic.vietnamese + ("có",) + vi_adjective + ("không",)
        return Phrase(en, vi, topic.features | {("adjective", adjective, noun.english)})
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
