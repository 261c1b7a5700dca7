"""Training and inference throughput of the lesson's RNN: cell, fast layer, Keras, PyTorch.

    python -m benchmarks.rnn_throughput [--quick] [--ablation] [--json PATH]

Every implementation gets the same model (RNN over (batch, T, features) -> last state ->
Dense(1)), the same MSE loss and Adam, and a compiled train step: a `tf.function` with
GradientTape and the Keras optimizer for the Keras layers (8 steps per call, like
model.fit's steps_per_execution), eager autograd for `torch.nn.RNN`. Repetitions are interleaved (rep 1 of every implementation, then rep 2,
...) so that machine load hits them alike; the table shows medians and the ratio of
each to `keras.layers.SimpleRNN` at the same shape.

Throughputs are medians over repetitions; the ratios (`x keras`, `x torch`) are medians
of per-repetition ratios, each against the reference measured in the same repetition.
`train seq/cpu-s` divides by the process's CPU time instead of wall time: the work a
training step costs, whatever the load on a shared machine and however well it spreads
over the cores.

The arithmetic bound: a training step costs about 3x the forward multiply-adds
(forward, plus two products of the same size per product in the backward pass), the
forward being 2*T*(n*m + m*m) FLOPs per sequence. `% matmul` is the achieved FLOP rate
over the machine's large float32 matmul rate (`matmul_gflops`, measured here).
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
    "fast_while_loop", "fast_autodiff", "fast_while_loop_autodiff", "fast_xla",
    "keras_simple_rnn_xla",
)
BATCHES, STEPS, UNITS = (32, 64, 256), (30, 100), (64, 128, 512)
QUICK_SHAPE = (64, 30, 128)
# Batches per call of a step function, as model.fit's steps_per_execution (TrainConfig: 8):
# one Python -> TensorFlow call per batch would time the dispatch more than the layer.
STEPS_PER_CALL = 8


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only batch 64, T 30, 128 units")
    parser.add_argument("--shape", action="append", metavar="BxTxUNITS",
                        help="run this shape instead, e.g. 64x100x128 (repeatable)")
    parser.add_argument("--ablation", action="store_true", help="also run " + ", ".join(ABLATION))
    parser.add_argument("--impls", nargs="+", help="implementations to run (default: all)")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--features", type=int, default=64, help="input size n")
    parser.add_argument("--repeats", type=int, help="interleaved repetitions "
                        "(default: 15 with --quick or --shape, 7 for the full grid)")
    parser.add_argument("--seconds", type=float, default=0.25, help="time per repetition")
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)),
        help="intra-op threads for TensorFlow and PyTorch alike (default: usable cores)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 15 if args.quick or args.shape else 7
    if args.repeats < 1 or args.seconds <= 0 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1 and --seconds > 0")
    try:
        args.shape = [tuple(int(v) for v in shape.split("x", 2)) for shape in args.shape or ()]
    except ValueError:
        parser.error(f"--shape must look like 64x30x128 (batch x steps x units), got {args.shape}")
    if any(len(shape) != 3 or min(shape) < 1 for shape in args.shape):
        parser.error(f"--shape must be three positive integers like 64x30x128, got {args.shape}")
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


def measure_matmul_gflops(size=1024, bursts=30):
    """The machine's float32 matmul rate in GFLOP/s: TensorFlow, large square product.

    The best of many short bursts, so that other load on a shared machine does not pass
    for the machine's speed (the achieved rates are medians; the bound is a peak).
    """
    import tensorflow as tf

    a = tf.random.normal((size, size))
    matmul = tf.function(lambda a: tf.matmul(a, a))
    matmul(a).numpy()
    best = float("inf")
    for _ in range(bursts):
        start = time.perf_counter()
        for _ in range(4):
            matmul(a).numpy()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * size**3 / best / 1e9


def build_keras_model(impl, steps, features, units):
    """RNN -> last state -> Dense(1), with the layer named by `impl`."""
    import keras

    from rnn_layers.fast_rnn import SimpleRNN
    from rnn_layers.simple_rnn_cell import SimpleRNNCell

    if impl == "cell":
        rnn = keras.layers.RNN(SimpleRNNCell(units))
    elif impl.startswith("keras_simple_rnn"):
        rnn = keras.layers.SimpleRNN(units)
    elif impl.startswith("fast_while_loop"):
        rnn = SimpleRNN(units, unroll=False)
    elif impl.startswith("fast"):
        rnn = SimpleRNN(units)
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    if impl.endswith("_autodiff"):
        rnn.use_bptt_gradient = False  # TensorFlow differentiates the loop itself
    inputs = keras.Input((steps, features))
    return keras.Model(inputs, keras.layers.Dense(1)(rnn(inputs)))


def keras_step_functions(impl, xs, ys, units):
    """Compiled (train_steps, infer_steps) closures for one Keras implementation."""
    import keras
    import tensorflow as tf

    model = build_keras_model(impl, xs.shape[2], xs.shape[3], units)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    jit = impl.endswith("_xla")
    xs, ys = tf.constant(xs), tf.constant(ys)  # (STEPS_PER_CALL, B, T, n), (STEPS_PER_CALL, B, 1)

    @tf.function(jit_compile=jit)
    def train_steps(xs, ys):
        loss = tf.constant(0.0)
        for i in tf.range(STEPS_PER_CALL):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(xs[i], training=True) - ys[i]))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
        return loss

    @tf.function(jit_compile=jit)
    def infer_steps(xs):
        # Distinct batches: with one batch XLA would hoist model(x) out of the loop.
        total = tf.zeros((xs.shape[1], 1))
        for i in tf.range(STEPS_PER_CALL):
            total += model(xs[i], training=False)
        return total

    return (lambda: train_steps(xs, ys).numpy()), (lambda: infer_steps(xs).numpy())


def torch_step_functions(torch, xs, ys, units):
    """(train_steps, infer_steps) for torch.nn.RNN (tanh) with the same head, loss, optimizer."""
    rnn = torch.nn.RNN(xs.shape[3], units, batch_first=True, nonlinearity="tanh")
    head = torch.nn.Linear(units, 1)
    parameters = list(rnn.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)

    def forward(x):
        _, last_state = rnn(x)  # (1, B, m)
        return head(last_state[0])

    def train_steps():
        for x, y in zip(xs, ys):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.mean(torch.square(forward(x) - y))
            loss.backward()
            optimizer.step()
        return loss.item()

    def infer_steps():
        with torch.inference_mode():
            return sum(forward(x) for x in xs).numpy()

    return train_steps, infer_steps


class Timer:
    """Sequences per second of one step function, calibrated to `seconds` per repetition."""

    def __init__(self, step, batch, seconds):
        self.step, self.batch = step, batch * STEPS_PER_CALL  # sequences per call
        step()  # trace / compile
        start, calls = time.perf_counter(), 0
        while calls < 1 or time.perf_counter() - start < seconds / 4:
            step()
            calls += 1
        per_call = (time.perf_counter() - start) / calls
        self.calls = max(1, round(seconds / per_call))
        self.samples, self.cpu_samples = [], []

    def run(self):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(self.calls):
            self.step()
        self.samples.append(self.calls * self.batch / (time.perf_counter() - start))
        self.cpu_samples.append(self.calls * self.batch / (time.process_time() - cpu_start))

    def median(self):
        return statistics.median(self.samples)


def train_flops_per_sequence(steps, features, units):
    """Forward multiply-adds of projection and recurrence, times 3 for a training step."""
    return 3 * 2 * steps * (features * units + units * units)


def paired_ratio(samples, reference_samples):
    """Median over repetitions of the ratio to the reference measured in the same repetition."""
    return round(statistics.median(a / b for a, b in zip(samples, reference_samples)), 2)


def benchmark_shape(impls, torch, batch, steps, units, args, matmul_gflops):
    """Rows (one per implementation) for one shape, from interleaved repetitions."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((STEPS_PER_CALL, batch, steps, args.features), dtype=np.float32)
    ys = rng.standard_normal((STEPS_PER_CALL, batch, 1), dtype=np.float32)
    timers = {}
    for impl in impls:
        if impl == "torch_rnn":
            train, infer = torch_step_functions(torch, xs, ys, units)
        else:
            train, infer = keras_step_functions(impl, xs, ys, units)
        timers[impl] = (Timer(train, batch, args.seconds), Timer(infer, batch, args.seconds))
    order = list(timers.values())
    for repetition in range(args.repeats):
        # Each repetition starts with a different implementation: no fixed position in the
        # round, so a load pattern synchronised with the round cannot favour one of them.
        shift = repetition % len(order)
        for train_timer, infer_timer in order[shift:] + order[:shift]:
            train_timer.run()
            infer_timer.run()
    flops = train_flops_per_sequence(steps, args.features, units)
    rows = []
    for impl, (train_timer, infer_timer) in timers.items():
        train_rate = train_timer.median()
        row = {
            "impl": impl, "batch": batch, "steps": steps, "units": units,
            "train_seq_per_s": round(train_rate, 1),
            "infer_seq_per_s": round(infer_timer.median(), 1),
            "train_pct_of_matmul": round(100 * train_rate * flops / (matmul_gflops * 1e9), 2),
            "train_seq_per_cpu_s": round(statistics.median(train_timer.cpu_samples), 1),
        }
        for reference, suffix in (("keras_simple_rnn", "keras"), ("torch_rnn", "torch")):
            if reference in timers:
                reference_train, reference_infer = timers[reference]
                row[f"train_vs_{suffix}"] = paired_ratio(train_timer.samples, reference_train.samples)
                row[f"infer_vs_{suffix}"] = paired_ratio(infer_timer.samples, reference_infer.samples)
        rows.append(row)
    return rows


COLUMNS = {  # JSON key -> table header
    "impl": "impl", "batch": "B", "steps": "T", "units": "m",
    "train_seq_per_s": "train seq/s", "train_vs_keras": "x keras", "train_vs_torch": "x torch",
    "infer_seq_per_s": "infer seq/s", "infer_vs_keras": "x keras", "infer_vs_torch": "x torch",
    "train_pct_of_matmul": "% matmul", "train_seq_per_cpu_s": "train seq/cpu-s",
}


def format_table(rows):
    columns = [key for key in COLUMNS if any(key in row for row in rows)]
    widths = [max(len(COLUMNS[key]), *(len(str(row.get(key, "-"))) for row in rows))
              for key in columns]
    lines = ["  ".join(COLUMNS[key].rjust(width) if i else COLUMNS[key].ljust(width)
                       for i, (key, width) in enumerate(zip(columns, widths)))]
    for row in rows:
        lines.append("  ".join(str(row.get(key, "-")).rjust(width) if i
                               else str(row[key]).ljust(width)
                               for i, (key, width) in enumerate(zip(columns, widths))))
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
    shapes = args.shape or (
        [QUICK_SHAPE] if args.quick else list(itertools.product(BATCHES, STEPS, UNITS))
    )
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
