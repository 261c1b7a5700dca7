"""Training and inference throughput of the lesson's RNN: cell, fast layer, Keras, PyTorch.

    python -m benchmarks.rnn_throughput [--quick] [--ablation] [--json PATH]

Every implementation gets the same model (RNN over (batch, T, features) -> last state ->
Dense(1)), the same MSE loss and Adam, and a compiled train step: a `tf.function` with
GradientTape and the Keras optimizer for the Keras layers, eager autograd for
`torch.nn.RNN`. Repetitions are interleaved (rep 1 of every implementation, then rep 2,
...) so that machine load hits them alike; the table shows medians and the ratio of
each to `keras.layers.SimpleRNN` at the same shape.

The arithmetic bound: a training step costs about 3x the forward multiply-adds
(forward, plus two products of the same size per product in the backward pass), the
forward being 2*T*(n*m + m*m) FLOPs per sequence. `train_pct_of_matmul` is the achieved
FLOP rate over the machine's large float32 matmul rate (`matmul_gflops`, measured here).
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time

import numpy as np

IMPLS = ("fast", "cell", "keras_simple_rnn", "torch_rnn")
# Variants of the fast layer and of Keras, to show what each idea buys (--ablation).
ABLATION = (
    "fast_one_segment", "fast_while_loop", "fast_autodiff", "fast_xla", "keras_simple_rnn_xla"
)
BATCHES, STEPS, UNITS = (32, 64, 256), (30, 100), (64, 128, 512)
QUICK_SHAPE = (64, 30, 128)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only batch 64, T 30, 128 units")
    parser.add_argument("--ablation", action="store_true", help="also run " + ", ".join(ABLATION))
    parser.add_argument("--impls", nargs="+", help="implementations to run (default: all)")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--features", type=int, default=64, help="input size n")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per repetition")
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)),
        help="intra-op threads for TensorFlow and PyTorch alike (default: usable cores)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.seconds <= 0 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1 and --seconds > 0")
    known = IMPLS + ABLATION
    for impl in args.impls or ():
        if impl not in known:
            parser.error(f"unknown implementation {impl!r}; known: {', '.join(known)}")
    return args


def configure_threads(threads):
    """Give TensorFlow and PyTorch the same number of threads; before either runs an op.

    PyTorch's OpenMP threads spin at their barriers by default; when the machine's cores
    are shared with other work, a spinning thread waits for a descheduled one and
    torch.nn.RNN slows down by 10-50x here. OMP_WAIT_POLICY=PASSIVE (unless the caller set
    a policy) makes them sleep instead, which is torch's best setting on a shared machine.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def measure_matmul_gflops(size=1024, seconds=1.0):
    """The machine's float32 matmul rate in GFLOP/s (TensorFlow, large square product)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    matmul = tf.function(lambda a: tf.matmul(a, a))
    matmul(a).numpy()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        matmul(a).numpy()
        calls += 1
    return 2 * size**3 * calls / (time.perf_counter() - start) / 1e9


def build_keras_model(impl, steps, features, units):
    """RNN -> last state -> Dense(1), with the layer named by `impl`."""
    import keras

    from rnn_layers.fast_rnn import SimpleRNN
    from rnn_layers.simple_rnn_cell import SimpleRNNCell

    if impl == "cell":
        rnn = keras.layers.RNN(SimpleRNNCell(units))
    elif impl.startswith("keras_simple_rnn"):
        rnn = keras.layers.SimpleRNN(units)
    elif impl == "fast_while_loop":
        rnn = SimpleRNN(units, unroll=False)
    elif impl == "fast_autodiff":
        rnn = SimpleRNN(units)
        rnn.use_bptt_gradient = False
    elif impl == "fast_one_segment":
        rnn = SimpleRNN(units)
        rnn.segment_steps = steps
    else:
        rnn = SimpleRNN(units)
    inputs = keras.Input((steps, features))
    return keras.Model(inputs, keras.layers.Dense(1)(rnn(inputs)))


def keras_step_functions(impl, x, y, units):
    """Compiled (train_step, infer_step) closures for one Keras implementation."""
    import keras
    import tensorflow as tf

    model = build_keras_model(impl, x.shape[1], x.shape[2], units)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    jit = impl.endswith("_xla")
    x, y = tf.constant(x), tf.constant(y)

    @tf.function(jit_compile=jit)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    infer_step = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    return (lambda: train_step(x, y).numpy()), (lambda: infer_step(x).numpy())


def torch_step_functions(torch, x, y, units):
    """(train_step, infer_step) for torch.nn.RNN (tanh) with the same head, loss, optimizer."""
    rnn = torch.nn.RNN(x.shape[2], units, batch_first=True, nonlinearity="tanh")
    head = torch.nn.Linear(units, 1)
    parameters = list(rnn.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def forward(x):
        _, last_state = rnn(x)  # (1, B, m)
        return head(last_state[0])

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.mean(torch.square(forward(x) - y))
        loss.backward()
        optimizer.step()
        return loss.item()

    def infer_step():
        with torch.inference_mode():
            return forward(x).numpy()

    return train_step, infer_step


class Timer:
    """Sequences per second of one step function, calibrated to `seconds` per repetition."""

    def __init__(self, step, batch, seconds):
        self.step, self.batch = step, batch
        step()  # trace / compile
        start, calls = time.perf_counter(), 0
        while calls < 2 or time.perf_counter() - start < seconds / 4:
            step()
            calls += 1
        per_call = (time.perf_counter() - start) / calls
        self.calls = max(2, round(seconds / per_call))
        self.samples = []

    def run(self):
        start = time.perf_counter()
        for _ in range(self.calls):
            self.step()
        self.samples.append(self.calls * self.batch / (time.perf_counter() - start))

    def median(self):
        return statistics.median(self.samples)


def train_flops_per_sequence(steps, features, units):
    """Forward multiply-adds of projection and recurrence, times 3 for a training step."""
    return 3 * 2 * steps * (features * units + units * units)


def benchmark_shape(impls, torch, batch, steps, units, args, matmul_gflops):
    """Rows (one per implementation) for one shape, from interleaved repetitions."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, args.features), dtype=np.float32)
    y = rng.standard_normal((batch, 1), dtype=np.float32)
    timers = {}
    for impl in impls:
        if impl == "torch_rnn":
            train, infer = torch_step_functions(torch, x, y, units)
        else:
            train, infer = keras_step_functions(impl, x, y, units)
        timers[impl] = (Timer(train, batch, args.seconds), Timer(infer, batch, args.seconds))
    for _ in range(args.repeats):
        for train_timer, infer_timer in timers.values():
            train_timer.run()
            infer_timer.run()
    flops = train_flops_per_sequence(steps, args.features, units)
    rows = []
    for impl, (train_timer, infer_timer) in timers.items():
        train_rate = train_timer.median()
        rows.append({
            "impl": impl, "batch": batch, "steps": steps, "units": units,
            "train_seq_per_s": round(train_rate, 1),
            "infer_seq_per_s": round(infer_timer.median(), 1),
            "train_pct_of_matmul": round(100 * train_rate * flops / (matmul_gflops * 1e9), 2),
        })
    reference = next((r for r in rows if r["impl"] == "keras_simple_rnn"), None)
    for row in rows:
        for key in ("train", "infer"):
            row[f"{key}_vs_keras"] = (
                round(row[f"{key}_seq_per_s"] / reference[f"{key}_seq_per_s"], 2)
                if reference else None
            )
    return rows


