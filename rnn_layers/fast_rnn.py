"""A fast layer with the lesson's math: `SimpleRNN(m)` == `keras.layers.RNN(SimpleRNNCell(m))`.

Two facts from the lesson make the vanilla RNN cheaper than a step-by-step cell:

1. Only `s_{t-1} @ W` needs the previous step. `x_t @ U + b` for many steps at once is
   one large matrix product outside the sequential chain (the "hoisted input projection").
2. BPTT needs the time loop only for the per-step deltas `delta_t = dL/da_t` (a_t the
   pre-activation). Once they are known, the lesson's sums over i = 1..T are large
   products: `dW = S_prev^T @ Delta`, `dU = X^T @ Delta`, `db = sum(Delta)` and
   `dL/dx = Delta @ U^T`. Autodiff of a `tf.while_loop` instead accumulates T small
   products step by step, inside the chain.

On a CPU the chain of T small `s_{t-1} @ W` products is the critical path, and it leaves
the other cores idle. So a fixed-length sequence is cut into spans of `SPAN_STEPS` steps:
the projection of span k + 1, and the weight gradients of a span as soon as its deltas
are known, run on the other cores while the chain goes on.

This layer uses TensorFlow ops directly (`tf.custom_gradient`, `tf.while_loop`), not
`keras.ops`: Keras has no backend-neutral custom gradient, so it needs the TensorFlow
backend. Its weights `U`, `W`, `b` have the cell's names, shapes and initializers, so
`fast.set_weights(cell_rnn.get_weights())` copies a trained model in either direction.
Measurements (what each part buys, against Keras and PyTorch): docs/speed.md.
"""

import keras
import tensorflow as tf

from rnn_layers.simple_rnn_cell import add_lesson_weights, check_arguments

# The lesson's f, and the backward step through it, g -> g * f'(a), written with the
# OUTPUT h = f(a) that the forward pass keeps: tanh'(a) = 1 - h^2, relu'(a) = [h > 0].
# TanhGrad and ReluGrad are TensorFlow's fused kernels for exactly these products.
ACTIVATIONS = {
    "tanh": (tf.tanh, lambda h, g: tf.raw_ops.TanhGrad(y=h, dy=g)),
    "relu": (tf.nn.relu, lambda h, g: tf.raw_ops.ReluGrad(gradients=g, features=h)),
}

# Fixed lengths up to this are unrolled into straight-line code: on CPU a chain of T
# small matmuls runs faster than a tf.while_loop, whose control-flow and TensorArray ops
# cost more per step than the step itself at these sizes. Longer or unknown lengths loop.
MAX_UNROLL_STEPS = 128
# Steps per span of an unrolled sequence (module docstring). Measured on 2 cores at
# batch 64, 128 units, T 30 (docs/speed.md): 2-5 steps train 1.4-1.5x faster than one
# span for the whole sequence; 8 and more lose most of the overlap.
SPAN_STEPS = 4


def _project(x, U, b):
    """x_t @ U + b for every step of x (k, B, n), as one matmul: (k, B, m)."""
    xu = tf.matmul(tf.reshape(x, (-1, x.shape[-1])), U)
    if b is not None:
        xu = tf.nn.bias_add(xu, b)  # fused into the matmul by TensorFlow's graph optimizer
    return tf.reshape(xu, tf.concat([tf.shape(x)[:2], tf.shape(U)[1:]], 0))


def _step(s_prev, xu_t, W, f, mask_t):
    """s_t = f(x_t U + b + s_{t-1} W); a masked step keeps s_{t-1}."""
    s_t = f(xu_t + tf.matmul(s_prev, W))  # (B, m)
    return s_t if mask_t is None else tf.where(mask_t, s_t, s_prev)


def _back_step(g, s_t, W_t, f_grad, mask_t):
    """From g = dL/ds_t (all paths) to (delta_t = dL/da_t, the part of dL/ds_{t-1} via s_t)."""
    delta = f_grad(s_t, g)  # (B, m)
    if mask_t is None:
        return delta, tf.matmul(delta, W_t)
    # A masked step did not go through f: it copied s_{t-1}, so g passes straight back.
    delta = tf.where(mask_t, delta, tf.zeros_like(delta))
    return delta, tf.where(mask_t, tf.matmul(delta, W_t), g)


