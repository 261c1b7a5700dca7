"""translation tokens: NFC/NFD and case-insensitive ids that keep diacritics, [UNK], detokenization, truecasing."""
import unicodedata

import pytest
import tensorflow as tf

from tasks.translation.tokens import (END_ID, PAD_ID, RESERVED_TOKENS, UNK_ID, Detokenizer, Vocabulary,
                                      attach_punctuation, build_vocabulary, capitalize, cased_tokens,
                                      learn_truecasing, split_tokens, tokenize)

TARGETS = ["Tôi yêu Việt Nam.", "Lan sống ở Hà Nội.", "Việt Nam đẹp!", "Bạn có yêu Lan không?",
           "Mẹ tôi ở Hà Nội. Tôi ở Huế", "Nam là bạn tôi."]


def _strings(tensor):
    return [value.decode("utf-8") for value in tensor.numpy()]


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary(build_vocabulary(tokenize(TARGETS), max_size=100))


def test_tokenize_splits_punctuation_and_vietnamese_syllables():
    assert tokenize(["Tôi yêu Việt Nam!", "I don't know, (really)."]) == [
        ["tôi", "yêu", "việt", "nam", "!"], ["i", "don", "'", "t", "know", ",", "(", "really", ")", "."]]


def test_nfd_and_nfc_input_get_the_same_ids(vocabulary):
    nfc = "Tôi yêu Việt Nam."
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc and len(nfd) > len(nfc)
    ids = vocabulary.encode(tf.constant([nfc, nfd, nfc.upper()])).to_list()
    assert ids[0] == ids[1] == ids[2]
    assert UNK_ID not in ids[0]


def test_diacritics_are_kept_apart(vocabulary):
    ids = vocabulary.encode(tf.constant(["việt", "viet", "Tôi", "toi"])).to_list()
    assert ids[0] != ids[1] and ids[2] != ids[3]
    assert ids[1] == [UNK_ID] and ids[3] == [UNK_ID]  # the toneless spellings were never seen
    assert vocabulary.token_strings(tf.constant(ids[0])).numpy().tolist() == ["việt".encode()]


def test_vocabulary_order_size_and_reserved_tokens():
    tokens = build_vocabulary([["b", "a", "b"], ["c", "a", "b", "[END]"]], max_size=6)
    assert tokens == list(RESERVED_TOKENS) + ["b", "a"]
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "b"])


def test_vocabulary_leaves_out_tokens_rarer_than_min_frequency():
    token_lists = [["b", "a", "b"], ["c", "a", "b"], ["d"]]
    assert build_vocabulary(token_lists, max_size=10, min_frequency=2) == list(RESERVED_TOKENS) + ["b", "a"]
    assert build_vocabulary(token_lists, max_size=10, min_frequency=3) == list(RESERVED_TOKENS) + ["b"]
    assert build_vocabulary(token_lists, max_size=10) == list(RESERVED_TOKENS) + ["b", "a", "c", "d"]


def test_truecasing_learns_proper_nouns_not_sentence_starts():
    table = learn_truecasing(TARGETS, tokenize(TARGETS))
    assert table["việt"] == "Việt" and table["nam"] == "Nam" and table["hà"] == "Hà" and table["lan"] == "Lan"
    assert "tôi" not in table and "mẹ" not in table  # capitalised only at the start of a sentence
    assert "huế" in table  # inside a line, after a full stop, it is still a proper noun


def test_cased_tokens_skip_texts_that_do_not_align():
    texts = ["Việt Nam!", "İzmir đẹp"]  # "İ" lowercases to two code points
    assert cased_tokens(texts, tokenize(texts)) == [["Việt", "Nam", "!"], None]


def test_detokenizer_cuts_at_end_truecases_and_attaches_punctuation(vocabulary):
    detokenize = Detokenizer(vocabulary, learn_truecasing(TARGETS, tokenize(TARGETS)))
    ids = vocabulary.encode(tf.constant(["tôi yêu việt nam .", "mẹ tôi ở hà nội . tôi yêu lan"])).to_tensor()
    ids = tf.concat([ids, tf.constant([[END_ID, 7, 7], [END_ID, PAD_ID, PAD_ID]])], axis=1)
    assert _strings(detokenize(ids)) == ["Tôi yêu Việt Nam.", "Mẹ tôi ở Hà Nội. Tôi yêu Lan"]
    assert _strings(detokenize(tf.constant([[UNK_ID, END_ID], [END_ID, 5]]))) == ["[UNK]", ""]
    # Words copied from the source stand where the decoder wrote [UNK], as written; after [END] nothing.
    ids = tf.concat([vocabulary.encode(tf.constant(["tôi yêu"])).to_tensor(), [[UNK_ID, UNK_ID, END_ID, UNK_ID]]], 1)
    copies = tf.constant([["x", "x", "Obama", "2026", "x", "later"]])
    assert _strings(detokenize(ids, copies)) == ["Tôi yêu Obama 2026"]


def test_cased_split_aligns_with_the_standardized_tokens():
    texts = tf.constant(["Obama visited Hà Nội in 2016!", "  I   LOVE  VIETNAM "])
    cased, lowered = split_tokens(texts, lowercase=False).to_list(), split_tokens(texts).to_list()
    assert cased[0] == [b"Obama", b"visited", "Hà".encode(), "Nội".encode(), b"in", b"2016", b"!"]
    assert [[token.lower() for token in row] for row in cased] == lowered


def test_capitalize_and_punctuation_rules():
    assert _strings(capitalize(tf.constant(["đã", "ấy", "", "a"]))) == ["Đã", "Ấy", "", "A"]
    assert _strings(attach_punctuation(tf.constant(["giá 3 . 5 đồng , ( thật ) !", "i don ' t"]))) == [
        "giá 3.5 đồng, (thật)!", "i don't"]
