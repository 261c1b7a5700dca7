"""Vanishing gradients made visible: ||ds_T/ds_t|| over t, and ||dL/ds_t|| logged during training.

The lesson's BPTT sum weighs step i's contribution to dL/dW by

    ds_T/ds_i = prod_{j=i}^{T-1} ds_{j+1}/ds_j,   ds_{j+1}/ds_j = diag(f'(a_{j+1})) W^T

(column-vector layout; `W^T` because this package multiplies row vectors, s_{j+1} = f(x U + s_j W + b)).
When the factors have norm below 1 (tanh saturating, W with spectral radius < 1) the
product shrinks geometrically as i moves away from T: early steps barely move the
gradient. With spectral radius > 1 and ReLU it can instead explode.

- `jacobian_norms` computes ||ds_T/ds_i|| for i = 1..T in NumPy from the product itself.
- `state_gradient_norms` measures ||dL/ds_t|| in a real Keras model with tf.GradientTape.
- `GradientNormLogger` logs those norms to TensorBoard every few epochs.
"""

import io
import os

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from rnn_layers import bptt
from rnn_layers.recording import StateRecording
from rnn_layers.simple_rnn_cell import SimpleRNNCell


def random_recurrent_matrix(units, spectral_radius, rng):
    """A random W (units, units) rescaled so that its largest |eigenvalue| is `spectral_radius`."""
    W = rng.normal(size=(units, units))
    return W * (spectral_radius / np.max(np.abs(np.linalg.eigvals(W))))


def jacobian_norms(params, x, activation="tanh"):
    """||ds_T/ds_i|| (spectral norm) for i = 1..T of one sequence x (T, n); returns (T,).

    `params` needs U (n, m), W (m, m) and b (m,). Entry T-1 is ||ds_T/ds_T|| = ||I|| = 1;
    entry i-1 multiplies one more Jacobian factor for every step further back.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence (steps, features), got shape {x.shape}")
    _, pre_activations = bptt.recurrence(params, x[None], activation)
    pre_activations = pre_activations[0]  # (T, m): a_1 .. a_T
    steps, units = pre_activations.shape
    product = np.eye(units)  # ds_T/ds_T
    norms = np.zeros(steps)
    for i in range(steps, 0, -1):
        norms[i - 1] = np.linalg.norm(product, ord=2)
        # ds_T/ds_{i-1} = ds_T/ds_i * ds_i/ds_{i-1}, with ds_i/ds_{i-1} = diag(f'(a_i)) W^T
        step_jacobian = bptt.f_prime(pre_activations[i - 1], activation)[:, None] * params["W"].T
        product = product @ step_jacobian
    return norms


def vanishing_curves(activations=("tanh", "relu"), spectral_radii=(0.5, 2.0), steps=30, units=16, seed=0):
    """{"<f>, rho(W) = r": ||ds_T/ds_t|| (steps,)} for one random sequence, per activation and radius.

    Every curve shares the same input sequence, U and b; only f and the spectral radius of
    W change, so the curves differ for exactly those two reasons.
    """
    rng = np.random.default_rng(seed)
    features = 4
    x = rng.normal(size=(steps, features))
    base = {"U": rng.normal(0.0, 1.0 / np.sqrt(features), size=(features, units)), "b": np.zeros(units)}
    direction = rng.normal(size=(units, units))
    curves = {}
    for activation in activations:
        for radius in spectral_radii:
            W = direction * (radius / np.max(np.abs(np.linalg.eigvals(direction))))
            curves[f"{activation}, rho(W) = {radius}"] = jacobian_norms({**base, "W": W}, x, activation)
    return curves


def plot_norms_over_time(curves, title, ylabel):
    """A figure with one log-scale line per {label: norms (T,)}, step t = 1..T on the x axis."""
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    for label, norms in curves.items():
        norms = np.asarray(norms, dtype=np.float64)
        axes.semilogy(np.arange(1, len(norms) + 1), norms, marker=".", label=label)
    axes.set(xlabel="time step t", ylabel=ylabel, title=title)
    axes.grid(True, which="both", alpha=0.3)
    if len(curves) > 1:
        axes.legend()
    return figure


def find_recurrent_layer(model, layer_name=None):
    """The model's `rnn_layers.CellRNN(SimpleRNNCell)` or `rnn_layers.SimpleRNN` (the first, or by name)."""
    for layer in _walk_layers(model):
        if (layer_name is None or layer.name == layer_name) and _is_lesson_rnn(layer):
            return layer
    wanted = f"layer {layer_name!r}" if layer_name else "a layer"
    raise ValueError(
        f"{wanted} of model {model.name!r} is not rnn_layers.CellRNN(SimpleRNNCell) or "
        "rnn_layers.SimpleRNN; gradient norms need the lesson's RNN with its recording mode "
        "(a plain keras.layers.RNN(SimpleRNNCell) has none: build rnn_layers.CellRNN(SimpleRNNCell(...)))"
    )


