"""Backpropagation through time by hand, in NumPy float64, line by line after the lesson.

The lesson (the course chapter "Recurrent neural network" this project follows) writes column vectors: x_t is n x 1, s_t is m x 1, U is m x n,
W is m x m, V is d x m and

    s_0 = 0,   s_t = f(U x_t + W s_{t-1}),   y_hat = softmax(V s_T),
    L = -sum_k y_k log(y_hat_k)                                (categorical cross-entropy).

This module uses the same names on batches of row vectors, the layout of `SimpleRNNCell`
and of Keras: x is (B, T, n), U is (n, m), W is (m, m), V is (m, d), so the lesson's
`U x_t` is `x_t @ U` here, and the weights copy 1:1 into the Keras cell and a Dense head.
Two biases the lesson leaves out are included because every real model has them: b in
the state update and c in the output, s_t = f(x_t U + s_{t-1} W + b), y_hat = softmax(s_T V + c).

Erratum 1: the lesson's line "s_30 = f(W s_29 + V x_30)" should read s_30 = f(U x_30 + W s_29);
the input matrix is U, V only maps the state to the output.

Many to one: one output from the last state s_T. Many to many: an output y_hat_t =
softmax(s_t V + c) at every step and L = sum_t L_t ("the loss of the whole model is the
sum of the loss of each output"). The loss is also summed over the batch.

Variable-length sequences: `mask[b, t]` False means step t of sequence b is padding; the
state is carried through unchanged (s_t = s_{t-1}), as `keras.layers.RNN` does, and a
padded step has no loss in many-to-many mode.
"""

import dataclasses

import numpy as np

ACTIVATIONS = ("tanh", "relu")
PARAMETER_NAMES = ("U", "W", "b", "V", "c")


@dataclasses.dataclass
class ForwardPass:
    """What the backward pass needs from the forward pass."""

    states: np.ndarray  # (B, T+1, m): states[:, 0] is s_0 = 0, states[:, t] is s_t
    pre_activations: np.ndarray  # (B, T, m): a_t = x_t U + s_{t-1} W + b, t = 1..T
    probabilities: np.ndarray  # (B, d) many to one, (B, T, d) many to many: y_hat
    loss: float


@dataclasses.dataclass
class Gradients:
    """dL/dU, dL/dW, dL/db, dL/dV, dL/dc, and ||dL/ds_t|| for t = 1..T."""

    loss: float
    grads: dict  # parameter name -> array of that parameter's shape
    state_grad_norms: np.ndarray  # (T,): Frobenius norm over batch and units of dL/ds_t


def random_parameters(n, m, d, rng, recurrent_scale=1.0):
    """Float64 parameters {U, W, b, V, c} with Glorot-like scales; W scaled by recurrent_scale."""
    return {
        "U": rng.normal(0.0, 1.0 / np.sqrt(n), size=(n, m)),
        "W": rng.normal(0.0, recurrent_scale / np.sqrt(m), size=(m, m)),
        "b": rng.normal(0.0, 0.1, size=(m,)),
        "V": rng.normal(0.0, 1.0 / np.sqrt(m), size=(m, d)),
        "c": rng.normal(0.0, 0.1, size=(d,)),
    }


