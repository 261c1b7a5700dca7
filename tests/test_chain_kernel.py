"""The compiled chain ops (rnn_layers/kernels/rnn_chain.cc): built by make, used in training, checked.

Their numbers are checked against keras.layers.RNN(SimpleRNNCell) in tests/test_fast_rnn.py (the
`bptt_compiled` / `compiled` cases); here: that training really runs them, their own input checks,
the row split between threads, and what happens where they cannot run (XLA, no library).
"""
import ast
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import keras
import tensorflow as tf

from rnn_layers import SimpleRNN, SimpleRNNCell, chain_kernel, fast_rnn
from rnn_layers.chain_kernel import chain_ops
from rnn_layers.kernels import build
from tests.conftest import run_python


def op_types(function, *args):
    return {op.type for op in function.get_concrete_function(*args).graph.get_operations()}


def gradients_graph_ops(layer, x, training):
    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=training))
        return tape.gradient(loss, layer.trainable_variables)

    return op_types(gradients, x)


def test_training_runs_the_compiled_chain_and_inference_does_not():
    assert chain_ops() is not None, "the chain ops are not built: run `make install`"
    x = tf.random.normal((4, 6, 3))
    for unroll in (False, True):  # the loop or unrolled: training runs the ops either way
        layer = SimpleRNN(8, unroll=unroll)
        layer(x)
        assert {"RnnChain", "RnnChainGrad"} <= gradients_graph_ops(layer, x, training=True)
        # Inference (and so every export) is plain TensorFlow: a SavedModel needs no op library.
        assert not {"RnnChain", "RnnChainGrad"} & gradients_graph_ops(layer, x, training=False)
        layer.use_compiled_chain = False  # the chain in TensorFlow ops
        assert not {"RnnChain", "RnnChainGrad"} & gradients_graph_ops(layer, x, training=True)


