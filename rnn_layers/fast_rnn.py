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
Measurements (what each part buys, against Keras and PyTorch): docs/speed.md.
"""

import keras
import tensorflow as tf

from rnn_layers.simple_rnn_cell import add_lesson_weights, check_arguments

# The lesson's f and its derivative written with the OUTPUT h = f(a), which is what
# the forward pass keeps: tanh'(a) = 1 - h^2, relu'(a) = [h > 0].
ACTIVATIONS = {
    "tanh": (tf.tanh, lambda h: 1.0 - tf.square(h)),
    "relu": (tf.nn.relu, lambda h: tf.cast(h > 0, h.dtype)),
}

# Fixed lengths up to this are unrolled into straight-line code: on CPU a chain of T
# small matmuls runs faster than a tf.while_loop, whose control-flow and TensorArray ops
# cost more per step than the step itself at these sizes. Longer or unknown lengths loop.
MAX_UNROLL_STEPS = 128


def _forward(xu, W, s0, mask, f, unroll):
    """s_t = f(xu_t + s_{t-1} @ W) for t = 1..T; a masked step keeps s_{t-1}.

    xu: (T, B, m) time-major x_t @ U + b; W: (m, m); s0: (B, m); mask: (T, B, 1) bool or
    None. Returns (S, s_T): S (T + 1, B, m) = [s_0, s_1, ..., s_T] and s_T (B, m).
    """

    def step(s_prev, xu_t, mask_t):
        s_t = f(xu_t + tf.matmul(s_prev, W))  # (B, m)
        return s_t if mask_t is None else tf.where(mask_t, s_t, s_prev)

    if unroll:
        states = [s0]
        masks = [None] * xu.shape[0] if mask is None else tf.unstack(mask)
        for xu_t, mask_t in zip(tf.unstack(xu), masks):
            states.append(step(states[-1], xu_t, mask_t))
        return tf.stack(states), states[-1]

    steps = tf.shape(xu)[0]
    states = tf.TensorArray(xu.dtype, size=steps + 1, element_shape=s0.shape)

    def body(t, s, states):
        s = step(s, xu[t], None if mask is None else mask[t])
        return t + 1, s, states.write(t + 1, s)

    _, s_last, states = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), s0, states.write(0, s0))
    )
    return states.stack(), s_last


def _backward(S, dS, carry, W, mask, f_prime, unroll):
    """BPTT's reverse loop: the per-step deltas dL/da_t and dL/ds_0.

    S: (T + 1, B, m) from `_forward`; dS: (T, B, m) gradient of the loss w.r.t. the
    returned s_1..s_T, or None when only s_T is returned; carry: (B, m) dL/ds_T from
    outside (zeros when dS is given). Returns (Delta (T, B, m), dL/ds_0 (B, m)).
    """
    # Derivative of f for every step at once, outside the sequential loop.
    f_prime_S = f_prime(S[1:])  # (T, B, m)
    keep = None
    if mask is not None:
        mask = tf.cast(mask, S.dtype)  # (T, B, 1)
        f_prime_S = f_prime_S * mask  # a masked step did not go through f ...
        keep = 1.0 - mask  # ... it copied s_{t-1}: its gradient passes straight back
    W_t = tf.transpose(W)

    def step(carry, dS_t, f_prime_t, keep_t):
        g = carry if dS_t is None else carry + dS_t  # total dL/ds_t
        delta = g * f_prime_t  # backprop through f: dL/da_t
        carry = tf.matmul(delta, W_t)  # dL/ds_{t-1} through W
        return delta, carry if keep_t is None else carry + g * keep_t

    if unroll:
        steps = S.shape[0] - 1
        dS = [None] * steps if dS is None else tf.unstack(dS)
        keep = [None] * steps if keep is None else tf.unstack(keep)
        deltas = [None] * steps
        for t, f_prime_t in reversed(list(enumerate(tf.unstack(f_prime_S)))):
            deltas[t], carry = step(carry, dS[t], f_prime_t, keep[t])
        return tf.stack(deltas), carry

    steps = tf.shape(f_prime_S)[0]
    deltas = tf.TensorArray(S.dtype, size=steps, element_shape=carry.shape)

    def body(t, carry, deltas):
        delta, carry = step(
            carry,
            None if dS is None else dS[t],
            f_prime_S[t],
            None if keep is None else keep[t],
        )
        return t - 1, carry, deltas.write(t, delta)

    _, carry, deltas = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, carry, deltas)
    )
    return deltas.stack(), carry


def recurrence(
    xu,
    W,
    s0,
    mask=None,
    activation="tanh",
    unroll=False,
    return_sequences=True,
    bptt=True,
):
    """The states of s_t = f(xu_t + s_{t-1} @ W), differentiable w.r.t. xu, W and s0.

    xu: (T, B, m) the hoisted x_t @ U + b, time-major; W: (m, m); s0: (B, m); mask:
    (T, B, 1) bool, a masked step keeps s_{t-1}, or None. Returns s_1..s_T (T, B, m) if
    `return_sequences`, else s_T (B, m). With `bptt=True` the gradient is the lesson's
    BPTT; with `bptt=False` TensorFlow differentiates the loop itself (inference graphs,
    and the reference in tests and benchmarks).
    """
    f, f_prime = ACTIVATIONS[activation]
    if not bptt:
        S, s_last = _forward(xu, W, s0, mask, f, unroll)
        return S[1:] if return_sequences else s_last

    @tf.custom_gradient
    def run(xu, W, s0):
        S, s_last = _forward(xu, W, s0, mask, f, unroll)  # (T + 1, B, m), (B, m)

        def grad(upstream):
            if return_sequences:
                dS, carry = upstream, tf.zeros_like(s0)
            else:
                dS, carry = None, upstream
            Delta, ds0 = _backward(S, dS, carry, W, mask, f_prime, unroll)  # (T, B, m)
            m = W.shape[0]
            # The lesson's sum over i = 1..T as one (m, T*B) @ (T*B, m) product:
            # dW = S_prev^T @ Delta. dU and db follow from xu = x @ U + b by autodiff.
            dW = tf.matmul(
                tf.reshape(S[:-1], (-1, m)), tf.reshape(Delta, (-1, m)), transpose_a=True
            )
            return Delta, dW, ds0

        return (S[1:] if return_sequences else s_last), grad

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

        xu = tf.einsum("tbn,nm->tbm", x, tf.cast(self.U, dtype))  # (T, B, m): hoisted
        if self.b is not None:
            xu = xu + tf.cast(self.b, dtype)
        states = recurrence(
            xu,
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