def _span_gradients(x, s_prev, delta, U):
    """The lesson's sums over the steps of one span, each one product.

    x (k, B, n), s_prev = s_{t-1} (k, B, m) and delta = dL/da_t (k, B, m) for the span's
    steps. Returns (dL/dx (k, B, n), dU (n, m), db (m,), dW (m, m)).
    """
    n, m = x.shape[-1], s_prev.shape[-1]
    x_flat, delta_flat = tf.reshape(x, (-1, n)), tf.reshape(delta, (-1, m))
    dx = tf.reshape(tf.matmul(delta_flat, U, transpose_b=True), tf.shape(x))
    dU = tf.matmul(x_flat, delta_flat, transpose_a=True)
    dW = tf.matmul(tf.reshape(s_prev, (-1, m)), delta_flat, transpose_a=True)
    return dx, dU, tf.reduce_sum(delta_flat, 0), dW


def _unrolled(x, U, b, W, s0, masks, activation, return_sequences, bptt):
    """The layer for a fixed T, one span of SPAN_STEPS steps at a time; see `rnn_states`."""
    f, f_grad = ACTIVATIONS[activation]
    steps = x.shape[0]
    spans = [(lo, min(lo + SPAN_STEPS, steps)) for lo in range(0, steps, SPAN_STEPS)]

    def forward(x, U, b, W, s0):
        states = [s0]  # s_0, s_1, ..., s_T, each (B, m)
        for lo, hi in spans:
            for t, xu_t in enumerate(tf.unstack(_project(x[lo:hi], U, b)), lo):
                states.append(_step(states[-1], xu_t, W, f, masks[t]))
        return states, (tf.stack(states[1:]) if return_sequences else states[-1])

    if not bptt:
        return forward(x, U, b, W, s0)[1]

    def backward(states, upstream):
        if return_sequences:
            dS, carry = tf.unstack(upstream), tf.zeros_like(s0)
        else:
            dS, carry = [None] * steps, upstream  # only s_T reached the loss
        W_t = tf.transpose(W)
        deltas, grads = [None] * steps, []
        for lo, hi in reversed(spans):
            for t in reversed(range(lo, hi)):
                g = carry if dS[t] is None else carry + dS[t]  # dL/ds_t
                deltas[t], carry = _back_step(g, states[t + 1], W_t, f_grad, masks[t])
            grads.append(_span_gradients(
                x[lo:hi], tf.stack(states[lo:hi]), tf.stack(deltas[lo:hi]), U
            ))  # runs while the chain goes on to the earlier spans
        dx, dU, db, dW = zip(*reversed(grads))
        return tf.concat(dx, 0), tf.add_n(dU), tf.add_n(db), tf.add_n(dW), carry

    return _with_bptt_gradient(forward, backward, x, U, b, W, s0)


def _looped(x, U, b, W, s0, mask, activation, return_sequences, bptt):
    """The layer for any T, as `tf.while_loop`s; see `rnn_states`."""
    f, f_grad = ACTIVATIONS[activation]

    def forward(x, U, b, W, s0):
        xu = _project(x, U, b)  # (T, B, m): hoisted out of the loop
        steps = tf.shape(xu)[0]
        states = tf.TensorArray(xu.dtype, size=steps + 1, element_shape=s0.shape)

        def body(t, s, states):
            s = _step(s, xu[t], W, f, None if mask is None else mask[t])
            return t + 1, s, states.write(t + 1, s)

        _, s_last, states = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), s0, states.write(0, s0))
        )
        states = states.stack()  # (T + 1, B, m)
        return states, (states[1:] if return_sequences else s_last)

    if not bptt:
        return forward(x, U, b, W, s0)[1]

    def backward(states, upstream):
        if return_sequences:
            dS, carry = upstream, tf.zeros_like(s0)
        else:
            dS, carry = None, upstream
        W_t = tf.transpose(W)
        steps = tf.shape(x)[0]
        deltas = tf.TensorArray(x.dtype, size=steps, element_shape=s0.shape)

        def body(t, carry, deltas):
            g = carry if dS is None else carry + dS[t]
            delta, carry = _back_step(
                g, states[t + 1], W_t, f_grad, None if mask is None else mask[t]
            )
            return t - 1, carry, deltas.write(t, delta)

        _, carry, deltas = tf.while_loop(
            lambda t, *_: t >= 0, body, (steps - 1, carry, deltas)
        )
        dx, dU, db, dW = _span_gradients(x, states[:-1], deltas.stack(), U)
        return dx, dU, db, dW, carry

    return _with_bptt_gradient(forward, backward, x, U, b, W, s0)


