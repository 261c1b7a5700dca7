"""Hand-written BPTT (rnn_layers.bptt) against the lesson's formulas written out by hand."""

import numpy as np
import pytest

from rnn_layers import bptt


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def test_two_steps_match_the_lesson_sum_written_out(rng):
    # One unit, one feature, two classes, T = 2. The lesson's sum over i = 1..2:
    # dL/dW = dL/ds_2 * (ds'_2/dW + ds_2/ds_1 * ds'_1/dW), ds'_1/dW = f'(a_1) s_0 = 0.
    params = bptt.random_parameters(1, 1, 2, rng)
    x = rng.normal(size=(1, 2, 1))
    result = bptt.loss_and_gradients(params, x, np.array([1]), "tanh")
    u, w, b = params["U"][0, 0], params["W"][0, 0], params["b"][0]
    a1 = u * x[0, 0, 0] + b
    s1 = np.tanh(a1)
    a2 = u * x[0, 1, 0] + w * s1 + b
    s2 = np.tanh(a2)
    logits = s2 * params["V"][0] + params["c"]
    y_hat = np.exp(logits) / np.exp(logits).sum()
    dL_ds2 = (y_hat - np.array([0.0, 1.0])) @ params["V"][0]  # dL/dy_hat * dy_hat/ds_2
    f1, f2 = 1 - s1**2, 1 - s2**2
    ds2_ds1 = f2 * w
    np.testing.assert_allclose(result.loss, -np.log(y_hat[1]))
    np.testing.assert_allclose(result.grads["W"][0, 0], dL_ds2 * (f2 * s1 + ds2_ds1 * f1 * 0.0))
    np.testing.assert_allclose(
        result.grads["U"][0, 0], dL_ds2 * (f2 * x[0, 1, 0] + ds2_ds1 * f1 * x[0, 0, 0])
    )
    np.testing.assert_allclose(result.grads["b"][0], dL_ds2 * (f2 + ds2_ds1 * f1))
    np.testing.assert_allclose(result.grads["V"][0], (y_hat - [0.0, 1.0]) * s2)
    np.testing.assert_allclose(result.state_grad_norms, np.abs([dL_ds2 * ds2_ds1, dL_ds2]))


def test_forward_states_follow_the_recurrence(rng):
    params = bptt.random_parameters(3, 4, 2, rng)
    x = rng.normal(size=(2, 5, 3))
    forward = bptt.forward(params, x, np.array([0, 1]), "relu")
    np.testing.assert_array_equal(forward.states[:, 0], 0.0)  # s_0 = 0
    for t in range(1, 6):
        a_t = x[:, t - 1] @ params["U"] + forward.states[:, t - 1] @ params["W"] + params["b"]
        np.testing.assert_allclose(forward.states[:, t], np.maximum(a_t, 0.0))
    np.testing.assert_allclose(forward.probabilities.sum(axis=-1), 1.0)


def test_padding_changes_neither_loss_nor_gradients(rng):
    # A sequence of length 4 padded to 7 gives the same loss and gradients as the unpadded one.
    params = bptt.random_parameters(3, 4, 3, rng)
    x = rng.normal(size=(1, 7, 3))
    mask = np.array([[True] * 4 + [False] * 3])
    padded = bptt.loss_and_gradients(params, x, np.array([2]), "tanh", mask=mask)
    unpadded = bptt.loss_and_gradients(params, x[:, :4], np.array([2]), "tanh")
    np.testing.assert_allclose(padded.loss, unpadded.loss)
    for name in bptt.PARAMETER_NAMES:
        np.testing.assert_allclose(padded.grads[name], unpadded.grads[name], atol=1e-15)
    forward = bptt.forward(params, x, np.array([2]), "tanh", mask=mask)
    np.testing.assert_array_equal(forward.states[0, 5:], np.repeat(forward.states[0, 4:5], 3, axis=0))
    # On padding, dL/ds_t passes through unchanged (ds_t/ds_{t-1} = I there).
    np.testing.assert_allclose(padded.state_grad_norms[3:], padded.state_grad_norms[3])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_many_to_many_is_the_sum_of_many_to_one_prefixes(rng, activation):
    # L = sum_t L_t and L_t only sees x_1..x_t, so every gradient is a sum over prefixes.
    params = bptt.random_parameters(2, 3, 4, rng)
    x = rng.normal(size=(2, 5, 2))
    labels = rng.integers(0, 4, size=(2, 5))
    whole = bptt.loss_and_gradients(params, x, labels, activation, many_to_many=True)
    prefixes = [
        bptt.loss_and_gradients(params, x[:, :t], labels[:, t - 1], activation) for t in range(1, 6)
    ]
    np.testing.assert_allclose(whole.loss, sum(p.loss for p in prefixes))
    for name in bptt.PARAMETER_NAMES:
        np.testing.assert_allclose(whole.grads[name], sum(p.grads[name] for p in prefixes), atol=1e-14)


def test_gradients_vanish_towards_early_steps_with_small_w(rng):
    params = bptt.random_parameters(3, 8, 2, rng, recurrent_scale=0.3)
    x = rng.normal(size=(4, 30, 3))
    norms = bptt.loss_and_gradients(params, x, np.zeros(4, int), "tanh").state_grad_norms
    assert norms.shape == (30,)
    assert norms[0] < 1e-6 * norms[-1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"activation": "sigmoid"}, "activation must be one of"),
        ({"x": np.zeros((2, 5))}, r"x must be \(batch, steps, features\), got shape \(2, 5\)"),
        ({"x": np.zeros((2, 5, 4))}, "x has 4 features but U expects 3"),
        ({"labels": np.array([0, 7])}, r"labels must be in 0..1, got 0..7"),
        ({"labels": np.zeros((2, 5), int)}, r"labels must have shape \(2,\), got \(2, 5\)"),
        ({"mask": np.ones((2, 4), bool)}, r"mask must have shape \(2, 5\), got \(2, 4\)"),
    ],
)
def test_bad_inputs_raise_value_errors_that_say_what_is_wrong(rng, change, message):
    arguments = {
        "params": bptt.random_parameters(3, 4, 2, rng),
        "x": np.zeros((2, 5, 3)),
        "labels": np.array([0, 1]),
        "activation": "tanh",
        "mask": None,
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        bptt.loss_and_gradients(**arguments)


def test_wrong_parameter_shape_is_named(rng):
    params = bptt.random_parameters(3, 4, 2, rng)
    params["W"] = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"W must have shape \(4, 4\), got \(4, 5\)"):
        bptt.forward(params, np.zeros((1, 2, 3)), np.array([0]))
