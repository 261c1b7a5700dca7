"""The recurrence's chain as compiled TensorFlow ops (rnn_chain.cc): built by `build`, loaded by rnn_layers.chain_kernel."""
from pathlib import Path

SOURCE = Path(__file__).with_name("rnn_chain.cc")
LIBRARY = Path(__file__).with_name("_rnn_chain.so")  # what `python -m rnn_layers.kernels.build` writes
