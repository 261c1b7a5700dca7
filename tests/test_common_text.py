"""Pure-TF text standardization: NFD input matches NFC, diacritics survive lowercasing, punctuation splits."""
import unicodedata

import pytest
import tensorflow as tf

from tasks.common.text import normalize_nfc, standardize_text

VIETNAMESE = ("ÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴÈÉẸẺẼÊỀẾỆỂỄÌÍỊỈĨÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠÙÚỤỦŨƯỪỨỰỬỮỲÝỴỶỸĐ"
              "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ")


def decode(tensor):
    return [t.decode("utf-8") for t in tensor.numpy().reshape(-1)]


@pytest.mark.parametrize("form", ["NFD", "NFC"])
def test_every_vietnamese_letter_normalizes_to_nfc(form):
    text = unicodedata.normalize(form, VIETNAMESE)
    assert decode(normalize_nfc(tf.constant([text]))) == [VIETNAMESE]


def test_marks_in_non_canonical_order_and_partly_composed_input_compose():
    assert decode(normalize_nfc(tf.constant(["e\u0302\u0323", "\u00ea\u0323", "\u1eb9\u0302"]))) == ["ệ"] * 3


def test_other_scripts_and_shapes_pass_through():
    text = tf.constant([["日本語 😀", ""], ["naïve café", "Ελλάδα"]])
    out = normalize_nfc(text)
    assert out.shape == (2, 2)
    assert decode(out) == ["日本語 😀", "", "naïve café", "Ελλάδα"]


def test_standardize_lowercases_keeps_diacritics_and_splits_punctuation():
    nfd = unicodedata.normalize("NFD", "ỨNG DỤNG TỐT!! 😍  Tôi yêu Việt\u00a0Nam, nhưng...")
    assert decode(standardize_text(tf.constant([nfd]))) == [
        "ứng dụng tốt ! ! 😍 tôi yêu việt nam , nhưng . . ."]