def forward(params, x, labels, activation="tanh", many_to_many=False, mask=None):
    """Runs the lesson's forward pass and the cross-entropy loss; returns a `ForwardPass`.

    Args:
        params: dict with U (n, m), W (m, m), b (m,), V (m, d), c (d,).
        x: inputs, (B, T, n).
        labels: integer classes, (B,) many to one or (B, T) many to many.
        activation: "tanh" or "relu", the lesson's f.
        many_to_many: one output per step instead of one from s_T.
        mask: optional boolean (B, T); False marks padding.
    """
    x, labels, mask = _check_inputs(params, x, labels, activation, many_to_many, mask)
    V, c = params["V"], params["c"]
    states, pre_activations = recurrence(params, x, activation, mask)
    if many_to_many:
        log_y_hat = _log_softmax(states[:, 1:] @ V + c)  # y_hat_t = softmax(V s_t)  (B, T, d)
        picked = np.take_along_axis(log_y_hat, labels[..., None], axis=-1)[..., 0]  # (B, T)
        loss = -np.sum(np.where(mask, picked, 0.0))  # L = sum_t L_t, padding has no loss
    else:
        log_y_hat = _log_softmax(states[:, -1] @ V + c)  # y_hat = softmax(V s_T)  (B, d)
        picked = np.take_along_axis(log_y_hat, labels[:, None], axis=-1)[:, 0]  # (B,)
        loss = -np.sum(picked)  # L = -sum_k y_k log(y_hat_k), y one-hot
    return ForwardPass(states, pre_activations, np.exp(log_y_hat), float(loss))


