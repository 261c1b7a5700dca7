"""The built-in review corpus: synthetic product reviews whose stars follow a rule over clauses in order.

Every review is made of clauses such as "pin rất trâu" (aspect + modifier + adjective). Stars come from a
fixed rule, so labels are exact and a model's errors are its own:

1. A clause scores its adjective's polarity p (+1 "tốt", -1 "chậm", 0 "bình thường") times its modifier:

   ============================  ======================================  =====
   modifier                      example                                 score
   ============================  ======================================  =====
   none                          "ứng dụng tốt"                          p
   intensifier                   "rất tốt", "cực kỳ chậm"                2p
   softener (hơi / tạm)          "hơi chậm", "tạm ổn"                    0
   negation                      "không tốt", "chẳng chậm"               -p
   negation over intensifier     "không thật sự tốt"                     0
   intensifier over negation     "thật sự không tốt"                     -2p
   ============================  ======================================  =====

2. Clauses joined by "và", "," or "." add up; the sum is clipped to -2..2.
3. Contrast: in "X nhưng Y" (also "tuy nhiên", "có điều"; "but", "however") Y alone decides, X is
   ignored. Concession: in "Y, dù X" (also "mặc dù", "tuy"; "although", "though") the clause after
   the concession word is ignored and Y decides.
4. stars = 3 + the deciding part's clipped sum. So "ứng dụng tốt" -> 4 (the lesson's example),
   "đẹp nhưng chậm" -> 2, "chậm nhưng đẹp" -> 4, "không thật sự tốt" -> 3, "thật sự không tốt" -> 1.

Order-dependent pairs: some reviews come with a twin made of the same words in another order or
scope (contrast halves swapped, a modifier moved to another clause, negation and intensifier swapped)
whose stars differ. Both are written and marked `order_dependent = 1`; a bag of words sees the
twins as the same input and can be right on at most one of them.

Surface variety that does not change stars: several products and aspects, synonyms, openers,
neutral closers and emoji, capitalised and shouted words, "ko" for "không", and a few typos that drop
the diacritics of one word. The same seed always writes the same files; no text appears in two splits.
"""
from __future__ import annotations

import dataclasses
import random
import re
import unicodedata
from typing import Sequence

import pandas as pd

from tasks.common.errors import ConfigError

GENERATOR = "sentiment_stars.corpus/2"  # bump when the rule or the lexicon changes: old files are then stale
# Clause score = SCORES[modifier kind] * adjective polarity.
SCORES = {"plain": 1, "strong": 2, "weak": 0, "not": -1, "not_very": 0, "very_not": -2}
# How often each modifier is drawn for a polar adjective.
MODIFIER_WEIGHTS = {"plain": 0.36, "strong": 0.2, "weak": 0.1, "not": 0.18, "not_very": 0.08, "very_not": 0.08}
# Review forms: one part, "X nhưng Y", "Y, dù X".
FORM_WEIGHTS = {"simple": 0.5, "contrast": 0.4, "concession": 0.1}
TWIN_RATE = 0.45  # share of reviews for which a different-stars twin is attempted


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """Words of one language. Aspects map to (synonyms, positive adjectives, negative adjectives)."""

    aspects: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]
    products: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # product -> (subject words, aspects)
    general: tuple[tuple[str, ...], tuple[str, ...]]  # adjectives about the whole product: (positive, negative)
    neutral: tuple[str, ...]  # polarity-0 adjectives
    strong: tuple[str, ...]  # intensifiers ("rất")
    scope: tuple[str, ...]  # intensifiers that read well on either side of a negation ("thật sự")
    weak: dict[int, tuple[str, ...]]  # softeners by polarity ("hơi" only sounds right with a negative)
    negators: dict[int, tuple[str, ...]]
    copula: str  # "is" in English, nothing in Vietnamese
    contrast: tuple[str, ...]  # "X nhưng Y": Y decides; the first two may follow a "tuy" prefix
    concession: tuple[str, ...]  # "Y, dù X": Y decides
    concession_prefix: tuple[str, ...]  # "Tuy X nhưng Y"
    joins: tuple[str, ...]
    openers: tuple[str, ...]  # "{product}" is replaced by a subject word
    closers: tuple[str, ...]
    informal: dict[str, str]  # word -> informal spelling used by some reviewers


