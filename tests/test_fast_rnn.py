"""rnn_layers.SimpleRNN: same numbers and gradients as keras.layers.RNN(SimpleRNNCell), faster path."""

import json

import numpy as np
import pytest

import keras
import tensorflow as tf

from rnn_layers import SimpleRNN, SimpleRNNCell
from rnn_layers.chain_kernel import chain_ops
from tasks.common.layers import recurrent_layer

BATCH, FEATURES, UNITS = 4, 3, 5
STEPS = 19


def lengths_mask(steps=STEPS):
    """Right padding, left padding, a hole in the middle, and one sequence fully masked."""
    mask = np.ones((BATCH, steps), bool)
    mask[0, steps - 4:] = False
    mask[1, :9] = False
    mask[2, 3] = False
    mask[3, :] = False
    return mask


def paired_layers(dtype="float64", steps=STEPS, activation="tanh", **options):
    """keras.layers.RNN(SimpleRNNCell) and the fast layer with the same options and weights."""
    cell_options = {k: options.pop(k) for k in ("use_bias",) if k in options}
    reference = keras.layers.RNN(
        SimpleRNNCell(UNITS, activation=activation, dtype=dtype, **cell_options), dtype=dtype,
        **{k: v for k, v in options.items() if k != "unroll"},
    )
    fast = SimpleRNN(UNITS, activation=activation, dtype=dtype, **cell_options, **options)
    reference.build((None, steps, FEATURES))
    fast.build((None, steps, FEATURES))
    fast.set_weights(reference.get_weights())
    return reference, fast


@pytest.fixture(params=["compiled", "spans"])
def bptt_chain(request, monkeypatch):
    """The BPTT chain of the loop in the compiled ops of rnn_layers/kernels (what training runs) or in TensorFlow ops."""
    compiled = request.param == "compiled"
    assert not compiled or chain_ops() is not None, "the chain ops are not built: run `make install`"
    monkeypatch.setattr(SimpleRNN, "use_compiled_chain", compiled)
    return request.param


def outputs_and_gradients(layer, x, s0, mask, training, graph):
    """Every output, and d(loss)/d(x, s0, U, W, b) for a loss that weighs each output entry."""

    def run(x, s0):
        with tf.GradientTape() as tape:
            tape.watch([x, s0])
            outputs = layer(x, initial_state=[s0], mask=mask, training=training)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            loss = 0.0
            for output in outputs:
                size = tf.cast(tf.size(output), output.dtype)
                weights = tf.reshape(tf.cos(tf.range(size)), tf.shape(output))
                loss += tf.reduce_sum(weights * output)
        return outputs, tape.gradient(loss, [x, s0, *layer.trainable_variables])

    if graph == "unknown_length":  # T unknown when traced, as in the tasks' padded batches
        spec = tf.TensorSpec((None, None, x.shape[-1]), x.dtype), tf.TensorSpec(s0.shape, s0.dtype)
        run = tf.function(run, input_signature=spec)
    elif graph:
        run = tf.function(run)
    outputs, gradients = run(tf.constant(x), tf.constant(s0))
    return [np.asarray(t) for t in outputs + gradients]


