"""Vanishing gradients: ||ds_T/ds_t||, ||dL/ds_t|| in a Keras model, and the TensorBoard logger."""

import hashlib

import numpy as np
import pytest

import keras
import tensorflow as tf

from rnn_layers import CellRNN, SimpleRNNCell, bptt, vanishing
from rnn_layers.fast_rnn import SimpleRNN

BATCH, STEPS, FEATURES, UNITS, CLASSES = 3, 8, 3, 4, 2


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def test_jacobian_norms_of_a_linear_regime_are_powers_of_w(rng):
    # ReLU with every pre-activation positive is linear: ds_T/ds_i = (W^T)^(T-i) exactly.
    params = {
        "U": rng.uniform(0.5, 1.0, size=(FEATURES, UNITS)),
        "W": rng.uniform(0.0, 0.3, size=(UNITS, UNITS)),
        "b": np.full(UNITS, 0.1),
    }
    x = rng.uniform(0.1, 1.0, size=(STEPS, FEATURES))
    norms = vanishing.jacobian_norms(params, x, "relu")
    expected = [
        np.linalg.norm(np.linalg.matrix_power(params["W"].T, STEPS - i), ord=2)
        for i in range(1, STEPS + 1)
    ]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)
    assert norms[-1] == pytest.approx(1.0)


def test_jacobian_norms_match_finite_differences_for_tanh(rng):
    params = bptt.random_parameters(FEATURES, UNITS, CLASSES, rng)
    x = rng.normal(size=(STEPS, FEATURES))
    states, _ = bptt.recurrence(params, x[None], "tanh")
    i, h = 3, 1e-6

    def s_T_from(s_i):  # rerun steps i+1..T starting from a given s_i
        s = s_i
        for t in range(i, STEPS):
            s = np.tanh(x[t] @ params["U"] + s @ params["W"] + params["b"])
        return s

    jacobian = np.stack(
        [(s_T_from(states[0, i] + h * e) - s_T_from(states[0, i] - h * e)) / (2 * h) for e in np.eye(UNITS)],
        axis=1,
    )  # column k = ds_T / ds_i[k]
    norms = vanishing.jacobian_norms(params, x, "tanh")
    assert norms[i - 1] == pytest.approx(np.linalg.norm(jacobian, ord=2), rel=1e-7)


def test_spectral_radius_below_one_vanishes_above_one_explodes_with_relu(rng):
    x = rng.uniform(0.1, 1.0, size=(30, FEATURES))
    base = {"U": rng.uniform(0.5, 1.0, size=(FEATURES, 6)), "b": np.full(6, 0.1)}
    small = {**base, "W": np.abs(vanishing.random_recurrent_matrix(6, 0.5, rng))}
    small["W"] *= 0.5 / np.max(np.abs(np.linalg.eigvals(small["W"])))
    large = {**small, "W": small["W"] * 3.0}  # spectral radius 1.5, still positive entries
    assert np.max(np.abs(np.linalg.eigvals(large["W"]))) == pytest.approx(1.5)
    assert vanishing.jacobian_norms(small, x, "relu")[0] < 1e-6
    assert vanishing.jacobian_norms(large, x, "relu")[0] > 1e3


def lesson_model(params, many_to_many, recurrent_layer):
    """Masking -> RNN -> softmax Dense, float64, with the given U, W, b, V, c; summed loss as in bptt."""
    inputs = keras.Input((STEPS, FEATURES), dtype="float64")
    masked = keras.layers.Masking(0.0, dtype="float64")(inputs)
    states = recurrent_layer(masked)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", dtype="float64")(states)
    model = keras.Model(inputs, outputs)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(reduction="sum", dtype="float64"))
    recurrent_layer.set_weights([params["U"], params["W"], params["b"]])
    model.layers[-1].set_weights([params["V"], params["c"]])
    return model