def format_table(rows):
    columns = ("impl", "batch", "steps", "units", "train_seq_per_s", "train_vs_keras",
               "infer_seq_per_s", "infer_vs_keras", "train_pct_of_matmul")
    lines = ["  ".join(f"{c:>19}" if i else f"{c:<20}" for i, c in enumerate(columns))]
    for row in rows:
        lines.append("  ".join(
            f"{str(row[c]):>19}" if i else f"{row[c]:<20}" for i, c in enumerate(columns)
        ))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch = configure_threads(args.threads)
    impls = list(args.impls or IMPLS + (ABLATION if args.ablation else ()))
    if torch is None and "torch_rnn" in impls:
        print("torch is not installed (pip install rnn-tasks[bench]): skipping torch_rnn",
              file=sys.stderr)
        impls.remove("torch_rnn")
    if "keras_simple_rnn" not in impls:
        impls.append("keras_simple_rnn")  # every ratio is against it
    shapes = [QUICK_SHAPE] if args.quick else list(itertools.product(BATCHES, STEPS, UNITS))
    matmul_gflops = measure_matmul_gflops()
    print(f"threads: TensorFlow {args.threads}, PyTorch {torch.get_num_threads() if torch else '-'}"
          f" (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); matmul {matmul_gflops:.1f} GFLOP/s")
    rows = []
    for batch, steps, units in shapes:
        shape_rows = benchmark_shape(impls, torch, batch, steps, units, args, matmul_gflops)
        print(format_table(shape_rows), flush=True)
        rows.extend(shape_rows)
    if args.json:
        report = {
            "matmul_gflops": round(matmul_gflops, 1),
            "threads": {"tensorflow": args.threads,
                        "torch": torch.get_num_threads() if torch else None,
                        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"]},
            "features": args.features, "repeats": args.repeats, "rows": rows,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
