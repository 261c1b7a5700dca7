"""translation scoring: the real-data protocol (lowercase, words and punctuation apart, multi-reference)."""
import pytest
import sacrebleu

from tasks.translation.config import Config
from tasks.translation.evaluate import corpus_scores, group_references, normalize_for_scoring
from tasks.translation.train import baselines_to_train, ensemble_size


def test_normalize_splits_words_and_punctuation_and_lowercases():
    assert normalize_for_scoring("Tôi yêu Việt Nam.") == "tôi yêu việt nam ."
    assert normalize_for_scoring("Tom's 3.5 \"km\"!") == "tom ' s 3 . 5 \" km \" !"


def test_repeated_english_lines_are_references_of_one_sentence():
    sources, references = group_references(["Hi.", "Go!", "Hi. "], ["Chào.", "Đi!", "Xin chào."])
    assert sources == ["Hi.", "Go!"] and references == [["Chào.", "Xin chào."], ["Đi!"]]


def test_scores_count_a_match_with_any_reference():
    references = [["Chào bạn.", "Xin chào bạn."], ["Đi đi!"]]
    hypotheses = ["xin chào bạn .", "Đi đi!"]  # case and spacing of punctuation do not matter
    scores = corpus_scores(hypotheses, references)
    assert scores["bleu"] == pytest.approx(100.0) and scores["chrf"] == pytest.approx(100.0)
    assert scores["exact_match"] == 1.0
    single = corpus_scores(hypotheses, [refs[0] for refs in references])  # only the first reference
    assert single["bleu"] < 100.0 and single["exact_match"] == 0.5
    # The same numbers as sacrebleu on the normalized text.
    expected = sacrebleu.corpus_bleu(["xin chào bạn .", "đi đi !"], [["chào bạn .", "đi đi !"],
                                                                       ["xin chào bạn .", None]]).score
    assert scores["bleu"] == pytest.approx(expected)


@pytest.mark.parametrize("source, no_attention, gru, expected", [
    ("builtin", None, None, {"no_attention"}),
    ("tsv", None, None, {"gru"}),
    ("builtin", False, True, {"gru"}),
    ("tsv", True, False, {"no_attention"}),
])
def test_baselines_default_by_data_source(source, no_attention, gru, expected):
    config = Config()
    config.data.source, config.data.path = source, "pairs.tsv"
    config.model.no_attention_baseline, config.model.gru_baseline = no_attention, gru
    assert set(baselines_to_train(config)) == expected
    config.model.cell = "gru"  # a GRU model has no separate GRU reference
    assert "gru" not in baselines_to_train(config)


@pytest.mark.parametrize("source, setting, expected", [("builtin", None, 1), ("tsv", None, 3), ("parallel", None, 3),
                                                       ("builtin", 2, 2), ("tsv", 1, 1)])
def test_ensemble_size_defaults_by_data_source(source, setting, expected):
    config = Config()
    config.data.source, config.data.path, config.model.ensemble = source, "pairs.tsv", setting
    assert ensemble_size(config) == expected