@pytest.mark.parametrize(
    "options, masked",
    [
        (dict(return_sequences=True, return_state=True), False),
        (dict(return_sequences=True, return_state=True), True),
        (dict(return_sequences=False, return_state=True), True),
        (dict(return_sequences=False), False),
        (dict(return_sequences=True, go_backwards=True), True),
        (dict(return_sequences=False, return_state=True, go_backwards=True), True),
        (dict(return_sequences=True, return_state=True, unroll=False), True),
        (dict(return_sequences=False, unroll=False, go_backwards=True), True),
        (dict(return_sequences=True, activation="relu"), True),
        (dict(return_sequences=True, zero_output_for_mask=True, go_backwards=True), True),
        (dict(return_sequences=False, zero_output_for_mask=True, unroll=False), True),
        (dict(return_sequences=False, return_state=True, activation="relu", use_bias=False), False),
    ],
)
@pytest.mark.parametrize("gradient", ["bptt_compiled", "bptt_spans", "autodiff"])
def test_same_outputs_and_gradients_as_the_cell_in_float64(options, masked, gradient, monkeypatch):
    # training=True takes the custom BPTT gradient (its chain compiled or in TensorFlow ops),
    # training=False lets TF differentiate.
    training = gradient != "autodiff"
    monkeypatch.setattr(SimpleRNN, "use_compiled_chain", gradient == "bptt_compiled")
    reference, fast = paired_layers(**options)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    s0 = rng.normal(size=(BATCH, UNITS))
    mask = tf.constant(lengths_mask()) if masked else None
    expected = outputs_and_gradients(reference, x, s0, mask, training, graph=False)
    actual = outputs_and_gradients(fast, x, s0, mask, training, graph=True)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("steps", [1, 4, 7, 9])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_the_loop_over_spans_matches_the_cell_at_any_length(steps, return_sequences, masked, bptt_chain):
    # The loop pads T to whole spans of SPAN_STEPS steps with masked steps: 1, 7 and 9 need padding.
    reference, fast = paired_layers(steps=steps, return_sequences=return_sequences, return_state=True)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(BATCH, steps, FEATURES))
    s0 = rng.normal(size=(BATCH, UNITS))
    mask = tf.constant(lengths_mask(steps + 4)[:, 4:]) if masked else None
    expected = outputs_and_gradients(reference, x, s0, mask, True, graph=False)
    actual = outputs_and_gradients(fast, x, s0, mask, True, graph="unknown_length")
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch, steps, features, units, masked", [
    (64, 30, 64, 128, False),  # the benchmark's headline shape: fixed T, unrolled
    (64, 256, 64, 64, True),  # the sentiment shape: unknown T, masked, the loop over spans
])
@pytest.mark.parametrize("watch_inputs", [True, False], ids=["with_dx", "weights_only"])
def test_benchmark_shapes_match_the_cell_in_float64(batch, steps, features, units, masked, watch_inputs,
                                                    bptt_chain):
    # benchmarks/rnn_throughput.py trains the layer on constant inputs, so TensorFlow leaves out
    # dL/dx there (weights_only); the tasks need it (with_dx). Both gradients equal the cell's.
    reference = keras.layers.RNN(SimpleRNNCell(units, dtype="float64"), dtype="float64")
    fast = SimpleRNN(units, dtype="float64", unroll=False if bptt_chain == "compiled" else None)
    for layer in (reference, fast):
        layer.build((None, steps, features))
    fast.set_weights(reference.get_weights())
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(size=(batch, steps, features)))
    lengths = rng.integers(steps // 4, steps + 1, batch)
    mask = tf.constant(np.arange(steps) < lengths[:, None]) if masked else None
    signature = [tf.TensorSpec((batch, None if masked else steps, features), tf.float64)]

    def run(layer):
        @tf.function(input_signature=signature)
        def outputs_and_gradients(x):
            with tf.GradientTape() as tape:
                if watch_inputs:
                    tape.watch(x)
                output = layer(x, mask=mask, training=True)
                loss = tf.reduce_sum(tf.cos(tf.range(tf.size(output), dtype=tf.float64)) * tf.reshape(output, [-1]))
            sources = [*layer.trainable_variables, *([x] if watch_inputs else [])]
            return [output, *tape.gradient(loss, sources)]

        return [np.asarray(t) for t in outputs_and_gradients(x)]

    for got, want in zip(run(fast), run(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_float32_gradients_agree_within_rounding():
    reference, fast = paired_layers(dtype="float32", return_sequences=True)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    s0 = np.zeros((BATCH, UNITS), "float32")
    expected = outputs_and_gradients(reference, x, s0, None, True, graph=True)
    actual = outputs_and_gradients(fast, x, s0, None, True, graph=True)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_exact_numbers_from_constant_weights_with_a_masked_step():
    # One relu unit, U = 1, W = 0.5, b = 0.1: s_t = relu(x_t + 0.5 s_{t-1} + 0.1).
    layer = SimpleRNN(
        1, activation="relu", kernel_initializer="ones",
        recurrent_initializer=keras.initializers.Constant(0.5),
        bias_initializer=keras.initializers.Constant(0.1), return_sequences=True,
    )
    x = np.array([[[1.0], [2.0], [7.0], [-10.0], [4.0]]], "float32")
    mask = np.array([[True, True, False, True, True]])
    states = np.asarray(layer(x, mask=mask))[0, :, 0]
    # s_1 = 1.1, s_2 = 2.65, masked step keeps 2.65, s_4 = relu(-10 + 1.325 + 0.1) = 0, s_5 = 4.1
    np.testing.assert_allclose(states, [1.1, 2.65, 2.65, 0.0, 4.1], rtol=1e-6)


def test_unknown_length_uses_the_loop_and_matches_the_cell():
    inputs = keras.Input((None, FEATURES))
    reference = keras.Model(inputs, keras.layers.RNN(SimpleRNNCell(UNITS))(inputs))
    fast = keras.Model(inputs, SimpleRNN(UNITS)(inputs))
    fast.set_weights(reference.get_weights())
    x = np.random.default_rng(3).normal(size=(2, 7, FEATURES)).astype("float32")
    np.testing.assert_allclose(fast(x), reference(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unroll=True needs a fixed number of time steps"):
        SimpleRNN(UNITS, unroll=True)(keras.Input((None, FEATURES)))


def test_masking_from_an_embedding_in_a_functional_model():
    def build(layer):
        tokens = keras.Input((6,), dtype="int32")
        embedded = keras.layers.Embedding(10, FEATURES, mask_zero=True)(tokens)
        return keras.Model(tokens, layer(embedded))

    reference = build(recurrent_layer(UNITS, return_sequences=True, implementation="cell"))
    fast = build(recurrent_layer(UNITS, return_sequences=True, implementation="fast"))
    assert isinstance(fast.layers[-1], SimpleRNN)
    fast.set_weights(reference.get_weights())
    tokens = np.array([[3, 4, 5, 0, 0, 0], [0, 0, 7, 8, 9, 1]], "int32")
    np.testing.assert_allclose(fast(tokens), reference(tokens), rtol=1e-5, atol=1e-6)
    # Padding after the end: the output repeats the last real state, as keras.layers.RNN does.
    np.testing.assert_array_equal(fast(tokens)[0, 3:], np.repeat(fast(tokens)[0, 2:3], 3, axis=0))


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_masking_matches_the_cell(return_sequences):
    def build(implementation):
        tokens = keras.Input((None,), dtype="int32")
        embedded = keras.layers.Embedding(10, FEATURES, mask_zero=True)(tokens)
        layer = recurrent_layer(UNITS, return_sequences=return_sequences, implementation=implementation)
        return keras.Model(tokens, keras.layers.Bidirectional(layer)(embedded))

    reference, fast = build("cell"), build("fast")
    fast.set_weights(reference.get_weights())
    tokens = tf.constant([[3, 4, 5, 0, 0, 0, 0], [2, 7, 8, 9, 1, 6, 5]])

    def outputs_and_gradients(model):
        with tf.GradientTape() as tape:
            outputs = model(tokens, training=True)
            weights = np.cos(np.arange(np.prod(outputs.shape))).reshape(outputs.shape)
            loss = tf.reduce_sum(outputs * weights.astype("float32"))
        gradients = tape.gradient(loss, model.trainable_variables)  # the embedding's: sparse
        return [outputs] + [tf.convert_to_tensor(gradient) for gradient in gradients]

    for got, want in zip(outputs_and_gradients(fast), outputs_and_gradients(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_encoder_state_feeds_a_decoder_in_a_functional_model():
    def build(implementation):
        source, target = keras.Input((5, FEATURES)), keras.Input((4, FEATURES))
        _, state = recurrent_layer(UNITS, return_state=True, implementation=implementation)(source)
        decoded = recurrent_layer(UNITS, return_sequences=True, implementation=implementation)(
            target, initial_state=state
        )
        return keras.Model([source, target], decoded)

    reference, fast = build("cell"), build("fast")
    fast.set_weights(reference.get_weights())
    rng = np.random.default_rng(4)
    batch = [rng.normal(size=(2, 5, FEATURES)), rng.normal(size=(2, 4, FEATURES))]
    np.testing.assert_allclose(fast(batch), reference(batch), rtol=1e-5, atol=1e-6)


def test_input_dropout_uses_one_mask_per_sequence():
    # W = 0, b = 0 and the same x_t at every step: s_t = tanh((x_t * keep) @ U) is the same
    # for every t only if the dropout mask is reused at every step.
    layer = SimpleRNN(UNITS, dropout=0.5, seed=7, recurrent_initializer="zeros",
                      return_sequences=True)
    x = np.ones((8, 6, 16), "float32")
    states = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(states, np.repeat(states[:, :1], 6, axis=1), rtol=1e-6)
    assert not np.allclose(states, np.asarray(layer(x, training=False)))


def test_training_reduces_the_loss_under_a_distribution_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 10, FEATURES)).astype("float32")
    y = x[:, :, 0].sum(axis=1, keepdims=True)  # needs the whole sequence
    with strategy.scope():
        inputs = keras.Input((10, FEATURES))
        model = keras.Model(inputs, keras.layers.Dense(1)(SimpleRNN(16)(inputs)))
        model.compile(keras.optimizers.Adam(0.02), "mse", steps_per_execution=4)
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_config_and_keras_file_round_trip(tmp_path):
    layer = SimpleRNN(UNITS, activation="relu", use_bias=False, dropout=0.25, seed=3,
                      return_sequences=True, return_state=True, go_backwards=True, unroll=False,
                      kernel_regularizer="l2", name="fast_rnn")
    clone = SimpleRNN.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_config() == layer.get_config()

    inputs = keras.Input((STEPS, FEATURES))
    model = keras.Model(inputs, SimpleRNN(UNITS, return_sequences=True)(inputs))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.layers[-1], SimpleRNN)
    x = np.random.default_rng(6).normal(size=(2, STEPS, FEATURES)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
    assert [w.name for w in loaded.layers[-1].weights] == ["U", "W", "b"]


@pytest.mark.slow
def test_saved_model_loads_with_tensorflow_alone(tmp_path, python_subprocess):
    inputs = keras.Input((None, FEATURES))
    model = keras.Model(inputs, keras.layers.Dense(2)(SimpleRNN(UNITS)(inputs)))
    model.compile("adam", "mse")
    x = np.random.default_rng(8).normal(size=(3, 9, FEATURES)).astype("float32")
    model.fit(x, np.zeros((3, 2), "float32"), epochs=1, verbose=0)  # traced with training=True too

    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda sequences: {"scores": model(sequences, training=False)},
        input_signature=[tf.TensorSpec((None, None, FEATURES), tf.float32, name="sequences")],
    )
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"serving_default": module.serve})
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"loaded = tf.saved_model.load({str(tmp_path / 'export')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "scores = loaded.signatures['serving_default'](sequences=tf.constant(x))['scores']\n"
        "assert not any(m.startswith(('rnn_layers', 'tasks')) for m in sys.modules), 'imported'\n"
        f"np.save({str(tmp_path / 'scores.npy')!r}, scores.numpy())\n"
    )
    python_subprocess(code)
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), model(x), rtol=1e-5, atol=1e-6)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="units must be a positive integer, got 0"):
        SimpleRNN(0)
    with pytest.raises(ValueError, match="activation must be one of"):
        SimpleRNN(2, activation="sigmoid")
    with pytest.raises(ValueError, match="dropout must be in"):
        SimpleRNN(2, dropout=1.0)
    with pytest.raises(ValueError, match="recurrent_dropout is not supported"):
        SimpleRNN(2, recurrent_dropout=0.1)


