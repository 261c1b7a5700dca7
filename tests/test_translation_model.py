"""translation model and decoders: shapes, masking, step decoder == teacher-forced model, beam >= greedy."""
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.translation.config import ModelConfig
from tasks.translation.decoding import (EnsembleDecoder, StepDecoder, beam_search, greedy_search, length_normalizer,
                                       sequence_log_probability)
from tasks.translation.model import FeedingDecoder, LuongAttention, SmoothedCrossEntropy, build_model, training_loss
from tasks.translation.tokens import END_ID, PAD_ID, START_ID, UNK_ID, fit_vocabularies
from tasks.translation.translator import Translator, translate_all

ENGLISH = ["I love Vietnam", "Do you like cats?", "She is a doctor.", "They will visit Hanoi tomorrow",
           "What does he eat?", "My old car is red"]
VIETNAMESE = ["Tôi yêu Việt Nam", "Bạn có thích mèo không?", "Cô ấy là bác sĩ.", "Họ sẽ thăm Hà Nội ngày mai",
              "Anh ấy ăn gì?", "Chiếc xe hơi cũ của tôi đỏ"]
MAX_LENGTH = 12


def _source(rows, width=None):
    width = width or max(map(len, rows))
    return tf.constant([row + [PAD_ID] * (width - len(row)) for row in rows], tf.int32)


@pytest.fixture(scope="module", params=[("luong", "fast", "simple", False, False, False),
                                        ("none", "cell", "simple", True, False, False),
                                        ("luong", "cell", "simple", True, False, False),
                                        ("luong", "cell", "gru", True, False, False),
                                        ("luong", "cell", "simple", True, True, False),
                                        ("none", "cell", "simple", False, True, False),
                                        ("luong", "cell", "simple", True, True, True),
                                        ("luong", "cell", "gru", True, True, True)])
def untrained(request):
    """A randomly initialised model: its decoders must be exact whatever the weights (layer, cell, encoder, tying,
    input feeding)."""
    keras.utils.set_random_seed(1)
    attention, implementation, cell, bidirectional, tied, feeding = request.param
    config = ModelConfig(rnn_units=16, embedding_dim=8, attention=attention, dropout=0.0,
                         rnn_implementation=implementation, cell=cell, bidirectional=bidirectional,
                         tie_embeddings=tied, input_feeding=feeding)
    model = build_model(config, source_vocab_size=30, target_vocab_size=12)
    rng = np.random.default_rng(0)
    source = _source([list(rng.integers(4, 30, size=n)) for n in (5, 3, 7, 1, 6)])
    return model, StepDecoder(model), source


def test_training_model_shapes_and_layer_names():
    model = build_model(ModelConfig(rnn_units=16, embedding_dim=8, bidirectional=False, input_feeding=False), 30, 12)
    logits = model({"source": _source([[5, 6, 7], [8]]), "target_in": tf.constant([[2, 4, 5, 0], [2, 6, 0, 0]])})
    assert logits.shape == (2, 4, 12)
    assert {"encoder", "decoder", "attention", "attentional", "logits"} <= {layer.name for layer in model.layers}
    fast_model = build_model(ModelConfig(rnn_units=16, embedding_dim=8, rnn_implementation="fast", bidirectional=False,
                                         input_feeding=False), 30, 12)
    for name in ("encoder", "decoder"):  # the cell by default (faster for this task); the fast layer on request
        assert model.get_layer(name).cell.__class__.__name__ == "SimpleRNNCell"
        assert fast_model.get_layer(name).__class__.__name__ == "SimpleRNN"
    assert "attention" not in {layer.name for layer in build_model(ModelConfig(attention="none"), 30, 12).layers}


