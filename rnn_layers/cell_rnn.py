"""`CellRNN(SimpleRNNCell(m))`: keras.layers.RNN over the lesson's cell, step by step, with the recording mode.

Exactly `keras.layers.RNN` (same arguments, weights, masking and outputs; its loop runs the cell), plus
what the lesson's layers share: a public `step` and `recording_states()` (rnn_layers.recording), so
rnn_layers.vanishing can read dL/ds_t without touching the layer. `tasks.common.layers.recurrent_layer`
builds it for `implementation="cell"`.
"""

import keras

from rnn_layers.fast_rnn import cell_step
from rnn_layers.recording import StateRecording
from rnn_layers.simple_rnn_cell import SimpleRNNCell


@keras.saving.register_keras_serializable(package="rnn_layers")
class CellRNN(StateRecording, keras.layers.RNN):
    """`keras.layers.RNN(cell, ...)` for a `SimpleRNNCell`, with `step` and the recording mode.

    Args: those of `keras.layers.RNN`; `cell` must be a `SimpleRNNCell`.
    """

    def __init__(self, cell, **kwargs):
        if not isinstance(cell, SimpleRNNCell):
            raise ValueError(f"cell must be an rnn_layers.SimpleRNNCell, got {type(cell).__name__}")
        super().__init__(cell, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.recording:  # rnn_layers.recording: every s_t a tensor of its own, for dL/ds_t
            return self.recorded_call(sequences, initial_state, mask)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def step(self, x_t, s_prev):
        """One step s_t = f(x_t U + b + s_{t-1} W) with the cell's weights, no dropout: (B, n), (B, m) -> (B, m)."""
        return cell_step(self.cell, x_t, s_prev)