def test_recurrent_layer_picks_the_fast_layer_when_it_can():
    assert isinstance(recurrent_layer(4), SimpleRNN)
    assert isinstance(recurrent_layer(4, dropout=0.1, seed=1), SimpleRNN)
    with_recurrent_dropout = recurrent_layer(4, recurrent_dropout=0.1, return_sequences=True)
    assert isinstance(with_recurrent_dropout, keras.layers.RNN)
    assert with_recurrent_dropout.return_sequences
    assert isinstance(recurrent_layer(4, implementation="cell").cell, SimpleRNNCell)
    with pytest.raises(ValueError, match="recurrent_dropout is not supported by rnn_layers.SimpleRNN"):
        recurrent_layer(4, recurrent_dropout=0.1, implementation="fast")
    with pytest.raises(ValueError, match="implementation must be one of"):
        recurrent_layer(4, implementation="cudnn")


@pytest.mark.parametrize("activation, use_bias", [("tanh", True), ("relu", False)])
def test_step_by_step_equals_the_whole_sequence(activation, use_bias):
    # What a decoder does at inference: feed s_t back in, one step at a time, with the same weights.
    _, fast = paired_layers(activation=activation, use_bias=use_bias, return_sequences=True)
    rng = np.random.default_rng(5)
    x, s = rng.normal(size=(BATCH, STEPS, FEATURES)), rng.normal(size=(BATCH, UNITS))
    expected = np.asarray(fast(x, initial_state=[s]))
    for t in range(STEPS):
        s = fast.step(x[:, t], s)
        np.testing.assert_allclose(s, expected[:, t], rtol=1e-12, atol=1e-12)
