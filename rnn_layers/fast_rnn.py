"""A fast layer with the lesson's math: `SimpleRNN(m)` == `keras.layers.RNN(SimpleRNNCell(m))`.

Two facts from the lesson make the vanilla RNN cheaper than a step-by-step cell:

1. Only `s_{t-1} @ W` needs the previous step. `x_t @ U + b` for many steps at once is
   one large matrix product outside the sequential chain (the "hoisted input projection").
2. BPTT needs the time loop only for the per-step deltas `delta_t = dL/da_t` (a_t the
   pre-activation). The lesson's sums over the steps need not wait in the chain:
   `dU = X^T @ Delta`, `db = sum(Delta)` and `dL/dx = Delta @ U^T` are large products,
   and `dW = sum_t s_{t-1}^T delta_t` can start as soon as each delta is known. Autodiff
   of a step-by-step `tf.while_loop` instead stacks every step's intermediates and
   accumulates all of them inside the loop.

On a CPU the chain of T small `s_{t-1} @ W` products is the critical path, and it leaves
the other cores idle. So the sequence is cut into spans of `SPAN_STEPS` steps (unrolled for
a fixed T, one `tf.while_loop` iteration per span otherwise): the projection of span k + 1,
and the weight gradients of a span as soon as its deltas are known, run on the other cores
while the chain goes on.

In training, where the ops of rnn_layers/kernels are built, each way is instead one compiled op
that splits the batch's rows between the cores, each core running its rows' chain and their
share of the large products (`_compiled`); the TensorFlow-op chain
stays for inference (so exports need no op library), for XLA, and where the library is not built.

This layer uses TensorFlow ops directly (`tf.custom_gradient`, `tf.while_loop`), not
`keras.ops`: Keras has no backend-neutral custom gradient, so it needs the TensorFlow
backend. Its weights `U`, `W`, `b` have the cell's names, shapes and initializers, so
`fast.set_weights(cell_rnn.get_weights())` copies a trained model in either direction.
Measurements (what each part buys, against Keras and PyTorch): docs/speed.md.
"""

import inspect

import keras
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # no public API tells an XLA-compiled graph

from rnn_layers.chain_kernel import chain_ops, inter_op_helpers
from rnn_layers.recording import StateRecording, output_kept
from rnn_layers.simple_rnn_cell import SimpleRNNCell

# SimpleRNNCell's own arguments (activation, use_bias, initializers, ...): passed to the cell
# this layer holds, so each is declared, documented and serialized in one place.
CELL_ARGUMENTS = tuple(
    name
    for name, parameter in inspect.signature(SimpleRNNCell.__init__).parameters.items()
    if name not in ("self", "units") and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
)

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
# Steps per span (module docstring). Measured on 2 cores (docs/speed.md): 3-6 steps train
# about equally fast and all beat one span; at 512 units or batch 256 the size hardly matters.
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


def _span_gradients(x, s_prev, deltas, U):
    """The lesson's sums over the steps of one span.

    x (k, B, n); s_prev: the span's s_{t-1}, k x (B, m); deltas: its dL/da_t, k x (B, m).
    Returns (dL/dx (k, B, n), dU (n, m), db (m,), dW (m, m)): dL/dx, dU and db are one
    product each over the span; dW is summed from per-step products, which start as soon
    as each delta is known and need no copy of the states into one tensor.
    """
    n, m = x.shape[-1], deltas[0].shape[-1]
    delta_flat = tf.reshape(tf.stack(deltas), (-1, m))  # (k*B, m)
    dx = tf.reshape(tf.matmul(delta_flat, U, transpose_b=True), tf.shape(x))
    dU = tf.matmul(tf.reshape(x, (-1, n)), delta_flat, transpose_a=True)
    dW = tf.add_n([tf.matmul(s, d, transpose_a=True) for s, d in zip(s_prev, deltas)])
    return dx, dU, tf.reduce_sum(delta_flat, 0), dW


def _span_forward(s, x, U, b, W, f, masks):
    """One span: x (k, B, n) -> [s_1, ..., s_k] from s = s_0, the projection as one product."""
    states = []
    for xu_t, mask_t in zip(tf.unstack(_project(x, U, b)), masks):
        s = _step(s, xu_t, W, f, mask_t)
        states.append(s)
    return states


