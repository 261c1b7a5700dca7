"""SimpleRNNCell: the lesson's s_t = f(U x_t + W s_{t-1} + b) inside keras.layers.RNN."""

import numpy as np
import pytest

import keras
import tensorflow as tf

from rnn_layers import SimpleRNNCell

BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5


@pytest.fixture
def sequences():
    return np.random.default_rng(0).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


def paired_layers(activation="tanh", **rnn_kwargs):
    """Our RNN(SimpleRNNCell) and keras.layers.SimpleRNN, built, sharing the same weights."""
    ours = keras.layers.RNN(SimpleRNNCell(UNITS, activation=activation), **rnn_kwargs)
    reference = keras.layers.SimpleRNN(UNITS, activation=activation, **rnn_kwargs)
    ours.build((BATCH, STEPS, FEATURES))
    reference.build((BATCH, STEPS, FEATURES))
    reference.set_weights(ours.get_weights())  # U, W, b == kernel, recurrent_kernel, bias
    return ours, reference


def test_weights_are_named_after_the_lesson_and_shaped_like_keras():
    rnn = keras.layers.RNN(SimpleRNNCell(UNITS))
    rnn.build((None, STEPS, FEATURES))
    assert [(w.name, tuple(w.shape)) for w in rnn.weights] == [
        ("U", (FEATURES, UNITS)),
        ("W", (UNITS, UNITS)),
        ("b", (UNITS,)),
    ]
    no_bias = keras.layers.RNN(SimpleRNNCell(UNITS, use_bias=False))
    no_bias.build((None, STEPS, FEATURES))
    assert [w.name for w in no_bias.weights] == ["U", "W"]