def recurrence(params, x, activation="tanh", mask=None):
    """The state sequence alone: returns states (B, T+1, m) with s_0 = 0 first, and a (B, T, m).

    `params` needs U, W and b; x is (B, T, n); mask is an optional boolean (B, T).
    """
    U, W, b = params["U"], params["W"], params["b"]
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    mask = np.ones((batch, steps), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    states = np.zeros((batch, steps + 1, W.shape[0]))  # s_0 = 0 (lesson: "s_0 = 0")
    pre_activations = np.zeros((batch, steps, W.shape[0]))
    for t in range(1, steps + 1):
        s_prev = states[:, t - 1]  # (B, m)
        a_t = x[:, t - 1] @ U + s_prev @ W + b  # U x_t + W s_{t-1} (+ b)     (B, m)
        s_new = _f(a_t, activation)  # s_t = f(U x_t + W s_{t-1})
        keep = mask[:, t - 1, None]  # (B, 1): padding carries s_{t-1} through
        states[:, t] = np.where(keep, s_new, s_prev)
        pre_activations[:, t - 1] = a_t
    return states, pre_activations


def backward(params, x, labels, forward_pass, activation="tanh", many_to_many=False, mask=None):
    """BPTT: the gradients of `forward`'s loss, as the lesson derives them; returns `Gradients`.

    Lesson, for many to one (T = 30 in its example):

        dL/dV = dL/dy_hat * dy_hat/dV                                             (local)
        dL/dW = sum_{i=1..T} dL/dy_hat * dy_hat/ds_T * ds_T/ds_i * ds'_i/dW,
        ds_T/ds_i = prod_{j=i}^{T-1} ds_{j+1}/ds_j,

    where ds'_i/dW is the derivative of s_i with s_{i-1} held constant; dL/dU likewise.
    The expansion ds_T/dW = ds'_T/dW + ds_T/ds_{T-1} * ds_{T-1}/dW is the chain rule of a
    total derivative (s_T depends on W directly and through s_{T-1}), not the product rule
    the lesson cites (erratum 2). The sum runs over i = 1..T, not from 0: s_0 is a constant
    and contributes nothing (erratum 3).

    The code never forms the product of Jacobians. It walks t = T..1 keeping
    delta_t = dL/ds_t (the total derivative) and applies one factor per step,
    delta_{t-1} = delta_t * ds_t/ds_{t-1}; this evaluates the lesson's sum term by term.
    """
    x, labels, mask = _check_inputs(params, x, labels, activation, many_to_many, mask)
    U, W, b, V, c = (params[name] for name in PARAMETER_NAMES)
    states, pre_activations = forward_pass.states, forward_pass.pre_activations
    batch, steps, _ = x.shape
    grads = {name: np.zeros_like(params[name]) for name in PARAMETER_NAMES}
    norms = np.zeros(steps)

    # Softmax followed by cross-entropy: dL/dz = y_hat - y for the logits z = V s + c.
    if many_to_many:
        one_hot = np.eye(V.shape[1])[labels]  # (B, T, d)
        dz = (forward_pass.probabilities - one_hot) * mask[..., None]  # no loss on padding
        grads["V"] = np.einsum("btm,btd->md", states[:, 1:], dz)  # dL/dV = sum_t dL/dz_t * s_t
        grads["c"] = dz.sum(axis=(0, 1))
        delta = np.zeros((batch, W.shape[0]))  # no later step yet
    else:
        one_hot = np.eye(V.shape[1])[labels]  # (B, d)
        dz = forward_pass.probabilities - one_hot
        grads["V"] = states[:, -1].T @ dz  # dL/dV = dL/dy_hat * dy_hat/dV: local
        grads["c"] = dz.sum(axis=0)
        delta = dz @ V.T  # dL/ds_T = dL/dy_hat * dy_hat/ds_T    (B, m)

    for t in range(steps, 0, -1):  # i = T, ..., 1 (erratum 3: s_0 contributes nothing)
        if many_to_many:
            delta = delta + dz[:, t - 1] @ V.T  # L_t's own term joins dL/ds_t
        norms[t - 1] = np.linalg.norm(delta)
        keep = mask[:, t - 1, None]  # (B, 1)
        # ds'_t: s_t = f(a_t) with s_{t-1} held constant; backprop through f.
        d_pre = np.where(keep, delta * f_prime(pre_activations[:, t - 1], activation), 0.0)
        grads["U"] += x[:, t - 1].T @ d_pre  # dL/ds_t * ds'_t/dU
        grads["W"] += states[:, t - 1].T @ d_pre  # dL/ds_t * ds'_t/dW
        grads["b"] += d_pre.sum(axis=0)  # dL/ds_t * ds'_t/db
        # delta_{t-1} = delta_t * ds_t/ds_{t-1}, with ds_t/ds_{t-1} = diag(f'(a_t)) W in the
        # lesson's column layout (our W is its transpose, hence `@ W.T` on row vectors);
        # a padded step is the identity, so its delta passes straight through.
        delta = np.where(keep, d_pre @ W.T, delta)
    return Gradients(forward_pass.loss, grads, norms)


def loss_and_gradients(params, x, labels, activation="tanh", many_to_many=False, mask=None):
    """Forward then backward; returns `Gradients` (loss, dL/d{U,W,b,V,c}, ||dL/ds_t||)."""
    forward_pass = forward(params, x, labels, activation, many_to_many, mask)
    return backward(params, x, labels, forward_pass, activation, many_to_many, mask)


def f_prime(a, activation):
    """f'(a): tanh' = 1 - tanh^2, relu' = 1 where a > 0 (the kink at 0 is taken as 0)."""
    if activation == "tanh":
        return 1.0 - np.tanh(a) ** 2
    return (a > 0.0).astype(a.dtype)


def _f(a, activation):
    return np.tanh(a) if activation == "tanh" else np.maximum(a, 0.0)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)  # same result, no overflow in exp
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _check_inputs(params, x, labels, activation, many_to_many, mask):
    """Validates shapes and returns (x float64, labels int, mask bool (B, T))."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    missing = [name for name in PARAMETER_NAMES if name not in params]
    if missing:
        raise ValueError(f"params is missing {missing}, expected keys {PARAMETER_NAMES}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must be (batch, steps, features), got shape {x.shape}")
    n, m = params["U"].shape
    d = params["V"].shape[1]
    expected = {"U": (n, m), "W": (m, m), "b": (m,), "V": (m, d), "c": (d,)}
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {params[name].shape}")
    if x.shape[2] != n:
        raise ValueError(f"x has {x.shape[2]} features but U expects {n}")
    labels = np.asarray(labels)
    label_shape = x.shape[:2] if many_to_many else x.shape[:1]
    if labels.shape != label_shape:
        raise ValueError(f"labels must have shape {label_shape}, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= d):
        raise ValueError(f"labels must be in 0..{d - 1}, got {labels.min()}..{labels.max()}")
    if mask is None:
        mask = np.ones(x.shape[:2], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {x.shape[:2]}, got {mask.shape}")
    return x, labels.astype(np.int64), mask