def _span_backward(carry, dS, states, W_t, f_grad, masks):
    """One span's reverse loop: carry = dL/ds_k from the later steps -> ([delta_1..delta_k], dL/ds_0).

    dS: the loss's own gradient w.r.t. each of the span's outputs, or Nones; states: s_1..s_k.
    """
    deltas = [None] * len(states)
    for j in reversed(range(len(states))):
        g = carry if dS[j] is None else carry + dS[j]  # dL/ds_t, all paths
        deltas[j], carry = _back_step(g, states[j], W_t, f_grad, masks[j])
    return deltas, carry


def _unrolled(x, U, b, W, s0, masks, activation, return_sequences, bptt):
    """The layer for a fixed T, one span of SPAN_STEPS steps at a time; see `rnn_states`."""
    f, f_grad = ACTIVATIONS[activation]
    steps = x.shape[0]
    spans = [slice(lo, min(lo + SPAN_STEPS, steps)) for lo in range(0, steps, SPAN_STEPS)]

    def forward(x, U, b, W, s0):
        states = [s0]  # s_0, s_1, ..., s_T, each (B, m)
        for span in spans:
            states += _span_forward(states[-1], x[span], U, b, W, f, masks[span])
        return states, (tf.stack(states[1:]) if return_sequences else states[-1])

    if not bptt:
        return forward(x, U, b, W, s0)[1]

    def backward(states, upstream):
        if return_sequences:
            dS, carry = tf.unstack(upstream), tf.zeros_like(s0)
        else:
            dS, carry = [None] * steps, upstream  # only s_T reached the loss
        W_t = tf.transpose(W)
        grads = []
        for span in reversed(spans):
            span_states = states[span.start + 1:span.stop + 1]  # s_t for t in the span
            deltas, carry = _span_backward(carry, dS[span], span_states, W_t, f_grad, masks[span])
            grads.append(_span_gradients(  # runs while the chain goes on to the earlier spans
                x[span], states[span], deltas, U))
        dx, dU, db, dW = zip(*reversed(grads))
        return tf.concat(dx, 0), tf.add_n(dU), tf.add_n(db), tf.add_n(dW), carry

    return _with_bptt_gradient(forward, backward, x, U, b, W, s0)