def test_exact_numbers_from_constant_weights():
    # U = 1, W = 0.5, b = 0.1 with one unit and relu: s_t = x_t + 0.5 s_{t-1} + 0.1.
    cell = SimpleRNNCell(
        1,
        activation="relu",
        kernel_initializer="ones",
        recurrent_initializer=keras.initializers.Constant(0.5),
        bias_initializer=keras.initializers.Constant(0.1),
    )
    x = np.array([[[1.0], [2.0], [-10.0], [4.0]]], dtype="float32")
    states = keras.layers.RNN(cell, return_sequences=True)(x)
    # s_1 = 1.1, s_2 = 2 + 0.55 + 0.1 = 2.65, s_3 = relu(-10 + 1.325 + 0.1) = 0, s_4 = 4.1
    np.testing.assert_allclose(np.asarray(states)[0, :, 0], [1.1, 2.65, 0.0, 4.1], rtol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize(
    "rnn_kwargs",
    [
        {},
        {"return_sequences": True},
        {"go_backwards": True, "return_sequences": True},
        {"unroll": True, "return_sequences": True},
        {"return_state": True},
    ],
    ids=["last", "sequences", "go_backwards", "unroll", "return_state"],
)
def test_matches_keras_simple_rnn_with_the_same_weights(sequences, activation, rnn_kwargs):
    ours, reference = paired_layers(activation, **rnn_kwargs)
    for got, expected in zip(tf.nest.flatten(ours(sequences)), tf.nest.flatten(reference(sequences))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_masked_steps_carry_the_state_through(sequences):
    ours, reference = paired_layers(return_sequences=True)
    mask = np.ones((BATCH, STEPS), dtype=bool)
    mask[1, 3:] = False  # sequence 1 has length 3
    mask[2, 1] = False  # a hole: step 2 of sequence 2 is skipped
    states = np.asarray(ours(sequences, mask=mask))
    np.testing.assert_allclose(states, np.asarray(reference(sequences, mask=mask)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(states[1, 3:], np.repeat(states[1, 2:3], STEPS - 3, axis=0))
    np.testing.assert_array_equal(states[2, 1], states[2, 0])
    # Padding changes nothing: the last state equals the state of the unpadded sequence.
    last = keras.layers.RNN(ours.cell)
    np.testing.assert_allclose(
        np.asarray(last(sequences[1:2, :3]))[0], states[1, -1], rtol=1e-6, atol=1e-6
    )


def test_masking_layer_feeds_the_mask(sequences):
    padded = sequences.copy()
    padded[0, 4:] = 0.0
    inputs = keras.Input((None, FEATURES))
    outputs = keras.layers.RNN(SimpleRNNCell(UNITS))(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, outputs)
    short = model(padded[:1, :4])  # the same sequence without its padding
    np.testing.assert_allclose(np.asarray(model(padded))[0], np.asarray(short)[0], rtol=1e-6, atol=1e-6)


def test_stateful_continues_from_the_last_state(sequences):
    stateful = keras.layers.RNN(SimpleRNNCell(UNITS), stateful=True, return_sequences=True)
    stateful.build((BATCH, STEPS, FEATURES))
    whole = keras.layers.RNN(SimpleRNNCell(UNITS), return_sequences=True)
    whole.build((BATCH, STEPS, FEATURES))
    whole.set_weights(stateful.get_weights())
    halves = np.concatenate([stateful(sequences[:, :3]), stateful(sequences[:, 3:])], axis=1)
    np.testing.assert_allclose(halves, np.asarray(whole(sequences)), rtol=1e-5, atol=1e-6)
    stateful.reset_state()
    np.testing.assert_allclose(
        np.asarray(stateful(sequences[:, :3])), np.asarray(whole(sequences))[:, :3], rtol=1e-5, atol=1e-6
    )


def test_bidirectional_matches_keras(sequences):
    ours = keras.layers.Bidirectional(keras.layers.RNN(SimpleRNNCell(UNITS), return_sequences=True))
    reference = keras.layers.Bidirectional(keras.layers.SimpleRNN(UNITS, return_sequences=True))
    ours.build((BATCH, STEPS, FEATURES))
    reference.build((BATCH, STEPS, FEATURES))
    reference.set_weights(ours.get_weights())
    got = np.asarray(ours(sequences))
    assert got.shape == (BATCH, STEPS, 2 * UNITS)
    np.testing.assert_allclose(got, np.asarray(reference(sequences)), rtol=1e-5, atol=1e-6)


def test_input_dropout_uses_one_mask_per_sequence():
    # U = I, W = 0, b = 0, relu and the same positive x_t at every step: s_t = relu(x * mask / keep),
    # so every step is identical exactly when the mask is drawn once per sequence.
    cell = SimpleRNNCell(
        8, activation="relu", kernel_initializer="identity", recurrent_initializer="zeros",
        dropout=0.5, seed=3,
    )
    x = np.ones((4, 10, 8), dtype="float32")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    states = np.asarray(rnn(x, training=True))
    np.testing.assert_array_equal(states, np.repeat(states[:, :1], 10, axis=1))
    assert set(np.unique(states)) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - 0.5)
    np.testing.assert_array_equal(np.asarray(rnn(x, training=False)), np.ones_like(x))


def test_recurrent_dropout_uses_one_mask_per_sequence():
    # U = 0, W = I, b = 1, relu: s_t = 1 + s_{t-1} * mask / keep. A unit whose state is
    # dropped stays at 1 for ever; a kept one grows (1, 3, 7, ...). A fresh mask per step
    # would send some units back to 1 after they had grown.
    cell = SimpleRNNCell(
        16, activation="relu", kernel_initializer="zeros", recurrent_initializer="identity",
        bias_initializer="ones", recurrent_dropout=0.5, seed=5,
    )
    rnn = keras.layers.RNN(cell, return_sequences=True)
    states = np.asarray(rnn(np.zeros((4, 6, 2), dtype="float32"), training=True))
    dropped = states[:, 1] == 1.0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(states[:, 1:][np.repeat(dropped[:, None], 5, axis=1)], 1.0)
    assert np.all(np.diff(states, axis=1)[~np.repeat(dropped[:, None], 5, axis=1)] > 0)


def test_regularizers_and_constraints_reach_the_weights():
    cell = SimpleRNNCell(
        UNITS, kernel_regularizer="l2", recurrent_regularizer="l2", bias_regularizer="l1",
        kernel_constraint="non_neg", recurrent_constraint="unit_norm", bias_constraint="max_norm",
    )
    rnn = keras.layers.RNN(cell)
    rnn.build((None, STEPS, FEATURES))
    assert len(rnn.losses) == 3
    assert isinstance(cell.U.constraint, keras.constraints.NonNeg)
    assert isinstance(cell.W.constraint, keras.constraints.UnitNorm)
    assert isinstance(cell.b.constraint, keras.constraints.MaxNorm)


def test_get_config_round_trip():
    cell = SimpleRNNCell(
        7, activation="relu", use_bias=False, kernel_initializer="he_normal",
        kernel_regularizer="l2", recurrent_constraint="non_neg", dropout=0.25,
        recurrent_dropout=0.1, seed=11,
    )
    config = cell.get_config()
    assert config["units"] == 7 and config["activation"] == "relu" and config["seed"] == 11
    assert SimpleRNNCell.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(cell)
    assert serialized["registered_name"] == "rnn_layers>SimpleRNNCell"
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config


def small_model():
    inputs = keras.Input((STEPS, FEATURES))
    masked = keras.layers.Masking(0.0)(inputs)
    states = keras.layers.Bidirectional(keras.layers.RNN(SimpleRNNCell(UNITS, dropout=0.2)))(masked)
    outputs = keras.layers.Dense(3, activation="softmax")(states)
    return keras.Model(inputs, outputs)


def test_keras_file_round_trip_keeps_outputs(tmp_path, sequences):
    model = small_model()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)  # registered: no custom_objects needed
    np.testing.assert_array_equal(np.asarray(reloaded(sequences)), np.asarray(model(sequences)))
    assert isinstance(reloaded.layers[2].forward_layer.cell, SimpleRNNCell)


@pytest.mark.slow
def test_saved_model_round_trip_keeps_outputs(tmp_path, sequences):
    model = small_model()
    model.export(str(tmp_path / "export"))
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_array_equal(np.asarray(reloaded.serve(sequences)), np.asarray(model(sequences)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "units must be a positive integer, got 0"),
        ({"units": -3}, "units must be a positive integer, got -3"),
        ({"units": 2.5}, "units must be a positive integer, got 2.5"),
        ({"units": 4, "activation": "sigmoid"}, "activation must be one of .*got 'sigmoid'"),
        ({"units": 4, "dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"units": 4, "dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"units": 4, "recurrent_dropout": 1.5}, r"recurrent_dropout must be in \[0, 1\), got 1.5"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimpleRNNCell(**kwargs)