def _with_bptt_gradient(forward, backward, x, U, b, W, s0):
    """forward's output, with backward (the lesson's BPTT) as its gradient."""
    use_bias = b is not None

    @tf.custom_gradient
    def run(x, U, W, s0, *bias):
        states, output = forward(x, U, bias[0] if use_bias else None, W, s0)

        def grad(upstream):
            dx, dU, db, dW, ds0 = backward(states, upstream)
            return (dx, dU, dW, ds0) + ((db,) if use_bias else ())

        return output, grad

    return run(x, U, W, s0, *([b] if use_bias else []))


def rnn_states(
    x,
    U,
    b,
    W,
    s0,
    mask=None,
    activation="tanh",
    unroll=False,
    return_sequences=True,
    bptt=True,
):
    """The states of s_t = f(x_t U + b + s_{t-1} W), differentiable w.r.t. x, U, b, W, s0.

    x: (T, B, n) time-major; U: (n, m); b: (m,) or None; W: (m, m); s0: (B, m); mask:
    (T, B, 1) bool, a masked step keeps s_{t-1}, or None. Returns s_1..s_T (T, B, m) if
    `return_sequences`, else s_T (B, m). `unroll` needs a fixed T. With `bptt=True` the
    gradient is the lesson's BPTT; with `bptt=False` TensorFlow differentiates the forward
    pass itself (inference graphs, and the reference in tests and benchmarks).
    """
    if unroll:
        masks = [None] * x.shape[0] if mask is None else tf.unstack(mask)
        return _unrolled(x, U, b, W, s0, masks, activation, return_sequences, bptt)
    return _looped(x, U, b, W, s0, mask, activation, return_sequences, bptt)