VI = Lexicon(
    # A small shared stock of adjectives (about 60), so that each word's polarity is seen often.
    aspects={
        "pin": (("pin",), ("trâu", "bền"), ("yếu", "mau hết")),
        "màn hình": (("màn hình",), ("đẹp", "nét"), ("mờ", "xấu")),
        "camera": (("camera", "cam"), ("nét", "đẹp"), ("mờ", "xấu")),
        "âm thanh": (("âm thanh", "loa"), ("hay", "rõ"), ("rè", "nhỏ")),
        "giao hàng": (("giao hàng", "ship"), ("nhanh",), ("chậm",)),
        "đóng gói": (("đóng gói",), ("cẩn thận", "chắc chắn"), ("cẩu thả", "sơ sài")),
        "giá": (("giá", "giá cả"), ("rẻ", "hợp lý"), ("đắt", "chát")),
        "chất lượng": (("chất lượng",), ("tốt", "ổn"), ("kém", "tệ")),
        "hiệu năng": (("máy",), ("mượt", "nhanh"), ("lag", "chậm")),
        "giao diện": (("giao diện",), ("đẹp", "dễ dùng"), ("xấu", "khó dùng")),
        "tính năng": (("tính năng",), ("hữu ích", "tiện"), ("thiếu", "lỗi")),
        "đồ ăn": (("đồ ăn", "món ăn"), ("ngon", "tươi"), ("dở", "nhạt")),
        "phục vụ": (("phục vụ", "nhân viên"), ("nhiệt tình", "thân thiện"), ("thô lỗ", "chậm")),
        "không gian": (("không gian",), ("thoáng", "sạch sẽ"), ("ồn", "bẩn")),
        "phòng": (("phòng",), ("sạch sẽ", "rộng"), ("bẩn", "chật")),
        "vị trí": (("vị trí",), ("thuận tiện", "đẹp"), ("xa", "khó tìm")),
        "vải": (("vải", "chất vải"), ("mềm", "mát"), ("thô", "nóng")),
        "kiểu dáng": (("kiểu dáng", "form"), ("đẹp", "sang"), ("xấu", "quê")),
        "đường may": (("đường may",), ("chắc chắn", "đẹp"), ("cẩu thả", "xấu")),
        "bàn phím": (("bàn phím",), ("êm", "dễ gõ"), ("cứng", "kẹt")),
    },
    products={
        "điện thoại": (("điện thoại", "máy"), ("pin", "màn hình", "camera", "âm thanh", "hiệu năng", "giá",
                                               "giao hàng", "đóng gói")),
        "tai nghe": (("tai nghe",), ("âm thanh", "pin", "chất lượng", "giá", "giao hàng", "đóng gói")),
        "laptop": (("laptop", "máy"), ("bàn phím", "màn hình", "pin", "hiệu năng", "giá", "giao hàng")),
        "ứng dụng": (("ứng dụng", "app"), ("giao diện", "tính năng", "hiệu năng", "giá")),
        "quán ăn": (("quán", "nhà hàng"), ("đồ ăn", "phục vụ", "không gian", "giá")),
        "khách sạn": (("khách sạn",), ("phòng", "phục vụ", "vị trí", "giá")),
        "áo": (("áo",), ("vải", "kiểu dáng", "đường may", "giá", "giao hàng", "đóng gói")),
        "giày": (("giày", "đôi giày"), ("kiểu dáng", "đường may", "chất lượng", "giá", "giao hàng")),
    },
    general=(("tốt", "ổn", "xịn"), ("tệ", "kém", "dở", "chán")),
    neutral=("bình thường", "tạm được"),
    strong=("rất", "cực kỳ", "siêu", "quá", "thật sự", "thực sự"),
    scope=("thật sự", "thực sự", "hoàn toàn"),
    weak={1: ("tạm",), -1: ("hơi",)},
    negators={1: ("không", "không", "chẳng", "chưa"), -1: ("không", "không", "chẳng")},
    copula="",
    contrast=("nhưng", "nhưng", "nhưng mà", "tuy nhiên", "có điều"),
    concession=("dù", "mặc dù", "tuy"),
    concession_prefix=("tuy", "dù"),
    joins=(" và ", ", ", ", ", ". "),
    openers=("{product} này", "nói chung", "review {product}:", "mình thấy", "đánh giá nhanh:"),
    closers=("cảm ơn", "ai cần thì tham khảo", "mình sẽ cập nhật thêm", "đánh giá thật lòng"),
    informal={"không": "ko"},
)

