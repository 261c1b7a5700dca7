"""The recurrence's chain as compiled TensorFlow ops (rnn_chain.cc), and how to build and load them."""