@pytest.mark.parametrize("batch", [1, 19, 64])  # one row, a ragged last row block, whole blocks
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rows_split_between_threads_match_the_cell(batch, activation):
    units, steps = 12, 9
    reference = keras.layers.RNN(SimpleRNNCell(units, activation=activation, dtype="float64"),
                                 return_sequences=True, dtype="float64")
    fast = SimpleRNN(units, activation=activation, return_sequences=True, unroll=False, dtype="float64")
    for layer in (reference, fast):
        layer.build((None, steps, 5))
    fast.set_weights(reference.get_weights())
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(batch, steps, 5)))
    mask = tf.constant(rng.random((batch, steps)) < 0.8)

    def run(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = layer(x, mask=mask, training=True)
            loss = tf.reduce_sum(tf.sin(output))
        return [output, *tape.gradient(loss, [x, *layer.trainable_variables])]

    for got, want in zip(run(fast), run(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_helpers_from_either_thread_pool_give_the_same_values(masked):
    ops, rng = chain_ops(), np.random.default_rng(5)
    batch, steps, n, m = 64, 7, 5, 16  # 64 rows: several row blocks, so a helper runs some of them
    x, s0 = tf.constant(rng.normal(size=(batch, steps, n))), tf.constant(rng.normal(size=(batch, m)))
    U, W, b = (tf.constant(rng.normal(size=shape) * 0.3) for shape in ((n, m), (m, m), (m,)))
    mask = tf.constant(rng.random((steps, batch)) < 0.7) if masked else tf.zeros((0, 0), tf.bool)

    @tf.function  # in a graph the ops get the executor's runner (eagerly a task runs inline on the caller)
    def run(inter_op_helpers):
        states = ops.rnn_chain(x, U, b, s0, W, mask, activation="tanh", inter_op_helpers=inter_op_helpers)
        grads = ops.rnn_chain_grad(states, W, tf.zeros((0, 0, 0), tf.float64), tf.ones_like(s0), mask, x,
                                   activation="tanh", inter_op_helpers=inter_op_helpers)
        return [states, *grads]

    for got, want in zip(run(True), run(False), strict=True):
        np.testing.assert_array_equal(got, want)  # each block's sums are added in block order, whoever ran it


@pytest.mark.parametrize("inter_op_threads, expected", [(1, False), (3, True)])
def test_the_layer_takes_helpers_from_the_inter_op_pool_only_when_it_has_threads_to_spare(
        inter_op_threads, expected):
    code = f"""
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads({inter_op_threads})
from rnn_layers import SimpleRNN
layer, x = SimpleRNN(4), tf.random.normal((2, 3, 2))
layer(x)
@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True))
    return tape.gradient(loss, layer.trainable_variables)
graph = step.get_concrete_function(x).graph
print([(op.type, op.get_attr("inter_op_helpers")) for op in graph.get_operations() if op.type.startswith("RnnChain")])
"""
    found = ast.literal_eval(run_python(code, timeout=300).stdout.strip().splitlines()[-1])
    assert found == [("RnnChain", expected), ("RnnChainGrad", expected)]


@pytest.mark.parametrize("changed, message", [
    ({"x": (3, 4)}, "x must be (B, T, n), got [3,4]"),
    ({"U": (3, 5)}, "U must be (n, m) = (2, 5), got [3,5]"),
    ({"b": (4,)}, "b must be (m,) = (5,) or empty, got [4]"),
    ({"s0": (2, 5)}, "state must be (B, m) = (3, 5), got [2,5]"),
    ({"W": (5, 6)}, "W must be (m, m), got [5,6]"),
    ({"mask": (3, 4)}, "mask must be (T, B) or empty, got [3,4]"),
])
def test_the_forward_op_names_a_bad_shape(changed, message):
    shapes = {"x": (3, 4, 2), "U": (2, 5), "b": (5,), "s0": (3, 5), "W": (5, 5), "mask": (0, 0)} | changed
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        chain_ops().rnn_chain(*(tf.zeros(shapes[name]) for name in ("x", "U", "b", "s0", "W")),
                              tf.zeros(shapes["mask"], tf.bool), activation="tanh")


@pytest.mark.parametrize("changed, message", [
    ({"states": (0, 3, 5)}, "states must be (T + 1, B, m) = (5, 3, 5), got [0,3,5]"),
    ({"d_states": (5, 3, 5)}, "d_states must be (T, B, m) or empty, got [5,3,5]"),
    ({"d_last": (3, 4)}, "state must be (B, m) = (3, 5), got [3,4]"),
    ({"x": (3, 4)}, "x must be (B, T, n), got [3,4]"),
])
def test_the_gradient_op_names_a_bad_shape(changed, message):
    shapes = {"states": (5, 3, 5), "d_states": (0, 0, 0), "d_last": (3, 5), "x": (3, 4, 2)} | changed
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        chain_ops().rnn_chain_grad(tf.zeros(shapes["states"]), tf.zeros((5, 5)), tf.zeros(shapes["d_states"]),
                                   tf.zeros(shapes["d_last"]), tf.zeros((0, 0), tf.bool), tf.zeros(shapes["x"]),
                                   activation="tanh")


def test_xla_training_falls_back_to_tensorflow_ops():
    # XLA cannot compile custom ops: under jit_compile=True the layer builds its TensorFlow-op chain.
    layer = SimpleRNN(6, unroll=False)
    x = tf.random.stateless_normal((4, 5, 3), seed=(1, 2))
    layer(x)

    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, layer.trainable_variables)

    xla = tf.function(gradients, jit_compile=True)
    assert not {"RnnChain", "RnnChainGrad"} & op_types(xla, x)
    for got, want in zip(xla(x), tf.function(gradients)(x), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_without_the_library_training_warns_once_and_uses_tensorflow_ops(tmp_path, monkeypatch):
    monkeypatch.setattr(chain_kernel, "LIBRARY", tmp_path / "missing.so")
    chain_kernel.chain_ops.cache_clear()
    try:
        with pytest.warns(UserWarning, match="missing.so is not built"):
            assert chain_kernel.chain_ops() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # cached: no second warning
            layer = SimpleRNN(4, unroll=False)
            x = tf.ones((2, 3, 2))
            layer(x)
            assert not {"RnnChain", "RnnChainGrad"} & gradients_graph_ops(layer, x, training=True)
    finally:
        monkeypatch.undo()
        chain_kernel.chain_ops.cache_clear()
    assert fast_rnn.chain_ops() is not None  # the real library again, for the other tests


def test_a_failed_build_says_so_in_one_line_and_leaves_no_library(tmp_path):
    output = tmp_path / "_rnn_chain.so"
    result = subprocess.run(
        [sys.executable, "-m", "rnn_layers.kernels.build", "--output", str(output),
         "--compiler", str(tmp_path / "no-such-compiler")],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # TensorFlow's own log lines come first
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: building rnn_chain.cc failed: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'no-such-compiler'}'"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_build_command_uses_tensorflows_flags_and_keeps_eigen_private():
    command = build.compile_command("out.so")
    assert {"-fvisibility=hidden", "-shared", "-O3"} <= set(command)
    assert any(flag.startswith("-I") and flag.endswith("include") for flag in command)
    assert command[command.index("-o") + 1] == "out.so"


@pytest.mark.parametrize("batch, units, features", [
    (1, 1, 1), (7, 17, 3), (19, 64, 16), (64, 100, 33), (13, 130, 5), (6, 48, 70),
])
@pytest.mark.parametrize("masked", [False, True])
def test_float32_products_match_the_tensorflow_op_chain(batch, units, features, masked):
    # float32 runs the ops' own AVX-512 product (float64 runs Eigen's, checked to 1e-10 elsewhere):
    # rows and columns that fill no whole tile, and both orders of the rows' and columns' tails.
    steps = 11
    # Seeded: some draws make a gradient a sum whose terms cancel, which float32 resolves to rtol
    # 1e-4 in no order of the sum; these draws do not.
    keras.utils.set_random_seed(batch * units)
    fast = SimpleRNN(units, return_sequences=True)
    fast.build((None, steps, features))
    rng = np.random.default_rng(batch * units)
    fast.set_weights([w * 1.5 for w in fast.get_weights()])  # states away from zero
    x = tf.constant(rng.normal(size=(batch, steps, features)), tf.float32)
    mask = tf.constant(rng.random((batch, steps)) < 0.7) if masked else None

    def run(compiled):
        fast.use_compiled_chain = compiled
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = fast(x, mask=mask, training=True)
            loss = tf.reduce_sum(tf.sin(output))
        return [output, *tape.gradient(loss, [x, *fast.trainable_variables])]

    for got, want in zip(run(True), run(False), strict=True):  # float32 sums in other orders
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
