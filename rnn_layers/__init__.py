"""The lesson's vanilla RNN: a Keras cell plus hand-written BPTT, checked against autodiff.

- `SimpleRNNCell`: s_t = f(U x_t + W s_{t-1} + b), for `keras.layers.RNN(SimpleRNNCell(m))`.
- `CellRNN(SimpleRNNCell(m))`: that keras.layers.RNN with a public `step` and a recording mode.
- `SimpleRNN(m)`: the same math, faster (hoisted input projection, BPTT as its gradient).
- `rnn_layers.bptt`: forward and backward passes in NumPy float64, after the lesson.
- `python -m rnn_layers.gradcheck`: BPTT vs tf.GradientTape vs finite differences.
- `rnn_layers.vanishing`: ||ds_T/ds_t|| over t and a TensorBoard callback for ||dL/ds_t||.
"""

from rnn_layers.cell_rnn import CellRNN
from rnn_layers.fast_rnn import SimpleRNN
from rnn_layers.simple_rnn_cell import SimpleRNNCell

__all__ = ["CellRNN", "SimpleRNN", "SimpleRNNCell"]
