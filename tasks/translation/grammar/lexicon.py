"""The grammar's words: subjects, nouns with their classifiers, adjectives by noun kind, verbs and places.

Each entry holds both languages; the rules (rules.py) only arrange them.
"""
from __future__ import annotations

import dataclasses


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

COUNTABLE = ("animal", "readable", "vehicle", "thing", "clothes", "fruit")  # noun kinds with a classifier
STATIVE = {"progressive": False, "perfect": False}
VERBS = (
    Verb("love", "loves", "loved", "loved", "loving", "yêu", ("place", "person", "animal"), **STATIVE),
    Verb("like", "likes", "liked", "liked", "liking", "thích", ("place", "person") + COUNTABLE + ("food", "drink"), **STATIVE),
    Verb("see", "sees", "saw", "seen", "seeing", "thấy", ("person",) + COUNTABLE, progressive=False),
    Verb("know", "knows", "knew", "known", "knowing", "biết", ("person", "place"), **STATIVE),
    Verb("want", "wants", "wanted", "wanted", "wanting", "muốn", COUNTABLE + ("food", "drink"), **STATIVE),
    Verb("need", "needs", "needed", "needed", "needing", "cần", COUNTABLE + ("food", "drink"), **STATIVE),
    Verb("have", "has", "had", "had", "having", "có", ("animal", "readable", "vehicle", "thing", "clothes"), **STATIVE, questions=False),
    Verb("eat", "eats", "ate", "eaten", "eating", "ăn", ("food", "fruit")),
    Verb("drink", "drinks", "drank", "drunk", "drinking", "uống", ("drink",)),
    Verb("cook", "cooks", "cooked", "cooked", "cooking", "nấu", ("food",)),
    Verb("buy", "buys", "bought", "bought", "buying", "mua", COUNTABLE + ("food", "drink")),
    Verb("sell", "sells", "sold", "sold", "selling", "bán", COUNTABLE + ("food", "drink")),
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

SINGULAR_DETERMINERS = ("a", "the", "this", "that", "my", "your", "his", "her", "our", "their")
PLURAL_DETERMINERS = ("these", "those", "the_plural") + tuple(NUMBERS)
MASS_DETERMINERS = ("", "", "", "this", "that", "my", "your", "his", "her", "our", "their")
