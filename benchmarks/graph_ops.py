"""What one training step of the fast layer runs: the ops of its graph after TensorFlow's optimizations.

    python -m benchmarks.graph_ops [--shape BxTxUNITS[m]] [--features N]

Timings on a shared machine are noisy; op counts are not. For the layer's train step (loss = sum of the
last state, gradients w.r.t. U, W, b, and w.r.t. x only when x is watched) this prints how many ops of each
kind the optimized graph holds (a `tf.while_loop` body counts once, however many spans it runs), with the
inputs x constant (as in benchmarks.rnn_throughput: TensorFlow prunes the unused dL/dx) and watched (as in
the tasks, where an embedding or CNN sits below the RNN).
"""
import argparse
import collections

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context

from rnn_layers.fast_rnn import rnn_states

SHOWN = ("RnnChain", "RnnChainGrad", "MatMul", "_FusedMatMul", "Transpose", "Tanh", "TanhGrad", "SelectV2", "Pad", "ConcatV2", "TensorListStack",
         "TensorListSetItem", "AddN", "AddV2")


def optimized_op_counts(batch, steps, features, units, masked, watch_inputs, seed=0, compiled=False):
    """{op type: count} in the optimized graphs of one train step of `rnn_states` (masked: unknown T, a mask).

    `compiled`: the chain in the compiled ops of rnn_layers/kernels, as training runs it; otherwise in
    TensorFlow ops, span by span (unrolled at a fixed T).
    """
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((batch, steps, features)), tf.float32)
    U = tf.Variable(rng.standard_normal((features, units)) * 0.1, dtype=tf.float32)
    W = tf.Variable(rng.standard_normal((units, units)) * 0.1, dtype=tf.float32)
    b = tf.Variable(np.zeros(units), dtype=tf.float32)
    lengths = rng.integers(max(1, steps // 4), steps + 1, batch)
    mask = tf.constant((np.arange(steps) < lengths[:, None])[:, :, None]) if masked else None  # (B, T, 1)

    @tf.function(input_signature=[tf.TensorSpec((batch, None if masked else steps, features))])
    def train_step(x):
        with tf.GradientTape() as tape:
            if watch_inputs:
                tape.watch(x)
            last = rnn_states(x, tf.identity(U), tf.identity(b), tf.identity(W), tf.zeros((batch, units)), mask,
                              unroll=not masked, return_sequences=False, bptt=True, compiled=compiled)
            loss = tf.reduce_sum(last)
        gradients = tape.gradient(loss, [U, W, b, *([x] if watch_inputs else [])])
        return [tf.reduce_sum(g) for g in gradients]

    context.enable_run_metadata()  # on before the first call: the optimized graphs are recorded as they are built
    try:
        train_step(x)
        metadata = context.export_run_metadata()
    finally:
        context.disable_run_metadata()
    counts = collections.Counter(node.op for function_graph in metadata.function_graphs
                                 for node in function_graph.post_optimization_graph.node)
    if not counts:
        raise RuntimeError("TensorFlow recorded no optimized graph for the train step")
    return dict(counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", action="append", metavar="BxTxUNITS[m]",
                        help="default: 64x30x128 (headline) and 64x256x64m (sentiment, masked)")
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args(argv)
    shapes = args.shape or ["64x30x128", "64x256x64m"]
    print(f"{'shape':<12}{'chain':<10}{'dL/dx':<7}{'ops':>5}  " + "  ".join(SHOWN))
    for text in shapes:
        batch, steps, units = (int(v) for v in text.rstrip("m").split("x"))
        masked = text.endswith("m")
        for compiled in (False, True):
            for watch in (False, True):
                counts = optimized_op_counts(batch, steps, args.features, units, masked, watch, compiled=compiled)
                print(f"{text:<12}{'compiled' if compiled else 'TF ops':<10}{'yes' if watch else 'no':<7}"
                      f"{sum(counts.values()):>5}  " + "  ".join(str(counts.get(op, 0)).rjust(len(op)) for op in SHOWN))


if __name__ == "__main__":
    main()