def test_bidirectional_encoder_and_gru_reference():
    model = build_model(ModelConfig(rnn_units=16, embedding_dim=8, input_feeding=False), 30, 12)  # bidirectional by default
    encoder = model.get_layer("encoder")
    assert isinstance(encoder, keras.layers.Bidirectional) and model.get_layer("bridge").units == 16
    assert encoder.forward_layer.cell.__class__.__name__ == "SimpleRNNCell"
    assert model.get_layer("attention").key_projection.kernel.shape == (32, 16)  # W_a maps [fwd; bwd] to H
    one_way = build_model(ModelConfig(rnn_units=16, embedding_dim=8, bidirectional=False), 30, 12)
    assert "bridge" not in {layer.name for layer in one_way.layers}
    gru = build_model(ModelConfig(rnn_units=16, embedding_dim=8, bidirectional=False, input_feeding=False), 30, 12,
                      cell="gru")
    assert isinstance(gru.get_layer("encoder"), keras.layers.GRU) and isinstance(gru.get_layer("decoder"),
                                                                                keras.layers.GRU)
    assert gru.name == "translation_gru"
    with pytest.raises(ValueError, match="bidirectional needs rnn_implementation 'cell'"):
        ModelConfig(rnn_implementation="fast")
    with pytest.raises(ValueError, match="cell must be"):
        build_model(ModelConfig(rnn_units=16, embedding_dim=8), 30, 12, cell="lstm")


@pytest.mark.parametrize("attention", ["luong", "none"])
def test_tied_output_layer_is_the_target_embedding(attention):
    config = ModelConfig(rnn_units=16, embedding_dim=8, attention=attention, tie_embeddings=True)
    model = build_model(config, 30, 12)
    embedding = model.get_layer("target_embedding").embeddings
    logits_weights = model.get_layer("logits").trainable_weights
    assert any(w is embedding for w in logits_weights) and [w.shape for w in logits_weights if w is not embedding] == [(12,)]
    untied = build_model(ModelConfig(rnn_units=16, embedding_dim=8, attention=attention, tie_embeddings=False), 30, 12)
    assert untied.get_layer("logits").kernel.shape == (16, 12)  # untied: its own (H, V) matrix
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) < sum(
        int(np.prod(w.shape)) for w in untied.trainable_weights)
    batch = {"source": _source([[5, 6, 7], [8]]), "target_in": tf.constant([[2, 4, 5], [2, 6, 0]])}
    before = model(batch).numpy()
    embedding.assign(embedding + 1.0)  # one matrix: changing the input vectors changes the output scores
    assert not np.allclose(model(batch).numpy(), before)


def test_input_feeding_decoder_feeds_the_attentional_vector_back():
    config = ModelConfig(rnn_units=16, embedding_dim=8, input_feeding=True)
    model = build_model(config, 30, 12)
    decoder = model.get_layer("decoder")
    assert isinstance(decoder, FeedingDecoder) and decoder.cell.__class__.__name__ == "SimpleRNNCell"
    assert decoder.cell.U.shape == (8 + 8, 16)  # x'_t = [embedding; a_{t-1}], a_t of the tied embedding's size
    gru = build_model(config, 30, 12, cell="gru").get_layer("decoder")
    assert isinstance(gru.cell, keras.layers.GRUCell)
    rebuilt = FeedingDecoder.from_config(decoder.get_config())  # the config names the cell and the sizes
    assert type(rebuilt.cell) is type(decoder.cell) and rebuilt.cell.units == 16 and rebuilt.output_size == 8
    # a_{t-1} reaches step t: changing the first target token changes step 2 through a_1 even with s_1 held.
    batch = {"source": _source([[5, 6, 7]]), "target_in": tf.constant([[2, 4, 5]])}
    plain = build_model(ModelConfig(rnn_units=16, embedding_dim=8, input_feeding=False), 30, 12)
    assert model(batch).shape == plain(batch).shape == (1, 3, 12)
    decoder.cell.W.assign(tf.zeros_like(decoder.cell.W))  # no path through s_{t-1}: only the fed a_{t-1} links steps
    other = {"source": batch["source"], "target_in": tf.constant([[2, 9, 5]])}
    assert not np.allclose(model(batch).numpy()[0, 2], model(other).numpy()[0, 2])
    plain.get_layer("decoder").cell.W.assign(tf.zeros_like(plain.get_layer("decoder").cell.W))
    np.testing.assert_allclose(plain(batch).numpy()[0, 2], plain(other).numpy()[0, 2], rtol=1e-6)  # nothing links them


