"""A fast layer with the lesson's math: `SimpleRNN(m)` == `keras.layers.RNN(SimpleRNNCell(m))`.

Two facts from the lesson make the vanilla RNN cheaper than a step-by-step cell:

1. Only `s_{t-1} @ W` needs the previous step. `x_t @ U + b` for all t is one large
   matrix product done before the time loop (the "hoisted input projection").
2. BPTT needs the time loop only for the per-step deltas
   `delta_t = dL/da_t` (a_t the pre-activation). Once they are known, the lesson's sums
   over i = 1..T are single large products: `dW = S_prev^T @ Delta` and, through the
   hoisted projection, `dU = X^T @ Delta`, `db = sum(Delta)`. Autodiff through a
   `tf.while_loop` instead accumulates T small `dW` products step by step.

This layer uses TensorFlow ops directly (`tf.custom_gradient`, `tf.while_loop`), not
`keras.ops`: Keras has no backend-neutral custom gradient, so it needs the TensorFlow
backend. Its weights `U`, `W`, `b` have the cell's names, shapes and initializers, so
`fast.set_weights(cell_rnn.get_weights())` copies a trained model in either direction.
"""

import keras
import tensorflow as tf

# The lesson's f and its derivative written with the OUTPUT h = f(a), which is what
# the forward pass keeps: tanh'(a) = 1 - h^2, relu'(a) = [h > 0].
ACTIVATIONS = {
    "tanh": (tf.tanh, lambda h: 1.0 - tf.square(h)),
    "relu": (tf.nn.relu, lambda h: tf.cast(h > 0, h.dtype)),
}

# Fixed lengths up to this are unrolled into straight-line code: on CPU a graph of T
# small matmuls runs faster than a tf.while_loop (per-iteration overhead), and XLA
# compiles the straight line into one kernel sequence. Longer sequences use a loop.
# See benchmarks/rnn_throughput.py and docs/speed.md for the measurements.
MAX_UNROLL_STEPS = 64


def _forward_steps(xu, W, s0, mask, activation, unroll):
    """States s_1..s_T of s_t = f(xu_t + s_{t-1} @ W); a masked step keeps s_{t-1}.

    xu: (T, B, m) time-major x_t @ U + b; W: (m, m); s0: (B, m); mask: (T, B, 1) bool
    or None. Returns S: (T, B, m).
    """
    f, _ = ACTIVATIONS[activation]

    def step(s_prev, xu_t, mask_t):
        s_t = f(xu_t + tf.matmul(s_prev, W))  # (B, m)
        return s_t if mask_t is None else tf.where(mask_t, s_t, s_prev)

    if unroll:
        states, s = [], s0
        for t in range(xu.shape[0]):
            s = step(s, xu[t], None if mask is None else mask[t])
            states.append(s)
        return tf.stack(states)  # (T, B, m)

    steps = tf.shape(xu)[0]
    states = tf.TensorArray(xu.dtype, size=steps, element_shape=s0.shape)

    def body(t, s, states):
        s = step(s, xu[t], None if mask is None else mask[t])
        return t + 1, s, states.write(t, s)

    _, _, states = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), s0, states)
    )
    return states.stack()  # (T, B, m)


def _backward_steps(dS, S, W, mask, activation, unroll):
    """BPTT's reverse loop: per-step deltas dL/da_t and the gradient reaching s_0.

    dS: (T, B, m) gradient of the loss w.r.t. each returned s_t (from outside);
    S: (T, B, m) the forward states. Returns (Delta (T, B, m), ds0 (B, m)).
    """
    _, f_prime = ACTIVATIONS[activation]
    W_t = tf.transpose(W)

    def step(carry, dS_t, S_t, mask_t):
        g = dS_t + carry  # total dL/ds_t: from outside plus from s_{t+1}
        delta = g * f_prime(S_t)  # backprop through f: dL/da_t
        if mask_t is not None:
            # A masked step copied s_{t-1}: its gradient passes straight through.
            delta = tf.where(mask_t, delta, tf.zeros_like(delta))
            return delta, tf.matmul(delta, W_t) + tf.where(mask_t, tf.zeros_like(g), g)
        return delta, tf.matmul(delta, W_t)  # dL/ds_{t-1} through W

    carry = tf.zeros_like(S[0])
    if unroll:
        deltas = []
        for t in reversed(range(S.shape[0])):
            delta, carry = step(carry, dS[t], S[t], None if mask is None else mask[t])
            deltas.append(delta)
        return tf.stack(deltas[::-1]), carry

    steps = tf.shape(S)[0]
    deltas = tf.TensorArray(S.dtype, size=steps, element_shape=carry.shape)

    def body(t, carry, deltas):
        delta, carry = step(carry, dS[t], S[t], None if mask is None else mask[t])
        return t - 1, carry, deltas.write(t, delta)

    _, carry, deltas = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, carry, deltas)
    )
    return deltas.stack(), carry