def state_gradient_norms(model, inputs, targets, layer=None, sample_weight=None):
    """||dL/ds_t|| for t = 1..T of the RNN `layer` (default: the first one), shape (T,).

    L is the compiled loss of `model` on (inputs, targets). dL/ds_t is the total derivative
    (through s_{t+1}, ..., s_T and any output at step t), the lesson's
    dL/dy_hat * dy_hat/ds_T * ds_T/ds_t for many to one. Norms are over batch and units.

    How: the model is re-run with the layer in its recording mode (`layer.recording_states()`,
    rnn_layers.recording): an eager loop of its public `step` that keeps every s_t as a
    separate tensor; everything else in the model (embeddings, masks, heads, decoders) runs
    unchanged. Dropout is off; a stateful layer starts from zeros. With `go_backwards`, t
    counts processing steps (t = 1 is the last input). Needs the TensorFlow backend in eager mode.
    """
    layer = layer or find_recurrent_layer(model)
    if not _is_lesson_rnn(layer):
        raise ValueError(f"layer {layer.name!r} is not rnn_layers.CellRNN(SimpleRNNCell) or rnn_layers.SimpleRNN; "
                         "it has no recording mode")
    with tf.GradientTape() as tape, layer.recording_states() as states:
        predictions = model(inputs, training=False)
        loss = model.compute_loss(
            x=inputs, y=targets, y_pred=predictions, sample_weight=sample_weight, training=False
        )
    if not states:
        raise ValueError(f"layer {layer.name!r} did not run when model {model.name!r} was called")
    grads = tape.gradient(loss, states)
    return np.array([0.0 if g is None else float(tf.norm(g)) for g in grads])


class GradientNormLogger(keras.callbacks.Callback):
    """Logs ||dL/ds_t|| over t to TensorBoard every `every` epochs, on a fixed sample batch.

    Writes under `<log_dir>/gradients` at step = epoch: an image `state_gradient_norm/plot`
    (norm vs t, log scale), a histogram `state_gradient_norm/log10` of log10 ||dL/ds_t||
    over the steps, and scalars `state_gradient_norm/first_step`, `.../last_step` and
    `.../first_over_last` (how much the gradient vanished across the sequence).
    See `state_gradient_norms` for how the norms are computed.

    Args:
        log_dir: TensorBoard directory, e.g. the run's `run.tensorboard_dir`.
        inputs: A fixed sample batch of model inputs (a few dozen sequences is plenty).
        targets: The matching targets, as the compiled loss expects them.
        every: Log after every `every`-th epoch. Default: 1.
        layer_name: Which RNN layer to watch. Default: the first lesson RNN in the model.
    """

    def __init__(self, log_dir, inputs, targets, every=1, layer_name=None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.log_dir = os.path.join(str(log_dir), "gradients")
        self.inputs, self.targets = inputs, targets
        self.every, self.layer_name = every, layer_name
        self._writer = None

    def on_train_begin(self, logs=None):
        # Fail at once, not after the first epoch, if the model has no lesson RNN.
        find_recurrent_layer(self.model, self.layer_name)
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        layer = find_recurrent_layer(self.model, self.layer_name)
        norms = state_gradient_norms(self.model, self.inputs, self.targets, layer)
        figure = plot_norms_over_time(
            {layer.name: norms}, f"||dL/ds_t|| after epoch {epoch + 1}", "||dL/ds_t||"
        )
        tiny = np.finfo(np.float64).tiny  # log10(0) for steps the loss does not reach
        with self._writer.as_default(step=epoch):
            tf.summary.image("state_gradient_norm/plot", _figure_to_png_tensor(figure))
            tf.summary.histogram("state_gradient_norm/log10", np.log10(np.maximum(norms, tiny)))
            tf.summary.scalar("state_gradient_norm/first_step", norms[0])
            tf.summary.scalar("state_gradient_norm/last_step", norms[-1])
            tf.summary.scalar("state_gradient_norm/first_over_last", norms[0] / max(norms[-1], tiny))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def _walk_layers(layer):
    """Every layer inside `layer`, depth first (nested models and wrappers included)."""
    for child in getattr(layer, "layers", []):
        yield child
        yield from _walk_layers(child)
    for attribute in ("layer", "forward_layer", "backward_layer"):  # Wrapper, Bidirectional
        if isinstance(getattr(layer, attribute, None), keras.layers.Layer):
            yield getattr(layer, attribute)


def _is_lesson_rnn(layer):
    """A lesson RNN with the recording mode: rnn_layers.SimpleRNN or CellRNN(SimpleRNNCell)."""
    return isinstance(layer, StateRecording) and isinstance(layer.cell, SimpleRNNCell)


def _figure_to_png_tensor(figure):
    """A matplotlib figure as a (1, H, W, 4) uint8 tensor for tf.summary.image."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return tf.expand_dims(tf.image.decode_png(buffer.getvalue(), channels=4), 0)