def test_label_smoothing_spreads_the_target_over_the_vocabulary():
    logits = tf.constant([[[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 3.0]]])  # (1, 2, 4)
    targets = tf.constant([[0, 3]])
    log_probs = tf.nn.log_softmax(logits).numpy()[0]
    smoothing = 0.2
    expected = [-(1 - smoothing) * log_probs[t, y] - smoothing * log_probs[t].mean() for t, y in enumerate([0, 3])]
    loss = SmoothedCrossEntropy(smoothing, reduction=None)(targets, logits).numpy()[0]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits)
    np.testing.assert_allclose(SmoothedCrossEntropy(0.0)(targets, logits), plain, rtol=1e-5)
    assert isinstance(training_loss(ModelConfig(label_smoothing=0.1)), SmoothedCrossEntropy)
    assert isinstance(training_loss(ModelConfig(label_smoothing=0.0)), keras.losses.SparseCategoricalCrossentropy)


def test_attention_ignores_padding():
    attention = LuongAttention(4)
    rng = np.random.default_rng(0)
    queries, values = rng.normal(size=(2, 3, 4)).astype("float32"), rng.normal(size=(2, 5, 4)).astype("float32")
    mask = tf.constant([[True] * 5, [True, True, False, False, False]])
    context, weights = attention(queries, values, mask)
    assert context.shape == (2, 3, 4) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(tf.reduce_sum(weights, -1).numpy(), 1.0, rtol=1e-5)
    assert np.all(weights.numpy()[1, :, 2:] == 0.0)
    changed = values.copy()
    changed[1, 2:] = 100.0  # what hides behind the padding must not matter
    np.testing.assert_allclose(attention(queries, changed, mask)[0].numpy()[1], context.numpy()[1], rtol=1e-5)


def test_step_decoder_scores_equal_the_teacher_forced_model(untrained):
    model, decoder, source = untrained
    ids, scores, _ = greedy_search(decoder, source, MAX_LENGTH)
    ended = [list(row[: list(row).index(END_ID)]) if END_ID in row else None for row in ids.numpy().tolist()]
    rows = [i for i, row in enumerate(ended) if row is not None]
    assert rows, "no greedy output ended; pick another seed"
    target = _source([ended[i] for i in rows], width=MAX_LENGTH)
    expected = sequence_log_probability(model, tf.gather(source, rows), target).numpy()
    np.testing.assert_allclose(scores.numpy()[rows], expected, rtol=1e-4, atol=1e-4)


def test_source_padding_does_not_change_translations(untrained):
    _, decoder, source = untrained
    padded = tf.pad(source, [[0, 0], [0, 4]])
    for search in (lambda s: greedy_search(decoder, s, MAX_LENGTH)[:2], lambda s: beam_search(decoder, s, 3, MAX_LENGTH)):
        ids, scores = search(source)
        padded_ids, padded_scores = search(padded)
        np.testing.assert_array_equal(ids.numpy(), padded_ids.numpy())
        np.testing.assert_allclose(scores.numpy(), padded_scores.numpy(), rtol=1e-5)