def _looped(x, U, b, W, s0, mask, activation, return_sequences, bptt):
    """The layer for any T: `tf.while_loop`s over spans of SPAN_STEPS steps; see `rnn_states`.

    T is padded to a multiple of the span with masked steps (a masked step keeps s_{t-1}, so
    s_T and the outputs up to T do not change); the padding is cut off again at the end.
    Without a mask only the last span, when padded, pays for masking. The backward pass reads
    the forward pass's span-shaped inputs and states as they are: no copy of either is re-padded.
    """
    f, f_grad = ACTIVATIONS[activation]
    k, steps = SPAN_STEPS, tf.shape(x)[0]
    num_spans = (steps + k - 1) // k
    padding = num_spans * k - steps

    def by_span(tensor):
        """(T, ...) -> (num_spans, k, ...), padded with zeros (False for the mask)."""
        tensor = tf.pad(tensor, [[0, padding]] + [[0, 0]] * (tensor.shape.rank - 1))
        spans = tf.reshape(tensor, tf.concat([[num_spans, k], tf.shape(tensor)[1:]], 0))
        return tf.ensure_shape(spans, [None, k, *tensor.shape[1:]])

    def unspan(spans):
        """(num_spans, k, ...) -> (T, ...): the padded steps cut off."""
        return tf.reshape(spans, tf.concat([[-1], tf.shape(spans)[2:]], 0))[:steps]

    mask_spans = None if mask is None else by_span(mask)
    tail_mask = tf.unstack((tf.range(k) < k - padding)[:, tf.newaxis, tf.newaxis])  # k x (1, 1)

    def with_span_masks(i, run_span):
        """run_span(masks) for span i: its steps' masks, or Nones where no step is masked."""
        if mask_spans is not None:
            return run_span(tf.unstack(mask_spans[i]))
        if x.shape[0] is not None and x.shape[0] % k == 0:
            return run_span([None] * k)
        return tf.cond(
            (i == num_spans - 1) & (padding > 0),
            lambda: run_span(tail_mask),
            lambda: run_span([None] * k),
        )

    def forward(x, U, b, W, s0):
        x_spans = by_span(x)  # (num_spans, k, B, n)
        states = tf.TensorArray(x.dtype, size=num_spans, element_shape=(k, *s0.shape))

        def body(i, s, states):
            span_states = with_span_masks(
                i, lambda masks: _span_forward(s, x_spans[i], U, b, W, f, masks)
            )
            return i + 1, span_states[-1], states.write(i, tf.stack(span_states))

        _, s_last, states = tf.while_loop(
            lambda i, *_: i < num_spans, body, (tf.constant(0), s0, states)
        )
        S_spans = states.stack()  # (num_spans, k, B, m): s_1..s_T and the padded steps
        return (x_spans, S_spans), (unspan(S_spans) if return_sequences else s_last)

    if not bptt:
        return forward(x, U, b, W, s0)[1]

    def backward(saved, upstream):
        x_spans, S_spans = saved
        if return_sequences:
            dS, carry = by_span(upstream), tf.zeros_like(s0)
        else:
            dS, carry = None, upstream
        # s_{t-1} of each span's first step: s_0, then the last state of the span before.
        first_prev = tf.concat([s0[tf.newaxis], S_spans[:-1, k - 1]], 0)  # (num_spans, B, m)
        W_t = tf.transpose(W)
        dx = tf.TensorArray(x.dtype, size=num_spans, element_shape=(k, *x.shape[1:]))
        sums = (tf.zeros_like(U), tf.zeros_like(U[0]), tf.zeros_like(W))  # dU, db, dW

        def body(j, carry, sums, dx):
            i = num_spans - 1 - j  # the last span first
            span_states = tf.unstack(S_spans[i])
            deltas, carry = with_span_masks(i, lambda masks: _span_backward(
                carry, [None] * k if dS is None else tf.unstack(dS[i]),
                span_states, W_t, f_grad, masks,
            ))
            # The span's products run while the next iteration carries the chain on.
            dx_i, *span_sums = _span_gradients(x_spans[i], [first_prev[i], *span_states[:-1]], deltas, U)
            sums = tuple(total + part for total, part in zip(sums, span_sums))
            return j + 1, carry, sums, dx.write(i, dx_i)

        _, carry, (dU, db, dW), dx = tf.while_loop(
            lambda i, *_: i < num_spans, body, (tf.constant(0), carry, sums, dx)
        )
        return unspan(dx.stack()), dU, db, dW, carry

    return _with_bptt_gradient(forward, backward, x, U, b, W, s0)


def _in_xla():
    """Whether the graph being built is compiled by XLA (`jit_compile=True`), which cannot run custom ops."""
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _compiled(ops, x, U, b, W, s0, mask, activation, return_sequences):
    """The layer in training, x batch-major (B, T, n): each way is one compiled op (rnn_layers/kernels).

    Forwards: `rnn_chain` projects x U + b and runs s_t = f(xu_t + s_{t-1} W) for t = 1..T.
    Backwards: `rnn_chain_grad` runs the reverse loop for the deltas dL/da_t and sums dW, dU and db;
    dL/dx = Delta U^T is one product, which TensorFlow prunes when x needs no gradient. Inside the ops
    each row of the batch is a chain of its own, so the rows are split between threads (the caller and
    helpers from the inter-op pool when it has more than one thread, else the intra-op pool) with no
    synchronisation between steps, and each thread runs its rows' large products too. The ops take and
    give the batch-major layout of x, so nothing is transposed.
    """
    step_mask = tf.zeros((0, 0), tf.bool) if mask is None else tf.transpose(mask[:, :, 0])  # (T, B)
    attrs = {"activation": activation, "inter_op_helpers": inter_op_helpers()}

    def forward(x, U, b, W, s0):
        bias = tf.zeros((0,), x.dtype) if b is None else b
        S = ops.rnn_chain(x, U, bias, s0, W, step_mask, **attrs)  # s_0..s_T (T+1, B, m)
        return S, (S[1:] if return_sequences else S[-1])

    def backward(S, upstream):
        if return_sequences:
            d_states, d_last = upstream, tf.zeros_like(s0)
        else:
            d_states, d_last = tf.zeros((0, 0, 0), S.dtype), upstream
        deltas, ds0, db, dW, dU = ops.rnn_chain_grad(S, W, d_states, d_last, step_mask, x, **attrs)
        dx = tf.reshape(tf.matmul(tf.reshape(deltas, (-1, W.shape[-1])), U, transpose_b=True), tf.shape(x))
        return dx, dU, db, dW, ds0

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
    compiled=True,
):
    """The states of s_t = f(x_t U + b + s_{t-1} W), differentiable w.r.t. x, U, b, W, s0.

    x: (B, T, n) batch-major; U: (n, m); b: (m,) or None; W: (m, m); s0: (B, m); mask:
    (B, T, 1) bool, a masked step keeps s_{t-1}, or None. Returns s_1..s_T time-major (T, B, m)
    if `return_sequences`, else s_T (B, m). With `bptt=True` the gradient is the lesson's BPTT;
    with `bptt=False` TensorFlow differentiates the forward pass itself (inference graphs, and the
    reference in tests and benchmarks). With `bptt` and `compiled` the chain runs in the compiled
    ops of rnn_layers/kernels when they are built (not under XLA, which cannot run them);
    otherwise in TensorFlow ops, unrolled (`unroll`, needs a fixed T) or span by span.
    """
    if bptt and compiled and x.dtype in (tf.float32, tf.float64) and not _in_xla():
        ops = chain_ops()
        if ops is not None:
            return _compiled(ops, x, U, b, W, s0, mask, activation, return_sequences)
    x = tf.transpose(x, (1, 0, 2))  # (T, B, n) time-major
    mask = None if mask is None else tf.transpose(mask, (1, 0, 2))
    if unroll:
        masks = [None] * x.shape[0] if mask is None else tf.unstack(mask)  # per step
        return _unrolled(x, U, b, W, s0, masks, activation, return_sequences, bptt)
    return _looped(x, U, b, W, s0, mask, activation, return_sequences, bptt)


