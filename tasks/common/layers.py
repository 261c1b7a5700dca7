"""The recurrent layer every task builds: the lesson's cell, through its fast layer when it can."""
from __future__ import annotations

import keras

from rnn_layers import CellRNN, SimpleRNNCell
from rnn_layers.fast_rnn import SimpleRNN
from tasks.common.errors import ConfigError

IMPLEMENTATIONS = ("auto", "cell", "fast")


def recurrent_layer(units: int, activation: str = "tanh", return_sequences: bool = False,
                    return_state: bool = False, go_backwards: bool = False, implementation: str = "auto",
                    name: str | None = None, **cell_kwargs) -> keras.layers.Layer:
    """s_t = f(x_t U + s_{t-1} W + b) over a sequence, as `keras.layers.RNN(SimpleRNNCell(...))` does.

    implementation:
        "cell": `rnn_layers.CellRNN(SimpleRNNCell(units, ...))`, keras.layers.RNN running the lesson's
            cell step by step (with the recording mode rnn_layers.vanishing reads dL/ds_t through).
        "fast": `rnn_layers.SimpleRNN`, the same math with the input projection hoisted out of
            the loop and BPTT as the gradient (docs/speed.md); it raises ValueError for
            recurrent_dropout, which it does not support.
        "auto" (default): "fast" unless an option needs the cell.
    `cell_kwargs` are SimpleRNNCell's (use_bias, initializers, regularizers, constraints,
    dropout, recurrent_dropout, seed). Both layers have weights U, W, b of the same shapes,
    but their checkpoints are laid out differently: restore with the implementation that saved.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ConfigError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    sequence_options = dict(return_sequences=return_sequences, return_state=return_state,
                            go_backwards=go_backwards, name=name)
    needs_cell = implementation == "auto" and cell_kwargs.get("recurrent_dropout", 0.0)
    if implementation == "cell" or needs_cell:
        cell = SimpleRNNCell(units, activation=activation, **cell_kwargs)
        return CellRNN(cell, **sequence_options)
    return SimpleRNN(units, activation=activation, **cell_kwargs, **sequence_options)


def step_function(layer: keras.layers.Layer):
    """(x_t, s_{t-1}) -> s_t: one step of a layer made by `recurrent_layer`, with its own weights.

    For decoders that feed each output back in: `SimpleRNN.step`, or the cell of `RNN(SimpleRNNCell)`.
    """
    if isinstance(layer, SimpleRNN):
        return layer.step
    return lambda x_t, s_prev: layer.cell(x_t, [s_prev])[0]