def test_beam_never_scores_below_greedy_and_reports_its_own_score(untrained):
    model, decoder, source = untrained
    greedy_ids, greedy_scores, _ = greedy_search(decoder, source, MAX_LENGTH)
    for width in (1, 3, 8):
        ids, scores = beam_search(decoder, source, width, MAX_LENGTH)
        assert np.all(scores.numpy() >= greedy_scores.numpy() - 1e-5), width
        if width == 1:
            np.testing.assert_array_equal(ids.numpy(), greedy_ids.numpy())
    # With a length penalty the ranking is log p / lp(length): beam still never ranks below greedy.
    def ranking(ids, scores):
        return scores / length_normalizer(tf.reduce_sum(tf.cast(ids != PAD_ID, tf.int32), axis=1), 1.0)
    normalized_ids, normalized_scores = beam_search(decoder, source, 3, MAX_LENGTH, length_penalty=1.0)
    assert np.all(ranking(normalized_ids, normalized_scores).numpy() >= ranking(greedy_ids, greedy_scores).numpy() - 1e-5)
    for row, (sequence, score) in enumerate(zip(ids.numpy().tolist(), scores.numpy())):
        if END_ID in sequence:  # a finished hypothesis: its score is the model's log p(y + [END] | x)
            target = _source([sequence[: sequence.index(END_ID)]], width=MAX_LENGTH)
            expected = sequence_log_probability(model, source[row:row + 1], target).numpy()[0]
            assert score == pytest.approx(expected, abs=1e-4)


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(2)
    vocabularies = fit_vocabularies(ENGLISH, VIETNAMESE, 100, 100)
    model = build_model(ModelConfig(rnn_units=16, embedding_dim=8), vocabularies.source.size, vocabularies.target.size)
    return Translator(model, vocabularies.source, vocabularies.target, vocabularies.truecasing, 3, MAX_LENGTH)


def test_translator_handles_nfd_case_and_empty_input(translator):
    texts = ["I love Vietnam", unicodedata.normalize("NFD", "I LOVE VIETNAM"), "", "   ", "Zebras juggle"]
    beam = lambda text: translator.beam(text, tf.constant(3))  # noqa: E731  (`translate` is beam with width 3)
    for method in (translator.greedy, beam):
        translations, scores = translate_all(method, texts)
        # Equal up to case: a copied unknown word keeps the case it was written in ("LOVE").
        assert translations[0].lower() == translations[1].lower() and scores[0] == pytest.approx(scores[1])
        assert translations[2:4] == ["", ""] and scores[2:4] == [0.0, 0.0]
        assert np.isfinite(scores[4]) and scores[4] < 0  # unknown words read as [UNK]: still a translation
    wide = translate_all(translator.beam, texts, beam_width=tf.constant(1000))
    widest = translate_all(translator.beam, texts, beam_width=tf.constant(translator.target_vocabulary.size - 2))
    assert wide == widest  # the width is clipped to the vocabulary


def test_unknown_words_are_copied_from_the_attended_source_word():
    # Make [UNK] the decoder's only choice: every output word must then be a source word as written.
    keras.utils.set_random_seed(3)
    vocabularies = fit_vocabularies(ENGLISH, VIETNAMESE, 100, 100)
    model = build_model(ModelConfig(rnn_units=16, embedding_dim=8), vocabularies.source.size, vocabularies.target.size)
    bias = model.get_layer("logits").bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[UNK_ID]], [100.0]))
    copying = Translator(model, vocabularies.source, vocabularies.target, vocabularies.truecasing, 3, 4)
    text = "Obama visited Zanzibar in 1999"
    for method in (copying.greedy, copying.translate):
        (translation,), _ = translate_all(method, [text])
        words = translation.split()
        assert len(words) == 4 and set(words) <= set(text.split()) | {"Visited", "In"}, translation
        assert "[UNK]" not in translation
    source_ids = copying.source_ids(tf.constant([text]))
    copies = copying.unknown_words(tf.constant([text]), source_ids, tf.fill([1, 4], UNK_ID))
    assert set(copies.numpy()[0]) <= {w.encode() for w in text.split()}
    # An attention-free model has nothing to copy from: [UNK] stays.
    plain = build_model(ModelConfig(rnn_units=16, embedding_dim=8, attention="none"), vocabularies.source.size,
                        vocabularies.target.size)
    plain.get_layer("logits").bias.assign(model.get_layer("logits").bias)
    plain_translator = Translator(plain, vocabularies.source, vocabularies.target, vocabularies.truecasing, 3, 4)
    assert translate_all(plain_translator.greedy, [text])[0] == ["[UNK] [UNK] [UNK] [UNK]"]