def recurrence(xu, W, s0, mask=None, activation="tanh", unroll=False, bptt=True):
    """s_1..s_T, differentiable w.r.t. xu, W and s0; `bptt=True` uses the BPTT gradient.

    With `bptt=False` this is the plain forward pass and TensorFlow differentiates the
    loop itself (kept for inference graphs and as the reference in tests).
    """
    if not bptt:
        return _forward_steps(xu, W, s0, mask, activation, unroll)

    @tf.custom_gradient
    def run(xu, W, s0):
        S = _forward_steps(xu, W, s0, mask, activation, unroll)  # (T, B, m)

        def grad(dS):
            Delta, ds0 = _backward_steps(dS, S, W, mask, activation, unroll)
            S_prev = tf.concat([s0[tf.newaxis], S[:-1]], axis=0)  # (T, B, m)
            m = tf.shape(W)[0]
            # The lesson's sum over i = 1..T as one (m, T*B) @ (T*B, m) product.
            dW = tf.matmul(
                tf.reshape(S_prev, (-1, m)), tf.reshape(Delta, (-1, m)), transpose_a=True
            )
            return Delta, dW, ds0  # dU and db follow from xu = x @ U + b by autodiff

        return S, grad

    return run(xu, W, s0)


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
        seed: Integer seed for the dropout mask. Default: `None`.
        return_sequences: Return s_1..s_T `(batch, T, m)` instead of the last output
            `(batch, m)`. Default: `False`.
        return_state: Also return the final state s_T. Default: `False`.
        go_backwards: Process the sequence in reverse; outputs come in processing order,
            as in `keras.layers.RNN`. Default: `False`.
        unroll: `True` unrolls the time loop (needs a fixed T), `False` uses a
            `tf.while_loop`, `None` (default) unrolls fixed T <= `MAX_UNROLL_STEPS`.

    Call arguments:
        sequences: x_1..x_T, `(batch, T, n)`.
        initial_state: s_0, `(batch, m)` or `[s_0]`; zeros by default, as in the lesson.
        mask: `(batch, T)` booleans; a masked step keeps s_{t-1}, and its output is the
            last unmasked output (zeros before the first), as `keras.layers.RNN` does.
        training: Enables dropout and the BPTT gradient.
    """

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
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        unroll=None,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
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
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        input_dim = sequences_shape[-1]
        self.U = self.add_weight(
            shape=(input_dim, self.units),  # (n, m)
            name="U",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.W = self.add_weight(
            shape=(self.units, self.units),  # (m, m)
            name="W",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.b = self.add_weight(
                shape=(self.units,),  # (m,)
                name="b",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.b = None

    def _unrolls(self, steps):
        if self.unroll is None:
            return steps is not None and steps <= MAX_UNROLL_STEPS
        if self.unroll and steps is None:
            raise ValueError(
                "unroll=True needs a fixed number of time steps; give the Input a "
                f"shape with T, got input shape (batch, None, features) in {self.name}"
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
        steps = x.shape[1]

        xu = tf.einsum("btn,nm->tbm", x, tf.cast(self.U, dtype))  # (T, B, m) hoisted
        if self.b is not None:
            xu = xu + tf.cast(self.b, dtype)
        if initial_state is None:
            s0 = tf.zeros((tf.shape(x)[0], self.units), dtype)  # s_0 = 0
        else:
            s0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
            s0 = tf.cast(s0, dtype)
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool))[:, :, tf.newaxis]  # (T, B, 1)
        if self.go_backwards:
            xu = tf.reverse(xu, [0])
            mask = None if mask is None else tf.reverse(mask, [0])

        S = recurrence(
            xu,
            tf.cast(self.W, dtype),
            s0,
            mask,
            self.activation,
            unroll=self._unrolls(steps),
            bptt=bool(training),
        )  # (T, B, m)
        final_state = S[-1]
        if mask is not None:
            # keras.layers.RNN's masked output is the previous OUTPUT, zeros before the
            # first unmasked step (while the state there is still s_0).
            seen = tf.cumsum(tf.cast(mask, dtype), axis=0) > 0  # (T, B, 1)
            S = tf.where(seen, S, tf.zeros_like(S))
        output = tf.transpose(S, (1, 0, 2)) if self.return_sequences else S[-1]
        if self.return_state:
            return output, final_state
        return output

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
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        }
        return {**super().get_config(), **config}