@pytest.mark.parametrize("many_to_many", [False, True], ids=["many_to_one", "many_to_many"])
@pytest.mark.parametrize("layer_type", ["cell", "fast"])
def test_state_gradient_norms_equal_hand_written_bptt(rng, many_to_many, layer_type):
    params = bptt.random_parameters(FEATURES, UNITS, CLASSES, rng)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    x[1, 5:] = 0.0  # padding, masked by the Masking layer
    x[2, 2:] = 0.0
    labels = rng.integers(0, CLASSES, size=(BATCH, STEPS) if many_to_many else (BATCH,))
    if layer_type == "cell":
        cell = SimpleRNNCell(UNITS, dtype="float64")
        layer = CellRNN(cell, return_sequences=many_to_many, dtype="float64")
    else:
        layer = SimpleRNN(UNITS, return_sequences=many_to_many, dtype="float64")
    model = lesson_model(params, many_to_many, layer)
    got = vanishing.state_gradient_norms(model, x, labels)
    mask = np.any(x != 0.0, axis=-1)
    expected = bptt.loss_and_gradients(params, x, labels, "tanh", many_to_many, mask).state_grad_norms
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    # The model itself is untouched: its layer runs its own call again afterwards.
    assert "call" not in vars(layer) and not layer.recording


def test_find_recurrent_layer(rng):
    inputs = keras.Input((STEPS, FEATURES))
    bidirectional = keras.layers.Bidirectional(CellRNN(SimpleRNNCell(UNITS)), name="bi")
    model = keras.Model(inputs, keras.layers.Dense(1)(bidirectional(inputs)))
    assert vanishing.find_recurrent_layer(model) is bidirectional.forward_layer
    backward = bidirectional.backward_layer
    assert vanishing.find_recurrent_layer(model, backward.name) is backward
    model.compile(loss="mse")
    norms = vanishing.state_gradient_norms(
        model, rng.normal(size=(2, STEPS, FEATURES)), np.ones((2, 1)), backward
    )
    assert norms.shape == (STEPS,) and np.all(norms > 0)
    lstm = keras.Model(inputs, keras.layers.LSTM(2)(inputs), name="lstm_model")
    with pytest.raises(ValueError, match="a layer of model 'lstm_model' is not rnn_layers.CellRNN"):
        vanishing.find_recurrent_layer(lstm)
    plain = keras.Model(inputs, keras.layers.RNN(SimpleRNNCell(2))(inputs), name="plain")
    with pytest.raises(ValueError, match=r"a plain keras.layers.RNN\(SimpleRNNCell\) has none"):
        vanishing.find_recurrent_layer(plain)


# SHA-256 of the float64 bytes of the 8 x 6 norms the recorder printed on the models of the test below
# before it had a public path (it swapped `layer.call` on the instance; run at commit 7ebe3d0).
PATCHED_CALL_NORMS_SHA256 = "43bd94e96de7048a54b9d22d1419622db159ec40f75ca9ccf2e7d2d897cf681a"


def test_the_recording_mode_gives_the_numbers_of_the_patched_call_and_leaves_call_alone():
    rng = np.random.default_rng(7)
    batch, steps = 3, 6
    params = bptt.random_parameters(FEATURES, UNITS, CLASSES, rng)
    x = rng.normal(size=(batch, steps, FEATURES))
    x[1, 4:] = 0.0  # trailing and leading padding
    x[2, :2] = 0.0
    norms = []
    for kind in ("cell", "fast"):
        for many_to_many in (False, True):
            for backwards in (False, True):
                options = dict(return_sequences=many_to_many, go_backwards=backwards, dtype="float64")
                layer = (CellRNN(SimpleRNNCell(UNITS, dtype="float64"), **options) if kind == "cell"
                         else SimpleRNN(UNITS, **options))
                inputs = keras.Input((steps, FEATURES), dtype="float64")
                # the old recorder crashed with go_backwards and a mask (a reversed() iterator read twice)
                states = layer(inputs if backwards else keras.layers.Masking(0.0, dtype="float64")(inputs))
                model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", dtype="float64")(states))
                model.compile(loss=keras.losses.SparseCategoricalCrossentropy(reduction="sum", dtype="float64"))
                layer.set_weights([params["U"], params["W"], params["b"]])
                model.layers[-1].set_weights([params["V"], params["c"]])
                labels = rng.integers(0, CLASSES, size=(batch, steps) if many_to_many else (batch,))
                call = type(layer).call
                before = model.predict(x, verbose=0)
                norms.append(vanishing.state_gradient_norms(model, x, labels))
                assert "call" not in vars(layer) and type(layer).call is call and not layer.recording
                np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    digest = hashlib.sha256(np.concatenate(norms).astype(np.float64).tobytes()).hexdigest()
    assert digest == PATCHED_CALL_NORMS_SHA256, [n.tolist() for n in norms]