EN = Lexicon(
    aspects={
        "battery": (("battery",), ("strong", "durable"), ("weak", "short-lived")),
        "screen": (("screen", "display"), ("sharp", "beautiful"), ("blurry", "dim")),
        "camera": (("camera",), ("sharp", "great"), ("blurry", "grainy")),
        "sound": (("sound", "audio"), ("clear", "rich"), ("tinny", "muffled")),
        "delivery": (("delivery", "shipping"), ("fast", "quick"), ("slow", "late")),
        "packaging": (("packaging", "box"), ("careful", "solid"), ("sloppy", "flimsy")),
        "price": (("price",), ("cheap", "fair"), ("expensive", "steep")),
        "performance": (("performance", "phone"), ("smooth", "fast"), ("laggy", "slow")),
        "interface": (("interface", "design"), ("clean", "intuitive"), ("cluttered", "confusing")),
        "food": (("food", "dish"), ("tasty", "fresh"), ("bland", "cold")),
        "service": (("service", "staff"), ("friendly", "helpful"), ("rude", "slow")),
        "room": (("room",), ("clean", "spacious"), ("dirty", "cramped")),
        "fabric": (("fabric", "material"), ("soft", "thick"), ("rough", "thin")),
    },
    products={
        "phone": (("phone",), ("battery", "screen", "camera", "sound", "performance", "price", "delivery",
                               "packaging")),
        "headphones": (("headset",), ("sound", "battery", "price", "delivery", "packaging")),
        "app": (("app",), ("interface", "performance", "price")),
        "restaurant": (("restaurant", "place"), ("food", "service", "price")),
        "hotel": (("hotel",), ("room", "service", "price")),
        "shirt": (("shirt",), ("fabric", "price", "delivery", "packaging")),
    },
    general=(("good", "great", "solid"), ("bad", "poor", "awful")),
    neutral=("okay", "average"),
    strong=("very", "extremely", "super", "really", "truly"),
    scope=("really", "truly", "completely"),
    weak={1: ("fairly",), -1: ("slightly", "a bit")},
    negators={1: ("not",), -1: ("not",)},
    copula="is",
    contrast=("but", "but", "however,"),
    concession=("although", "though", "even though"),
    concession_prefix=(),  # English has no "although X but Y"
    joins=(" and ", ", ", ". "),
    openers=("this {product}:", "overall", "my review of the {product}:", "quick review:"),
    closers=("thanks", "just my two cents", "will update later", "honest review"),
    informal={},
)

LEXICONS = {"vi": VI, "en": EN}
EMOJI = ("🙂", "😅", "🤔", "📦", "📱", "👉", "🙏")  # decoration only: drawn independently of the stars
ENDINGS = (".", ".", "!", "!!", "...", "")


@dataclasses.dataclass(frozen=True)
class Modifier:
    """What stands around an adjective: `kind` (a key of SCORES) and the words that realise it."""

    kind: str
    words: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Clause:
    """One judgement: an optional subject (aspect or product word), a modifier and an adjective."""

    subject: str | None
    adjective: str
    polarity: int  # +1, -1 or 0
    modifier: Modifier

    @property
    def score(self) -> int:
        return SCORES[self.modifier.kind] * self.polarity


@dataclasses.dataclass(frozen=True)
class Part:
    """Clauses that add up, and the join words between them (len(joins) == len(clauses) - 1)."""

    clauses: tuple[Clause, ...]
    joins: tuple[str, ...]

    @property
    def score(self) -> int:
        return max(-2, min(2, sum(clause.score for clause in self.clauses)))


@dataclasses.dataclass(frozen=True)
class Review:
    """A review's structure. `deciding` sets the stars; `ignored` is the part a contrast or concession overrides."""

    form: str  # "simple" | "contrast" | "concession"
    deciding: Part
    ignored: Part | None = None
    marker: str = ""  # the contrast or concession word
    lead: str = " "  # what precedes the marker: " ", ", " or ". "
    prefix: str = ""  # "tuy" in "Tuy X nhưng Y"

    @property
    def stars(self) -> int:
        return 3 + self.deciding.score


# ----------------------------------------------------------------------------------------------- sampling