@keras.saving.register_keras_serializable(package="rnn_layers")
class SimpleRNN(keras.layers.Layer):
    """The lesson's vanilla RNN over a whole sequence, with a hoisted input projection and BPTT.

    Numerically the same layer as `keras.layers.RNN(SimpleRNNCell(units, ...), ...)`
    (forward, gradients and masking; see tests/test_fast_rnn.py), and faster:

    - `x @ U + b` for every step is one matmul before the loop; the loop only does
      `s_t = f(xu_t + s_{t-1} @ W)`.
    - In training (`training=True`, as `model.fit` calls it) the gradient is the lesson's
      BPTT via `tf.custom_gradient`: a reverse loop for the deltas dL/da_t, then
      `dW = S_prev^T @ Delta` in one product (and `dU = X^T @ Delta` by autodiff of the
      hoisted projection). At inference the plain forward pass is used, so exported
      SavedModels carry no custom gradient.
    - Fixed lengths up to `MAX_UNROLL_STEPS` are unrolled (see `unroll`).

    It uses TensorFlow ops directly (Keras lacks a backend-neutral custom gradient), so it
    needs the TensorFlow backend. `recurrent_dropout` is not supported: it would put a
    random mask inside the loop; use `keras.layers.RNN(SimpleRNNCell(...))` for it
    (`tasks.common.layers.recurrent_layer` picks the cell then).

    Args:
        units: Positive integer m, the size of the state s_t.
        activation: `"tanh"` (default) or `"relu"`, the lesson's f.
        use_bias: Whether to add the bias `b`. Default: `True`.
        kernel_initializer: Initializer for `U` (n, m). Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer for `W` (m, m). Default: `"orthogonal"`.
        bias_initializer: Initializer for `b` (m,). Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers for
            `U`, `W`, `b`. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints for `U`,
            `W`, `b`. Default: `None`.
        dropout: Fraction in [0, 1) of the inputs x_t to drop in training; one mask per
            sequence, reused at every step, as the cell does. Default: 0.
        recurrent_dropout: Accepted only as 0 (the default), so that the cell's
            arguments can be passed unchanged; anything else raises ValueError.
        seed: Integer seed for the dropout mask. Default: `None`.
        return_sequences: Return s_1..s_T `(batch, T, m)` instead of the last output
            `(batch, m)`. Default: `False`.
        return_state: Also return the final state s_T. Default: `False`.
        go_backwards: Process the sequence in reverse; outputs come in processing order,
            as in `keras.layers.RNN`. Default: `False`.
        unroll: `True` unrolls the time loop (needs a fixed T), `False` uses a
            `tf.while_loop`, `None` (default) unrolls fixed T <= `MAX_UNROLL_STEPS`.
        zero_output_for_mask: Output zeros at masked steps instead of the previous output,
            as in `keras.layers.RNN`; `keras.layers.Bidirectional` sets it to
            `return_sequences`. Default: `False`.

    Call arguments:
        sequences: x_1..x_T, `(batch, T, n)`.
        initial_state: s_0, `(batch, m)` or `[s_0]`; zeros by default, as in the lesson.
        mask: `(batch, T)` booleans; a masked step keeps s_{t-1}, and its output is the
            last unmasked output (zeros before the first), as `keras.layers.RNN` does.
        training: Enables dropout and the BPTT gradient.
    """

    # False lets TensorFlow differentiate the loop itself instead of using the BPTT
    # gradient: for benchmarks (benchmarks/rnn_throughput.py --ablation) and tests.
    use_bptt_gradient = True

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        unroll=None,
        zero_output_for_mask=False,
        **kwargs,
    ):
        check_arguments(units, activation, dropout, recurrent_dropout)
        if recurrent_dropout != 0:
            raise ValueError(
                "recurrent_dropout is not supported by rnn_layers.SimpleRNN, got "
                f"{recurrent_dropout!r}; use keras.layers.RNN(SimpleRNNCell(...)) for it"
            )
        if unroll not in (None, True, False):
            raise ValueError(f"unroll must be True, False or None, got {unroll!r}")
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.stateful = False  # read by keras.layers.Bidirectional; states are not kept
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        self._unrolls(sequences_shape[1])  # a bad `unroll` fails here, not at the first batch
        add_lesson_weights(self, sequences_shape[-1])

    def _unrolls(self, steps):
        if self.unroll is None:
            return steps is not None and steps <= MAX_UNROLL_STEPS
        if self.unroll and steps is None:
            raise ValueError(
                "unroll=True needs a fixed number of time steps; give the Input a "
                f"shape with T, got input shape (batch, None, features) in {self.name!r}"
            )
        return self.unroll

    def call(self, sequences, initial_state=None, mask=None, training=False):
        dtype = self.compute_dtype
        x = tf.cast(sequences, dtype)  # (B, T, n)
        if training and self.dropout > 0:
            # One mask per sequence, reused at every step (as DropoutRNNCell does).
            keep = keras.random.dropout(
                tf.ones_like(x[:, 0]), self.dropout, seed=self.seed_generator
            )  # (B, n)
            x = x * keep[:, tf.newaxis, :]
        x = tf.transpose(x, (1, 0, 2))  # (T, B, n) time-major
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool))[:, :, tf.newaxis]  # (T, B, 1)
        if self.go_backwards:
            x = tf.reverse(x, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        if initial_state is None:
            s0 = tf.zeros((tf.shape(x)[1], self.units), dtype)  # s_0 = 0
        else:
            s0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
            s0 = tf.cast(s0, dtype)  # (B, m)

        states = rnn_states(
            x,
            tf.cast(self.U, dtype),
            None if self.b is None else tf.cast(self.b, dtype),
            tf.cast(self.W, dtype),
            s0,
            mask,
            self.activation,
            unroll=self._unrolls(x.shape[0]),
            return_sequences=self.return_sequences,
            bptt=bool(training) and self.use_bptt_gradient,
        )  # (T, B, m) or (B, m)
        final_state = states[-1] if self.return_sequences else states
        output = states
        if mask is not None:
            output = tf.where(self._output_kept(mask), output, tf.zeros_like(output))
        if self.return_sequences:
            output = tf.transpose(output, (1, 0, 2))  # (B, T, m)
        if self.return_state:
            return output, final_state
        return output

    def _output_kept(self, mask):
        """Where the output is the state; elsewhere keras.layers.RNN outputs zeros.

        Its output at a masked step is the previous OUTPUT, which is zeros before the
        first unmasked step (while the state there is still s_0); with
        `zero_output_for_mask` it is zeros at every masked step.
        """
        if self.zero_output_for_mask:
            return mask if self.return_sequences else mask[-1]  # (T, B, 1) or (B, 1)
        if self.return_sequences:
            return tf.cumsum(tf.cast(mask, tf.int32), axis=0) > 0  # (T, B, 1)
        return tf.reduce_any(mask, axis=0)  # (B, 1)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        output_shape = (
            (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        )
        if self.return_state:
            return output_shape, (batch, self.units)
        return output_shape

    def compute_mask(self, sequences, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None]
        return output_mask

    def get_config(self):
        config = {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(
                self.recurrent_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": 0.0,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        return {**super().get_config(), **config}
