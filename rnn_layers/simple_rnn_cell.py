"""The lesson's vanilla RNN cell as a Keras 3 layer: s_t = f(U x_t + W s_{t-1} + b)."""

import keras
from keras import ops

# keras.layers.RNN only pre-draws "one dropout mask per sequence" for cells that are
# instances of this mixin (see RNN._maybe_config_dropout_masks); it has no public alias
# in Keras 3.15, so it is imported from keras.src like Keras's own cells do.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

# The lesson names exactly these two (f = tanh or ReLU); anything else is a typo.
ACTIVATIONS = {"tanh": ops.tanh, "relu": ops.relu}


@keras.saving.register_keras_serializable(package="rnn_layers")
class SimpleRNNCell(keras.layers.Layer, DropoutRNNCell):
    """One step of the lesson's vanilla RNN: s_t = f(U x_t + W s_{t-1} + b).

    The lesson writes column vectors (x_t is n x 1, U is m x n). Keras works on batches of
    row vectors, so here x_t is (batch, n), U is (n, m) and the step is
    `s_t = f(x_t @ U + s_{t-1} @ W + b)`: the same numbers, transposed. The weights map
    one to one onto `keras.layers.SimpleRNNCell`, in the same order, so
    `keras_cell.set_weights(cell.get_weights())` copies them:

    | here | lesson            | keras.layers.SimpleRNNCell |
    |------|-------------------|----------------------------|
    | `U`  | U (input -> state)| `kernel` (n, m)            |
    | `W`  | W (state -> state)| `recurrent_kernel` (m, m)  |
    | `b`  | (not in lesson)   | `bias` (m,)                |

    Use it inside `keras.layers.RNN(SimpleRNNCell(m), ...)`; masking, `return_sequences`,
    `return_state`, `go_backwards`, `stateful`, `unroll` and `keras.layers.Bidirectional`
    all come from that wrapper. A masked step carries s_{t-1} through unchanged.

    Args:
        units: Positive integer m, the size of the state s_t.
        activation: `"tanh"` (default) or `"relu"`, the lesson's f.
        use_bias: Whether to add the bias `b`. Default: `True`.
        kernel_initializer: Initializer for `U`. Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer for `W`. Default: `"orthogonal"`.
        bias_initializer: Initializer for `b`. Default: `"zeros"`.
        kernel_regularizer: Regularizer for `U`. Default: `None`.
        recurrent_regularizer: Regularizer for `W`. Default: `None`.
        bias_regularizer: Regularizer for `b`. Default: `None`.
        kernel_constraint: Constraint for `U`. Default: `None`.
        recurrent_constraint: Constraint for `W`. Default: `None`.
        bias_constraint: Constraint for `b`. Default: `None`.
        dropout: Fraction in [0, 1) of the inputs x_t to drop. One mask is drawn per
            sequence and reused at every step. Default: 0.
        recurrent_dropout: Fraction in [0, 1) of the state s_{t-1} to drop before it is
            multiplied by `W`; one mask per sequence. Default: 0.
        seed: Integer seed for the dropout masks. Default: `None`.

    Call arguments:
        inputs: x_t, shape `(batch, n)`.
        states: `[s_{t-1}]`, shape `(batch, m)` (a bare tensor is accepted too).
        training: Whether dropout is applied.

    Returns:
        `(s_t, [s_t])`: the output of the step is the new state.

    Example:

    ```python
    rnn = keras.layers.RNN(SimpleRNNCell(16), return_sequences=True)
    states = rnn(np.zeros((8, 30, 4), "float32"))  # (8, 30, 16): s_1 .. s_30
    ```
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
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        check_arguments(units, activation, dropout, recurrent_dropout)
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
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        # The DropoutRNNCell mixin draws its masks from this generator.
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        add_lesson_weights(self, input_shape[-1])

    def call(self, inputs, states, training=False):
        x_t = inputs  # (B, n)
        s_prev = states[0] if isinstance(states, (list, tuple)) else states  # (B, m)
        # The RNN wrapper draws these once per batch of sequences and resets them after.
        input_mask = self.get_dropout_mask(x_t)
        state_mask = self.get_recurrent_dropout_mask(s_prev)
        if training and input_mask is not None:
            x_t = x_t * input_mask
        if training and state_mask is not None:
            s_prev = s_prev * state_mask

        pre_activation = ops.matmul(x_t, self.U) + ops.matmul(s_prev, self.W)  # (B, m)
        if self.b is not None:
            pre_activation = pre_activation + self.b
        s_t = ACTIVATIONS[self.activation](pre_activation)  # (B, m)

        new_states = [s_t] if isinstance(states, (list, tuple)) else s_t
        return s_t, new_states

    def get_initial_state(self, batch_size=None):
        """s_0 = 0, as in the lesson."""
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

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
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def check_arguments(units, activation, dropout, recurrent_dropout):
    """Raises ValueError, naming the argument, for what the lesson's RNN cannot take.

    Shared by `SimpleRNNCell` and the fast layer `rnn_layers.SimpleRNN`.
    """
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive integer, got {units!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate!r}")


def add_lesson_weights(layer, input_dim):
    """Creates `layer.U` (n, m), `layer.W` (m, m) and `layer.b` (m,) or None from the layer's
    units, use_bias and kernel/recurrent/bias initializer, regularizer and constraint attributes."""
    layer.U = layer.add_weight(
        shape=(input_dim, layer.units),  # (n, m)
        name="U",
        initializer=layer.kernel_initializer,
        regularizer=layer.kernel_regularizer,
        constraint=layer.kernel_constraint,
    )
    layer.W = layer.add_weight(
        shape=(layer.units, layer.units),  # (m, m)
        name="W",
        initializer=layer.recurrent_initializer,
        regularizer=layer.recurrent_regularizer,
        constraint=layer.recurrent_constraint,
    )
    layer.b = None
    if layer.use_bias:
        layer.b = layer.add_weight(
            shape=(layer.units,),  # (m,)
            name="b",
            initializer=layer.bias_initializer,
            regularizer=layer.bias_regularizer,
            constraint=layer.bias_constraint,
        )