def _modifier(rng: random.Random, lex: Lexicon, polarity: int) -> Modifier:
    if polarity == 0:
        return Modifier("plain")
    kind = rng.choices(list(MODIFIER_WEIGHTS), weights=list(MODIFIER_WEIGHTS.values()))[0]
    negator = rng.choice(lex.negators[polarity])
    words = {
        "plain": (),
        "strong": (rng.choice(lex.strong),),
        "weak": (rng.choice(lex.weak[polarity]),),
        "not": (negator,),
        "not_very": (negator, rng.choice(lex.scope)),
        "very_not": (rng.choice(lex.scope), negator),
    }[kind]
    return Modifier(kind, words)


def _fits(modifier: Modifier, polarity: int, lex: Lexicon) -> bool:
    """Whether `modifier` reads naturally with an adjective of `polarity` (used when twins move modifiers)."""
    if polarity == 0:
        return modifier.kind == "plain"
    kind, words = modifier.kind, modifier.words
    if kind == "weak":
        return words[0] in lex.weak[polarity]
    if kind in ("not", "not_very"):
        return words[0] in lex.negators[polarity]
    if kind == "very_not":
        return words[1] in lex.negators[polarity]
    return True


def _clause(rng: random.Random, lex: Lexicon, product: str, aspect: str | None, polarity: int) -> Clause:
    if aspect is None:  # a judgement of the whole product: "app tốt", "rất tốt"
        subject = rng.choice(lex.products[product][0]) if rng.random() < 0.6 else None
        adjectives = lex.general[0] if polarity > 0 else lex.general[1]
    else:
        synonyms, positive, negative = lex.aspects[aspect]
        subject = rng.choice(synonyms)
        adjectives = positive if polarity > 0 else negative
    adjective = rng.choice(lex.neutral if polarity == 0 else adjectives)
    return Clause(subject, adjective, polarity, _modifier(rng, lex, polarity))


def _polarity(rng: random.Random, hint: int = 0) -> int:
    if hint and rng.random() < 0.75:
        return hint
    return rng.choices((1, -1, 0), weights=(0.46, 0.46, 0.08))[0]


def _part(rng: random.Random, lex: Lexicon, product: str, aspects: list, size: int, hint: int = 0,
          joins: Sequence[str] | None = None) -> Part:
    clauses = []
    for index in range(size):
        aspect = aspects.pop() if aspects else None
        clauses.append(_clause(rng, lex, product, aspect, _polarity(rng, hint if index == 0 else 0)))
    return Part(tuple(clauses), tuple(rng.choice(joins or lex.joins) for _ in range(size - 1)))


def sample_review(rng: random.Random, lex: Lexicon, product: str) -> Review:
    """One review structure: its form, parts, clauses and modifiers."""
    aspects = [a for a in lex.products[product][1]]
    rng.shuffle(aspects)
    aspects.append(None)  # popped from the end: the whole-product judgement is tried first
    rng.shuffle(aspects)
    form = rng.choices(list(FORM_WEIGHTS), weights=list(FORM_WEIGHTS.values()))[0]
    if form == "simple":
        return Review(form, _part(rng, lex, product, aspects, rng.choices((1, 2, 3), weights=(0.5, 0.4, 0.1))[0]))
    # Inside a contrast or concession, clauses join with "và" or "," only: a full stop would end its scope.
    # After "dù" only "và" keeps the next clause inside the concession.
    inner_joins = lex.joins[:2]
    ignored = _part(rng, lex, product, aspects, rng.choices((1, 2), weights=(0.75, 0.25))[0],
                    joins=inner_joins if form == "contrast" else lex.joins[:1])
    opposite = -1 if ignored.clauses[0].polarity > 0 else 1  # real contrasts mostly flip the polarity
    deciding = _part(rng, lex, product, aspects, rng.choices((1, 2), weights=(0.85, 0.15))[0], hint=opposite,
                     joins=inner_joins)
    if form == "contrast":
        prefix = rng.choice(lex.concession_prefix) if lex.concession_prefix and rng.random() < 0.25 else ""
        marker = rng.choice(lex.contrast[:2] if prefix else lex.contrast)  # "tuy X nhưng Y", never "tuy ... tuy nhiên"
        lead = " " if prefix else rng.choice((" ", " ", ", ", ". "))
        return Review(form, deciding, ignored, marker, lead, prefix)
    return Review(form, deciding, ignored, rng.choice(lex.concession), ", ")