def cell_step(cell, x_t, s_prev):
    """One step s_t = f(x_t U + b + s_{t-1} W) with a SimpleRNNCell's weights, no dropout: (B, n), (B, m) -> (B, m).

    The step of `SimpleRNN.step` and `CellRNN.step` (both hold their cell as `layer.cell`), which the
    recording mode (rnn_layers.recording) and step-by-step decoders run.
    """
    dtype = cell.compute_dtype
    b = None if cell.b is None else tf.cast(cell.b, dtype)
    xu_t = _project(tf.cast(x_t, dtype)[tf.newaxis], tf.cast(cell.U, dtype), b)[0]  # (B, m)
    return _step(tf.cast(s_prev, dtype), xu_t, tf.cast(cell.W, dtype), ACTIVATIONS[cell.activation][0], None)


@keras.saving.register_keras_serializable(package="rnn_layers")
class SimpleRNN(StateRecording, keras.layers.Layer):
    """The lesson's vanilla RNN over a whole sequence, with a hoisted input projection and BPTT.

    Numerically the same layer as `keras.layers.RNN(SimpleRNNCell(units, ...), ...)`
    (forward, gradients and masking; see tests/test_fast_rnn.py), and faster:

    - `x @ U + b` for every step is one matmul before the loop; the loop only does
      `s_t = f(xu_t + s_{t-1} @ W)`.
    - In training (`training=True`, as `model.fit` calls it) the gradient of the whole layer
      (x, U, b, W, s_0) is the lesson's BPTT via `tf.custom_gradient`: a reverse loop for the
      deltas dL/da_t, span by span; each span's dU, db and dL/dx are one product each and its
      dW a sum of per-step products, computed while the chain goes on to earlier spans (module
      docstring). At inference the plain forward pass is used, so exported SavedModels carry
      no custom gradient.
    - Fixed lengths up to `MAX_UNROLL_STEPS` are unrolled (see `unroll`).

    Like `keras.layers.SimpleRNN`, it holds its cell (`layer.cell`, a `SimpleRNNCell` with
    the weights U, W, b and the cell's arguments, each defined once there) and runs the
    cell's math over the whole sequence. It uses TensorFlow ops directly (Keras lacks a
    backend-neutral custom gradient), so it needs the TensorFlow backend.
    `recurrent_dropout` is not supported: use `keras.layers.RNN(SimpleRNNCell(...))` for it
    (`tasks.common.layers.recurrent_layer` picks the cell then).

    Args:
        units: Positive integer m, the size of the state s_t.
        **cell_arguments: `SimpleRNNCell`'s own arguments (activation, use_bias, the
            initializers, regularizers and constraints of U, W, b, dropout, seed), with their
            meaning and defaults; they are given to the cell this layer holds (`layer.cell`),
            whose weights it runs. `dropout` drops inputs in training, one mask per sequence.
            `recurrent_dropout` is accepted only as 0 (it would put a random mask inside the
            loop); anything else raises ValueError.
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

    `with layer.recording_states() as states:` runs it step by step and keeps every s_t
    (rnn_layers.recording), for dL/ds_t in rnn_layers.vanishing.
    """

    # False lets TensorFlow differentiate the loop itself instead of using the BPTT
    # gradient: for benchmarks (benchmarks/rnn_throughput.py --ablation) and tests.
    use_bptt_gradient = True
    # False runs the BPTT chain in TensorFlow ops (spans) even where the compiled ops are built:
    # the reference for the kernels in tests and benchmarks.
    use_compiled_chain = True

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        unroll=None,
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell_arguments = {name: kwargs.pop(name) for name in CELL_ARGUMENTS if name in kwargs}
        recurrent_dropout = cell_arguments.get("recurrent_dropout", 0.0)
        cell = SimpleRNNCell(  # checks units, activation and the dropout rates
            units, **cell_arguments, dtype=kwargs.get("dtype"), name="cell"
        )
        if recurrent_dropout != 0:
            raise ValueError(
                "recurrent_dropout is not supported by rnn_layers.SimpleRNN, got "
                f"{recurrent_dropout!r}; use keras.layers.RNN(SimpleRNNCell(...)) for it"
            )
        if unroll not in (None, True, False):
            raise ValueError(f"unroll must be True, False or None, got {unroll!r}")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.stateful = False  # read by keras.layers.Bidirectional; states are not kept
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    # The cell's weights and arguments, read through the layer as on the cell.
    units = property(lambda self: self.cell.units)
    activation = property(lambda self: self.cell.activation)
    dropout = property(lambda self: self.cell.dropout)
    U = property(lambda self: self.cell.U)  # (n, m)
    W = property(lambda self: self.cell.W)  # (m, m)
    b = property(lambda self: self.cell.b)  # (m,) or None

    def build(self, sequences_shape, initial_state_shape=None):
        self._unrolls(sequences_shape[1])  # a bad `unroll` fails here, not at the first batch
        self.cell.build((sequences_shape[0], sequences_shape[-1]))

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
        if self.recording:  # rnn_layers.recording: every s_t a tensor of its own, for dL/ds_t
            return self.recorded_call(sequences, initial_state, mask)
        dtype = self.compute_dtype
        x = tf.cast(sequences, dtype)  # (B, T, n)
        if training and self.dropout > 0:
            # One mask per sequence, reused at every step (as DropoutRNNCell does).
            keep = keras.random.dropout(
                tf.ones_like(x[:, 0]), self.dropout, seed=self.cell.seed_generator
            )  # (B, n)
            x = x * keep[:, tf.newaxis, :]
        if mask is not None:
            mask = tf.cast(mask, tf.bool)[:, :, tf.newaxis]  # (B, T, 1)
        if self.go_backwards:
            x = tf.reverse(x, [1])
            mask = None if mask is None else tf.reverse(mask, [1])
        if initial_state is None:
            s0 = tf.zeros((tf.shape(x)[0], self.units), dtype)  # s_0 = 0
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
            unroll=self._unrolls(x.shape[1]),
            return_sequences=self.return_sequences,
            bptt=bool(training) and self.use_bptt_gradient,
            compiled=self.use_compiled_chain,
        )  # (T, B, m) or (B, m)
        final_state = states[-1] if self.return_sequences else states
        output = states
        if mask is not None:
            kept = output_kept(tf.transpose(mask, (1, 0, 2)), self.return_sequences, self.zero_output_for_mask)
            output = tf.where(kept, output, tf.zeros_like(output))
        if self.return_sequences:
            output = tf.transpose(output, (1, 0, 2))  # (B, T, m)
        if self.return_state:
            return output, final_state
        return output

    def step(self, x_t, s_prev):
        """One step s_t = f(x_t U + b + s_{t-1} W) with this layer's weights: (B, n), (B, m) -> (B, m).

        What `SimpleRNNCell.call` computes (without dropout), for code that feeds each output back
        in one step at a time, such as a translation decoder at inference.
        """
        return cell_step(self.cell, x_t, s_prev)

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
        cell_config = self.cell.get_config()
        config = {
            "units": self.units,
            **{name: cell_config[name] for name in CELL_ARGUMENTS},
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        return {**super().get_config(), **config}