def test_length_penalty_is_tuned_on_validation_without_retracing(translator):
    from tasks.translation.evaluate import tune_length_penalty

    before = translator.beam.experimental_get_tracing_count()
    tuning = tune_length_penalty(translator, ENGLISH, VIETNAMESE, 3, (0.0, 1.0, 2.0))
    assert set(tuning["validation_bleu_beam"]) == {0.0, 1.0, 2.0}
    best = max(tuning["validation_bleu_beam"].values())
    assert tuning["validation_bleu_beam"][tuning["chosen"]] == best
    assert float(translator.length_penalty.numpy()) == tuning["chosen"]
    assert translator.beam.experimental_get_tracing_count() <= max(before, 1)  # a variable, not a constant
    translator.length_penalty.assign(0.0)


def _members(count: int, **settings):
    """`count` randomly initialised models of one config (seeds 10, 11, ...): an untrained seed ensemble."""
    config = ModelConfig(rnn_units=16, embedding_dim=8, dropout=0.0, **settings)
    members = []
    for seed in range(10, 10 + count):
        keras.utils.set_random_seed(seed)
        members.append(build_model(config, source_vocab_size=30, target_vocab_size=12))
    return members


def _teacher_forced_log_probs(model, source, ids):
    """log p(y_t | y_<t, x) (B, L, V) of the decoded `ids` (B, L) under the teacher-forced model."""
    target_in = tf.concat([tf.fill([tf.shape(ids)[0], 1], START_ID), ids[:, :-1]], axis=1)
    return tf.nn.log_softmax(model({"source": source, "target_in": target_in}, training=False), axis=-1).numpy()


@pytest.mark.parametrize("feeding", [False, True])
def test_ensemble_scores_are_the_log_of_the_members_mean_probability(feeding):
    members = _members(3, input_feeding=feeding)
    ensemble = EnsembleDecoder([StepDecoder(member) for member in members])
    rng = np.random.default_rng(0)
    source = _source([list(rng.integers(4, 30, size=n)) for n in (5, 3, 7, 1)])
    ids, scores, weights = greedy_search(ensemble, source, MAX_LENGTH)
    ids = ids.numpy()
    mean_probs = np.mean([np.exp(_teacher_forced_log_probs(m, source, tf.constant(ids))) for m in members], axis=0)
    picked = np.log(np.take_along_axis(mean_probs, ids[..., None], axis=-1)[..., 0])  # (B, L)
    expected = np.where(ids != PAD_ID, picked, 0.0).sum(axis=1)  # up to and including [END]
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert weights.shape[:2] == ids.shape and np.allclose(weights.numpy()[ids != PAD_ID].sum(-1), 1.0, atol=1e-5)
    greedy_scores = scores.numpy()
    for width in (1, 3):
        beam_ids, beam_scores = beam_search(ensemble, source, width, MAX_LENGTH)
        assert np.all(beam_scores.numpy() >= greedy_scores - 1e-5)
        if width == 1:
            np.testing.assert_array_equal(beam_ids.numpy(), ids)


def test_an_ensemble_of_one_model_twice_translates_like_the_model():
    (model,) = _members(1)
    rng = np.random.default_rng(1)
    source = _source([list(rng.integers(4, 30, size=n)) for n in (4, 6, 2)])
    alone, twice = StepDecoder(model), EnsembleDecoder([StepDecoder(model), StepDecoder(model)])
    for search in (lambda d: greedy_search(d, source, MAX_LENGTH)[:2], lambda d: beam_search(d, source, 3, MAX_LENGTH)):
        (ids, scores), (ensemble_ids, ensemble_scores) = search(alone), search(twice)
        np.testing.assert_array_equal(ensemble_ids.numpy(), ids.numpy())
        np.testing.assert_allclose(ensemble_scores.numpy(), scores.numpy(), rtol=1e-5, atol=1e-5)


def test_ensemble_members_must_share_the_target_vocabulary():
    small = build_model(ModelConfig(rnn_units=8, embedding_dim=8), 30, 12)
    large = build_model(ModelConfig(rnn_units=8, embedding_dim=8), 30, 13)
    with pytest.raises(ValueError, match="one target vocabulary"):
        EnsembleDecoder([StepDecoder(small), StepDecoder(large)])