# ------------------------------------------------------------------------------------------------- twins


def _replace_clause(review: Review, where: tuple[str, int], clause: Clause) -> Review:
    part_name, index = where
    part = getattr(review, part_name)
    clauses = list(part.clauses)
    clauses[index] = clause
    return dataclasses.replace(review, **{part_name: dataclasses.replace(part, clauses=tuple(clauses))})


def _positions(review: Review) -> list[tuple[str, int]]:
    names = ["deciding"] + (["ignored"] if review.ignored else [])
    return [(name, i) for name in names for i in range(len(getattr(review, name).clauses))]


def _clause_at(review: Review, where: tuple[str, int]) -> Clause:
    return getattr(review, where[0]).clauses[where[1]]


def twin_candidates(review: Review, lex: Lexicon) -> list[Review]:
    """Reviews with exactly the same words in another order or scope (their stars may or may not differ)."""
    candidates = []
    if review.ignored is not None:  # swap the halves: "đẹp nhưng chậm" <-> "chậm nhưng đẹp"
        candidates.append(dataclasses.replace(review, deciding=review.ignored, ignored=review.deciding))
    positions = _positions(review)
    for a in range(len(positions)):  # move modifiers between clauses: "rất đẹp nhưng chậm" <-> "đẹp nhưng rất chậm"
        for b in range(a + 1, len(positions)):
            first, second = _clause_at(review, positions[a]), _clause_at(review, positions[b])
            if first.modifier == second.modifier:
                continue
            if not (_fits(second.modifier, first.polarity, lex) and _fits(first.modifier, second.polarity, lex)):
                continue
            swapped = _replace_clause(review, positions[a], dataclasses.replace(first, modifier=second.modifier))
            candidates.append(_replace_clause(swapped, positions[b],
                                              dataclasses.replace(second, modifier=first.modifier)))
    for where in positions:  # swap scope: "không thật sự tốt" <-> "thật sự không tốt"
        clause = _clause_at(review, where)
        kind, words = clause.modifier.kind, clause.modifier.words
        flipped = {"not_very": "very_not", "very_not": "not_very"}.get(kind)
        if flipped:
            candidates.append(_replace_clause(review, where, dataclasses.replace(
                clause, modifier=Modifier(flipped, (words[1], words[0])))))
    return candidates


def make_twin(rng: random.Random, review: Review, lex: Lexicon) -> Review | None:
    """A same-words twin with different stars, or None if this review has none."""
    different = [c for c in twin_candidates(review, lex) if c.stars != review.stars]
    return rng.choice(different) if different else None


# --------------------------------------------------------------------------------------------- rendering


@dataclasses.dataclass(frozen=True)
class Style:
    """Surface choices shared by a review and its twin, so both keep exactly the same words."""

    opener: str
    closer: str
    ending: str
    emoji: str
    capitalize: bool
    shout: str  # a word written in capitals, or ""
    typo: str  # a word written without diacritics, or ""
    informal: bool