@pytest.mark.parametrize("layer_type", ["cell", "fast"])
def test_backwards_with_a_mask_equals_bptt_on_the_reversed_input(rng, layer_type):
    # go_backwards reads x_T .. x_1: bptt on the reversed sequence (its mask reversed too) is the same model.
    params = bptt.random_parameters(FEATURES, UNITS, CLASSES, rng)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    x[1, 5:] = 0.0
    labels = rng.integers(0, CLASSES, size=(BATCH,))
    layer = (CellRNN(SimpleRNNCell(UNITS, dtype="float64"), go_backwards=True, dtype="float64")
             if layer_type == "cell" else SimpleRNN(UNITS, go_backwards=True, dtype="float64"))
    got = vanishing.state_gradient_norms(lesson_model(params, False, layer), x, labels)
    reversed_x = x[:, ::-1]
    mask = np.any(reversed_x != 0.0, axis=-1)
    expected = bptt.loss_and_gradients(params, reversed_x, labels, "tanh", False, mask).state_grad_norms
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def read_events(log_dir):
    """{tag: [(step, plugin name, value tensor)]} from every event file under log_dir."""
    found = {}
    for path in tf.io.gfile.glob(str(log_dir / "*" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                found.setdefault(value.tag, []).append(
                    (event.step, value.metadata.plugin_data.plugin_name, tensor)
                )
    return found


@pytest.mark.slow
def test_logger_writes_plot_histogram_and_scalars_during_fit(tmp_path, rng):
    inputs = keras.Input((None, FEATURES))
    states = CellRNN(SimpleRNNCell(UNITS))(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(states))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.normal(size=(16, STEPS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=16)
    logger = vanishing.GradientNormLogger(tmp_path, x[:4], y[:4], every=2)
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[logger])

    events = read_events(tmp_path)
    assert (tmp_path / "gradients").is_dir()
    plots = events["state_gradient_norm/plot"]
    assert [(step, plugin) for step, plugin, _ in plots] == [(1, "images"), (3, "images")]
    width, height, png = plots[0][2]
    assert int(width) > 100 and int(height) > 100
    assert tf.image.decode_png(png).shape[-1] == 4
    histograms = events["state_gradient_norm/log10"]
    assert [(step, plugin) for step, plugin, _ in histograms] == [(1, "histograms"), (3, "histograms")]
    for tag in ("first_step", "last_step", "first_over_last"):
        scalars = events[f"state_gradient_norm/{tag}"]
        assert [step for step, _, _ in scalars] == [1, 3]
        assert all(plugin == "scalars" and np.isfinite(value) and value > 0 for _, plugin, value in scalars)
    # The logged numbers are the norms of the final model on the sample batch.
    final = vanishing.state_gradient_norms(model, x[:4], y[:4])
    assert float(events["state_gradient_norm/last_step"][-1][2]) == pytest.approx(final[-1], rel=1e-5)


def test_logger_rejects_bad_every(tmp_path):
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        vanishing.GradientNormLogger(tmp_path, np.zeros((1, 2, 3)), np.zeros(1), every=0)


def test_vanishing_curves_for_the_notebook():
    curves = vanishing.vanishing_curves(steps=30)
    assert list(curves) == [
        "tanh, rho(W) = 0.5", "tanh, rho(W) = 2.0", "relu, rho(W) = 0.5", "relu, rho(W) = 2.0"
    ]
    assert all(norms.shape == (30,) and norms[-1] == pytest.approx(1.0) for norms in curves.values())
    assert curves["tanh, rho(W) = 0.5"][0] < 1e-9  # vanishes over 29 Jacobians
    assert curves["relu, rho(W) = 2.0"][0] > 1e2  # explodes
