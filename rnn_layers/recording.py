"""A recording mode of the lesson's RNN layers: every state s_t kept as a tensor of its own.

A layer runs its states inside one loop op, so s_1..s_T are not tensors that tf.GradientTape can
differentiate with respect to. Inside `with layer.recording_states() as states:` the layer instead
runs its own public `step` in an eager Python loop and appends each s_t to `states`; the model around
it runs unchanged, so `tape.gradient(loss, states)` is dL/ds_t (rnn_layers.vanishing). Both lesson
layers have the mode: `fast_rnn.SimpleRNN` and `cell_rnn.CellRNN` (keras.layers.RNN over the cell).
"""

import contextlib

import tensorflow as tf


def output_kept(mask, return_sequences, zero_output_for_mask=False):
    """Where a lesson RNN's output is its state, from a time-major mask (T, B, 1); elsewhere it is zeros.

    keras.layers.RNN outputs the previous OUTPUT at a masked step, which is zeros before the
    first unmasked step (while the state there is still s_0) and the carried state after it;
    with `zero_output_for_mask` it is zeros at every masked step. Returns (T, B, 1) for
    `return_sequences`, else (B, 1) for the last output.
    """
    if zero_output_for_mask:
        return mask if return_sequences else mask[-1]
    if return_sequences:
        return tf.cumsum(tf.cast(mask, tf.int32), axis=0) > 0
    return tf.reduce_any(mask, axis=0)


class _Record:
    """The states of one recording (an object, not a list, so Keras's attribute tracking leaves it alone)."""

    def __init__(self):
        self.states = []


class StateRecording:
    """Mixin of a lesson RNN layer (it has `step`, `cell`, `return_sequences`, `return_state`, `go_backwards`,
    `zero_output_for_mask`): the recording mode. Its `call` starts with

        if self.recording:
            return self.recorded_call(sequences, initial_state, mask)
    """

    _record = None  # a _Record while recording

    @property
    def recording(self):
        return self._record is not None

    @contextlib.contextmanager
    def recording_states(self):
        """Within the block every call of the layer appends s_1..s_T (processing order) to the list it yields.

        Dropout is off; a stateful layer starts from zeros. Needs eager execution.
        """
        if self.recording:
            raise RuntimeError(f"layer {self.name!r} is already recording its states")
        self._record = _Record()
        try:
            yield self._record.states
        finally:
            self._record = None

    def recorded_call(self, sequences, initial_state=None, mask=None):
        """The layer's output, from an eager loop of `self.step` that keeps every s_t (see the module docstring).

        A masked step carries s_{t-1}; outputs are taken from the states (not from each step's candidate),
        so dL/ds_t flows along the state, as in bptt.py; at masked steps keras.layers.RNN's output equals
        the carried state, or zeros where `output_kept` says so.
        """
        x = tf.convert_to_tensor(sequences, dtype=self.compute_dtype)  # (B, T, n)
        steps = list(range(x.shape[1]))
        if self.go_backwards:
            steps.reverse()
        if initial_state is None:
            s = tf.zeros((tf.shape(x)[0], self.cell.units), x.dtype)  # s_0 = 0
        else:
            s = tf.convert_to_tensor(tf.nest.flatten(initial_state)[0], x.dtype)
        masks = None if mask is None else [tf.cast(mask, tf.bool)[:, t, None] for t in steps]  # (B, 1) each
        states = []
        for i, t in enumerate(steps):
            s_new = self.step(x[:, t], s)
            s = s_new if masks is None else tf.where(masks[i], s_new, s)  # a masked step carries s_{t-1}
            states.append(s)
        self._record.states.extend(states)
        output = tf.stack(states) if self.return_sequences else states[-1]  # (T, B, m) or (B, m)
        if masks is not None:
            kept = output_kept(tf.stack(masks), self.return_sequences, self.zero_output_for_mask)
            output = tf.where(kept, output, tf.zeros_like(output))
        if self.return_sequences:
            output = tf.transpose(output, (1, 0, 2))  # (B, T, m)
        return (output, s) if self.return_state else output