def strip_diacritics(text: str) -> str:
    """'tốt' -> 'tot', 'đẹp' -> 'dep': how reviews typed without a Vietnamese keyboard look."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def sample_style(rng: random.Random, lex: Lexicon, review: Review, product: str) -> Style:
    clauses = review.deciding.clauses + (review.ignored.clauses if review.ignored else ())
    subject = rng.choice(lex.products[product][0])
    opener = rng.choice(lex.openers).format(product=subject) if rng.random() < 0.25 else ""
    words = [c.adjective for c in clauses] + [c.subject for c in clauses if c.subject]
    typo = rng.choice(words) if rng.random() < 0.06 else ""
    strong = [w for c in clauses for w in c.modifier.words if w in lex.strong]
    return Style(
        opener=opener,
        closer=rng.choice(lex.closers) if rng.random() < 0.12 else "",
        ending=rng.choice(ENDINGS),
        emoji=rng.choice(EMOJI) if rng.random() < 0.15 else "",
        capitalize=rng.random() < 0.75,
        shout=rng.choice(strong) if strong and rng.random() < 0.15 else "",
        typo=typo if strip_diacritics(typo) != typo else "",
        informal=rng.random() < 0.15,
    )


def _render_clause(clause: Clause, lex: Lexicon) -> str:
    words = [*clause.modifier.words, clause.adjective]
    if clause.subject:
        subject = f"the {clause.subject}" if lex is EN else clause.subject
        words = [subject, *([lex.copula] if lex.copula else []), *words]
    return " ".join(words)


def _render_part(part: Part, lex: Lexicon) -> str:
    text = _render_clause(part.clauses[0], lex)
    for join, clause in zip(part.joins, part.clauses[1:]):
        text += join + _render_clause(clause, lex)
    return text


def _capitalize_sentences(text: str) -> str:
    return re.sub(r"(^|[.!?]\s+)(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def render(review: Review, style: Style, lex: Lexicon) -> str:
    """The review's text, words in reading order."""
    if review.form == "simple":
        body = _render_part(review.deciding, lex)
    elif review.form == "contrast":
        first = f"{review.prefix} " if review.prefix else ""
        body = (f"{first}{_render_part(review.ignored, lex)}{review.lead}{review.marker} "
                f"{_render_part(review.deciding, lex)}")
    else:
        body = f"{_render_part(review.deciding, lex)}{review.lead}{review.marker} {_render_part(review.ignored, lex)}"
    ending = style.ending or ("." if style.closer else "")  # a closer starts a new sentence
    text = " ".join(piece for piece in (style.opener, body) if piece) + ending
    if style.closer:
        text += f" {style.closer}{ending}"
    if style.emoji:
        text += f" {style.emoji}"
    if style.informal:
        for word, informal in lex.informal.items():
            text = re.sub(rf"\b{word}\b", informal, text)
    if style.typo:
        text = re.sub(rf"\b{re.escape(style.typo)}\b", strip_diacritics(style.typo), text)
    if style.capitalize:
        text = _capitalize_sentences(text)
    if style.shout:
        text = re.sub(rf"\b{re.escape(style.shout)}\b", style.shout.upper(), text)
    return re.sub(r"\s+", " ", text).strip()


# -------------------------------------------------------------------------------------------- the corpus

SPLITS = ("train", "val", "test")
COLUMNS = ("text", "stars", "order_dependent")


def word_key(text: str) -> str:
    """Lowercased words in order, without punctuation or emoji: two texts with the same key are one review."""
    return " ".join(re.findall(r"\w+", text.lower()))


def bag_of_words(text: str) -> tuple[str, ...]:
    """The sorted lowercased words: what a bag-of-words model sees."""
    return tuple(sorted(re.findall(r"\w+", text.lower())))


def generate_split(rng: random.Random, lex: Lexicon, size: int, seen: set[str]) -> pd.DataFrame:
    """`size` rows of text, stars, order_dependent; skips any review whose words are in `seen` (and adds its own)."""
    rows: list[tuple[str, int, int]] = []
    products = sorted(lex.products)
    attempts = 0
    while len(rows) < size:
        attempts += 1
        if attempts > 50 * size + 1000:
            raise ConfigError(f"could not draw {size} distinct reviews; lower the built-in sizes")
        product = rng.choice(products)
        review = sample_review(rng, lex, product)
        unit = [review]
        if len(rows) + 2 <= size and rng.random() < TWIN_RATE:
            twin = make_twin(rng, review, lex)
            if twin is not None:
                unit.append(twin)
        style = sample_style(rng, lex, review, product)
        texts = [render(r, style, lex) for r in unit]
        keys = {word_key(t) for t in texts}
        if len(keys) < len(texts) or keys & seen:
            continue
        seen.update(keys)
        order_dependent = int(len(unit) == 2)
        rows.extend((text, r.stars, order_dependent) for text, r in zip(texts, unit))
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def generate_corpus(sizes: Sequence[int] = (8000, 1000, 2000), seed: int = 0, language: str = "vi"
                    ) -> dict[str, pd.DataFrame]:
    """{"train", "val", "test"} -> DataFrame(text, stars, order_dependent); the same arguments give the same rows."""
    if language not in LEXICONS:
        raise ConfigError(f"language must be one of {list(LEXICONS)}, got {language!r}")
    if len(sizes) != 3 or any(size < 1 for size in sizes):
        raise ConfigError(f"sizes must be three positive row counts (train, val, test), got {list(sizes)}")
    rng = random.Random(f"sentiment_stars/{language}/{seed}")
    seen: set[str] = set()  # word keys already used: no review is in two splits
    return {split: generate_split(rng, LEXICONS[language], size, seen) for split, size in zip(SPLITS, sizes)}
