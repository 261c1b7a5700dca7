"""Training and inference throughput of the lesson's RNN: the fast layer against Keras and PyTorch at their best.

    python -m benchmarks.rnn_throughput [--quick] [--ablation] [--no-torch] [--json PATH]

Every implementation gets the same model (RNN over (batch, T, features) -> last state -> Dense(1)), the
same MSE loss and Adam, and a compiled train step: a `tf.function` with GradientTape and the Keras
optimizer for the TensorFlow rows (8 steps per call, like model.fit's steps_per_execution; fewer at the
grid's largest shapes, where one batch is 8 GFLOP or more: `steps_per_call` in the JSON).

Peers, each in every configuration a user could pick, so that a ratio is against the peer at its best:
- Keras: `keras.layers.SimpleRNN` and `RNN(SimpleRNNCell)`, each with and without `unroll`, with and
  without `jit_compile` (XLA). `x keras*` is the ratio to the fastest of these at the same shape.
- PyTorch: `torch.nn.RNN` in processes of its own (benchmarks/torch_peer.py, so that its OpenMP pool never
  shares a process with TensorFlow), 1 and 2 threads, OpenMP waiting default and PASSIVE, eager /
  `torch.compile` / `torch.jit.script`, `Adam(foreach=True)`. `x torch*` is the ratio to the fastest.
  The full sweep runs at the --quick shapes; the rest of the grid uses the configuration that won at the
  headline shape. A configuration that cannot run (say, `torch.compile` without a C++ compiler) is a row
  with the reason in its `failed` field, not a missing row.
- For scale (references, not peers): Keras GRU and LSTM, and `torch.nn.LSTM` (eager, 1 and 2 threads),
  at the --quick shapes and --shape runs (not with --no-reference).
Shapes: the headline (batch 64, T 30, 128 units, fixed T), the sentiment task's path (batch 64, T 256,
64 units, 64 features, unknown T at graph time and a mask: lengths T/4..T, the padded batches of real
reviews; Keras's unrolled rows need a fixed T and get it, except unroll + XLA beyond T 128, whose compile
takes minutes (rows marked `skipped`; --long-unroll-xla runs them), and with the full grid every batch x T x units.

Repetitions are interleaved, each round starting at another peer, so that machine load hits them alike;
the table shows medians with the interquartile range of training rates, and paired ratios (the median
over repetitions of the ratio to the reference measured in the same repetition).
`train seq/cpu-s` divides by the process's CPU time instead of wall time.

Useful FLOPs of a training step (the input gradient dL/dx is not needed by this model and not counted;
TensorFlow prunes it from the fast layer's graph too, since the inputs are constants):
forward 2T(nm + m^2) (projection and recurrence), backward 2T(nm + 2m^2) (dU, dW and the chain
dL/ds_{t-1} = delta_t W^T), times 3 for a GRU and 4 for an LSTM. `% matmul` is that rate over the
runtime's float32 matmul rate measured in the same run, at 1024^2 (`% matmul`) and at the recurrence's
own shape (batch x m) @ (m x m) (`% step mm`; a chain of single small products, so latency-bound: a
training step overlapping two of them on two cores can pass 100%). The chain bound (`chain_bound_pct_of_matmul`
per shape) is the most `% matmul` any layer calling this MatMul can reach: the 2T - 1 dependent products alone,
at their measured rate, with everything else free.

The fast layer runs in its configurations (`FAST_CONFIGS`): `fast` as the tasks train it (the BPTT chain in the
compiled ops of rnn_layers/kernels, any T), `fast_spans` (the chain in TensorFlow ops: unrolled spans for a fixed
T <= 128, else the loop) and `fast_xla` (TensorFlow ops under XLA, which cannot run custom ops).
The summary reports `fast` and `fast*`, the fastest of them at each shape, each against the best Keras and PyTorch
rows. The chain bound holds for layers built on TensorFlow's MatMul, which the compiled chain does not call.
"""

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.machine import machine_info, versions, with_load_after
from benchmarks.report import command_line, write_report
from benchmarks.torch_peer import calibrate, inputs, useful_train_flops

KERAS_PEERS = tuple(f"{base}{unroll}{xla}" for base in ("keras_simple_rnn", "cell")
                    for unroll in ("", "_unroll") for xla in ("", "_xla"))
# The fast layer's configurations: `fast` is what the tasks run (unrolled for a fixed T <= 128, else the loop;
# no XLA, as Keras's "auto" gives on a CPU); `fast*` in the summary is the fastest of them at each shape, as
# `x keras*` takes the fastest Keras configuration.
FAST_CONFIGS = ("fast", "fast_spans", "fast_xla")
IMPLS = (*FAST_CONFIGS, *KERAS_PEERS)
# Variants of the fast layer, to show what each idea buys (--ablation).
ABLATION = ("fast_autodiff", "fast_while_loop_autodiff")
KERAS_REFERENCES = ("keras_gru", "keras_lstm")  # for scale, not peers: other cells, more work per step
GATES = {"keras_gru": 3, "keras_lstm": 4}  # matmul pairs per step; 1 for the vanilla RNN
TORCH_MODES = ("eager", "compile", "jit_script")
TORCH_SWEEP = tuple(itertools.product((1, 2), ("default", "PASSIVE"), TORCH_MODES))
TORCH_REFERENCES = ((1, "default", "eager"), (2, "default", "eager"))  # torch.nn.LSTM rows
# XLA compiles an unrolled train step of the sentiment shape's 256 steps for minutes (5 min 44 s for one
# on a loaded core), and those rows trained at 0.32x the best Keras row in the committed --quick run
# (results/rnn_throughput_quick_idle.json): beyond this T they are rows that say so, unless asked for.
LONG_UNROLL_STEPS = 128
BATCHES, STEPS, UNITS = (32, 64, 256), (30, 100), (64, 128, 512)
HEADLINE = (64, 30, 128, False)  # batch, steps, units, masked
SENTIMENT = (64, 256, 64, True)  # the sentiment task's padded, masked batches (embedding 64, 64 units)



def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the headline and the sentiment shapes")
    parser.add_argument("--shape", action="append", metavar="BxTxUNITS[m]",
                        help="run this shape instead, e.g. 64x100x128, or 64x256x64m for the masked path")
    parser.add_argument("--ablation", action="store_true", help="also run " + ", ".join(ABLATION))
    parser.add_argument("--impls", nargs="+", help="TensorFlow implementations to run (default: all)")
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch peers")
    parser.add_argument("--no-reference", action="store_true", help="leave out the GRU / LSTM reference rows")
    parser.add_argument("--long-unroll-xla", action="store_true",
                        help=f"also run the unroll + XLA Keras rows at T > {LONG_UNROLL_STEPS} (minutes of compiling each)")
    parser.add_argument("--torch-sweep", choices=("quick", "all"), default="quick",
                        help="where every PyTorch configuration runs: the --quick shapes (default) or every shape")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--features", type=int, default=64, help="input size n")
    parser.add_argument("--repeats", type=int, help="interleaved repetitions "
                        "(default: 15 with --quick or --shape, 7 for the full grid)")
    parser.add_argument("--quick-repeats", type=int,
                        help="repetitions at the --quick shapes (headline, sentiment) in a grid run (default: --repeats)")
    parser.add_argument("--seconds", type=float, default=0.25, help="time per repetition")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="intra-op threads for TensorFlow (default: usable cores)")
    parser.add_argument("--inter-op-threads", type=int,
                        help="TensorFlow's inter-op threads, for every TensorFlow row (default: --threads)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 15 if args.quick or args.shape else 7
    if args.quick_repeats is None:
        args.quick_repeats = args.repeats
    if min(args.repeats, args.quick_repeats, args.threads) < 1 or args.seconds <= 0:
        parser.error("--repeats, --quick-repeats and --threads must be >= 1 and --seconds > 0")
    shapes = []
    for text in args.shape or ():
        try:
            batch, steps, units = (int(v) for v in text.rstrip("m").split("x"))
        except ValueError:
            parser.error(f"--shape must look like 64x30x128 or 64x256x64m, got {text!r}")
        if min(batch, steps, units) < 1:
            parser.error(f"--shape needs positive sizes, got {text!r}")
        shapes.append((batch, steps, units, text.endswith("m")))
    args.shape = shapes
    for impl in args.impls or ():
        if impl not in IMPLS + ABLATION + KERAS_REFERENCES:
            known = ", ".join(IMPLS + ABLATION + KERAS_REFERENCES)
            parser.error(f"unknown implementation {impl!r}; known: {known}")
    return args


def configure_threads(threads, inter_op_threads=None):
    """TensorFlow's thread pools, before it runs an op (PyTorch runs in processes of its own)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads or threads)


def measure_matmul_gflops(m, k, chain=None, seconds=1.0):
    """TensorFlow's best float32 rate in GFLOP/s for a chain of (m, k) @ (k, k) products in one graph.

    A chain, as in the recurrence, inside one tf.function, so that small shapes are not timed by the call
    overhead; the best of short bursts, so that other load on a shared machine does not pass for its speed.
    """
    import tensorflow as tf

    chain = chain or max(4, min(256, int(2e9 // (2 * m * k * k))))
    a, b = tf.random.normal((m, k)), tf.random.normal((k, k)) / k**0.5

    @tf.function
    def products(a):
        for _ in tf.range(chain):
            a = tf.matmul(a, b)
        return a

    products(a).numpy()
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == float("inf"):
        start = time.perf_counter()
        products(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * k * chain / best / 1e9


def build_keras_model(impl, steps, features, units, masked):
    """RNN -> last state -> Dense(1) with the layer named by `impl`; inputs (x, mask) when masked."""
    import keras

    from rnn_layers.fast_rnn import SimpleRNN
    from rnn_layers.simple_rnn_cell import SimpleRNNCell

    unroll = "_unroll" in impl
    if impl == "keras_gru":
        rnn = keras.layers.GRU(units)
    elif impl == "keras_lstm":
        rnn = keras.layers.LSTM(units)
    elif impl.startswith("cell"):
        rnn = keras.layers.RNN(SimpleRNNCell(units), unroll=unroll)
    elif impl.startswith("keras_simple_rnn"):
        rnn = keras.layers.SimpleRNN(units, unroll=unroll)
    elif impl.startswith("fast_spans"):
        rnn = SimpleRNN(units)
        rnn.use_compiled_chain = False  # the BPTT chain in TensorFlow ops, span by span
    elif impl.startswith("fast_while_loop"):
        rnn = SimpleRNN(units, unroll=False)
        rnn.use_compiled_chain = False  # the TensorFlow-op loop, also at a fixed T
    elif impl.startswith("fast"):
        rnn = SimpleRNN(units)
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    if impl.endswith("_autodiff"):
        rnn.use_bptt_gradient = False  # TensorFlow differentiates the loop itself
    # The tasks' graphs do not know T (padded batches); unrolling needs it, so only unrolled rows get it.
    known_steps = steps if unroll or not masked else None
    x = keras.Input((known_steps, features))
    if not masked:
        return keras.Model(x, keras.layers.Dense(1)(rnn(x)))
    mask = keras.Input((known_steps,), dtype="bool")
    return keras.Model([x, mask], keras.layers.Dense(1)(rnn(x, mask=mask)))


def keras_step_functions(impl, xs, ys, lengths, units):
    """Compiled (train_steps, infer_steps) closures for one TensorFlow implementation."""
    import keras
    import tensorflow as tf

    masked = lengths is not None
    model = build_keras_model(impl, xs.shape[2], xs.shape[3], units, masked)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    jit = impl.endswith("_xla")
    calls = xs.shape[0]  # batches per call
    xs, ys = tf.constant(xs), tf.constant(ys)  # (calls, B, T, n), (calls, B, 1)
    masks = tf.constant(np.arange(xs.shape[2]) < lengths[..., None]) if masked else None  # (K, B, T)

    def model_inputs(i):
        return [xs[i], masks[i]] if masked else xs[i]

    @tf.function(jit_compile=jit)
    def train_steps():
        loss = tf.constant(0.0)
        for i in tf.range(calls):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(model_inputs(i), training=True) - ys[i]))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
        return loss

    @tf.function(jit_compile=jit)
    def infer_steps():
        # Distinct batches: with one batch XLA would hoist model(x) out of the loop.
        total = tf.zeros((xs.shape[1], 1))
        for i in tf.range(calls):
            total += model(model_inputs(i), training=False)
        return total

    return (lambda: train_steps().numpy()), (lambda: infer_steps().numpy())


class Timer:
    """Sequences per second of one TensorFlow step function, calibrated to `seconds` per repetition."""

    def __init__(self, step, sequences, seconds):
        self.step, self.batch = step, sequences  # sequences per call
        self.calls = calibrate(step, seconds)  # after a first call that traces / compiles
        self.samples, self.cpu_samples = [], []

    def run(self):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(self.calls):
            self.step()
        self.samples.append(self.calls * self.batch / (time.perf_counter() - start))
        self.cpu_samples.append(self.calls * self.batch / (time.process_time() - cpu_start))


class TorchProcess:
    """One torch_peer process (one configuration), answering timed train and infer repetitions on request."""

    def __init__(self, threads, wait_policy, mode, shape, features, seconds, cell="rnn"):
        batch, steps, units, masked = shape
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if wait_policy != "default":
            env["OMP_WAIT_POLICY"] = wait_policy
        command = [sys.executable, "-m", "benchmarks.torch_peer", "--mode", mode, "--threads", str(threads),
                   "--shape", f"{batch}x{steps}x{units}", "--features", str(features), "--seconds", str(seconds),
                   "--cell", cell, *(["--masked"] if masked else [])]
        self.config = {"threads": threads, "omp_wait_policy": wait_policy, "mode": mode, "cell": cell}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        if not line:
            lines = self.process.stderr.read().strip().splitlines()
            self.close()
            errors = [line for line in lines if "Error" in line.split(":", 1)[0]]
            raise RuntimeError((errors or lines or ["torch_peer exited without a word"])[-1])
        self.info = json.loads(line)
        if "graph_breaks" in self.info:
            self.config["graph_breaks"] = self.info["graph_breaks"]

    def ask(self, kind):
        self.process.stdin.write(kind + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass
        self.process.wait(timeout=60)


class TorchTimer:
    """The train or infer repetitions of one TorchProcess, with the samples a Timer keeps."""

    def __init__(self, process, kind):
        self.process, self.kind = process, kind
        self.samples, self.cpu_samples = [], []

    def run(self):
        answer = self.process.ask(self.kind)
        self.samples.append(answer["seq_per_s"])
        self.cpu_samples.append(answer["seq_per_cpu_s"])


def torch_name(threads, wait_policy, mode, cell="rnn"):
    prefix = "torch_lstm" if cell == "lstm" else "torch"
    return f"{prefix}_{mode}_t{threads}" + ("_passive" if wait_policy == "PASSIVE" else "")


def paired_ratio(samples, reference_samples):
    """Median over repetitions of the ratio to the reference measured in the same repetition."""
    return round(statistics.median(a / b for a, b in zip(samples, reference_samples)), 3)


def quartiles(samples):
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return round(float(q1), 1), round(float(median), 1), round(float(q3), 1)


def make_peers(impls, torch_configs, shape, args):
    """{name: (train timer, infer timer)}; a peer that fails to build is reported in `failures` instead.

    torch_configs: (threads, wait policy, mode, cell) tuples.
    """
    batch, steps, units, masked = shape
    xs, ys, lengths = inputs(batch, steps, args.features, units, masked)
    sequences = xs.shape[0] * batch  # per timed call
    peers, failures, setup = {}, {}, {}
    for impl in impls:
        started = time.perf_counter()
        try:
            train, infer = keras_step_functions(impl, xs, ys, lengths, units)
            peers[impl] = (Timer(train, sequences, args.seconds), Timer(infer, sequences, args.seconds))
        except Exception as error:  # noqa: BLE001 - a peer that cannot run is a result, not a crash
            failures[impl] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        setup[impl] = round(time.perf_counter() - started, 1)  # build, trace / compile, calibrate
    for threads, wait_policy, mode, cell in torch_configs:
        name = torch_name(threads, wait_policy, mode, cell)
        started = time.perf_counter()
        try:
            process = TorchProcess(threads, wait_policy, mode, shape, args.features, args.seconds, cell)
            peers[name] = (TorchTimer(process, "train"), TorchTimer(process, "infer"))
        except Exception as error:  # noqa: BLE001
            failures[name] = f"{type(error).__name__}: {str(error)[:200]}"
        setup[name] = round(time.perf_counter() - started, 1)
    return peers, failures, setup


def is_peer(name):
    """A configuration of a peer (Keras or torch RNN), not a reference row (GRU, LSTM) or the fast layer."""
    return name in KERAS_PEERS or (name.startswith("torch_") and not name.startswith("torch_lstm"))


def gates(name):
    return 4 if name.startswith("torch_lstm") else GATES.get(name, 1)


def failed_row(name, shape, why, key="failed"):
    batch, steps, units, masked = shape
    return {"impl": name, "batch": batch, "steps": steps, "units": units, "masked": masked, key: why}


def skipped(impls, shape, args):
    """{impl: why} for the rows left out at this shape (unroll + XLA at a long T, unless --long-unroll-xla)."""
    if args.long_unroll_xla or shape[1] <= LONG_UNROLL_STEPS:
        return {}
    why = (f"not run: XLA compiles a {shape[1]}-step unrolled train step for minutes "
           f"(--long-unroll-xla runs it; 0.32x the best Keras row at T 256 in results/rnn_throughput_quick_idle.json)")
    return {impl: why for impl in impls if impl.endswith("_unroll_xla")}


def chain_bound_pct(steps, features, units, step_gflops, matmul_gflops):
    """The highest `% matmul` any layer built on this runtime's MatMul can reach at this shape.

    The recurrence's 2T - 1 products (B x m) @ (m x m) (T forwards, T - 1 backwards: dL/ds_0 is not needed)
    depend on each other, so a training step takes at least their time at the chain's measured rate
    (`step_gflops`), even if all other work were free and overlapped. Batch cancels out.
    """
    chain_flops = (2 * steps - 1) * 2 * units * units  # per sequence
    useful = useful_train_flops(steps, features, units)
    return round(100 * useful * step_gflops / (chain_flops * matmul_gflops), 1)


def benchmark_shape(impls, torch_configs, shape, args, tf_matmul, repeats=None):
    """Rows (one per peer, failed ones with the reason) for one shape, from `repeats` interleaved repetitions."""
    batch, steps, units, masked = shape
    started = time.perf_counter()
    not_run = skipped(impls, shape, args)
    peers, failures, setup = make_peers([i for i in impls if i not in not_run], torch_configs, shape, args)
    failed_rows = [failed_row(name, shape, why) for name, why in failures.items()]
    failed_rows += [failed_row(name, shape, why, key="skipped") for name, why in not_run.items()]
    outcome = {"best_keras": None, "best_torch": None, "failed": failures, "skipped": not_run,
               "repeats": repeats or args.repeats,
               "setup_seconds": setup,
               "steps_per_call": inputs(batch, steps, args.features, units, masked)[0].shape[0]}
    if not peers:
        return failed_rows, {**outcome, "seconds": round(time.perf_counter() - started, 1)}
    order = list(peers.values())
    repeats = repeats or args.repeats
    for repetition in range(repeats):
        shift = repetition % len(order)  # no fixed position in the round for any peer
        for train_timer, infer_timer in order[shift:] + order[:shift]:
            train_timer.run()
            infer_timer.run()
    for train_timer, _ in peers.values():
        if isinstance(train_timer, TorchTimer):
            train_timer.process.close()
    def best(names):
        names = [n for n in names if n in peers]
        return max(names, key=lambda n: statistics.median(peers[n][0].samples)) if names else None

    best_keras = best(KERAS_PEERS)
    best_torch = best([n for n in peers if n.startswith("torch_") and is_peer(n)])
    best_fast = best(FAST_CONFIGS)
    step_matmul = tf_matmul["step"].get((batch, units)) or measure_matmul_gflops(batch, units)
    tf_matmul["step"][(batch, units)] = step_matmul
    rows = []
    for name, (train_timer, infer_timer) in peers.items():
        q1, median, q3 = quartiles(train_timer.samples)
        flops = useful_train_flops(steps, args.features, units, gates(name))
        matmul = (train_timer.process.info["matmul_gflops"] if isinstance(train_timer, TorchTimer)
                  else {"1024": tf_matmul["1024"], "step": step_matmul})
        row = {"impl": name, "batch": batch, "steps": steps, "units": units, "masked": masked,
               "train_seq_per_s": median, "train_q1": q1, "train_q3": q3,
               "infer_seq_per_s": round(statistics.median(infer_timer.samples), 1),
               "train_pct_of_matmul": round(100 * median * flops / (matmul["1024"] * 1e9), 1),
               "train_pct_of_step_matmul": round(100 * median * flops / (matmul["step"] * 1e9), 1),
               "train_seq_per_cpu_s": round(statistics.median(train_timer.cpu_samples), 1)}
        if isinstance(train_timer, TorchTimer):
            row["config"] = train_timer.process.config
        for reference, suffix in ((best_keras, "keras"), (best_torch, "torch")):
            if reference is not None:
                row[f"train_vs_best_{suffix}"] = paired_ratio(train_timer.samples, peers[reference][0].samples)
                row[f"infer_vs_best_{suffix}"] = paired_ratio(infer_timer.samples, peers[reference][1].samples)
        if not is_peer(name) and not name.startswith("fast"):
            row["reference"] = True  # another cell, for scale: never a peer's best
        rows.append(row)
    outcome.update(best_keras=best_keras, best_torch=best_torch, best_fast=best_fast,
                   chain_bound_pct_of_matmul=chain_bound_pct(steps, args.features, units, step_matmul, tf_matmul["1024"]),
                   seconds=round(time.perf_counter() - started, 1))
    return rows + failed_rows, outcome


COLUMNS = {  # JSON key -> table header
    "impl": "impl", "batch": "B", "steps": "T", "units": "m", "masked": "mask",
    "train_seq_per_s": "train seq/s", "train_q1": "q1", "train_q3": "q3",
    "train_vs_best_keras": "x keras*", "train_vs_best_torch": "x torch*",
    "infer_seq_per_s": "infer seq/s", "infer_vs_best_keras": "x keras*", "infer_vs_best_torch": "x torch*",
    "train_pct_of_matmul": "% matmul", "train_pct_of_step_matmul": "% step mm",
    "train_seq_per_cpu_s": "train seq/cpu-s", "failed": "failed", "skipped": "skipped",
}


def format_table(rows):
    columns = [key for key in COLUMNS if any(key in row for row in rows)]
    widths = [max(len(COLUMNS[key]), *(len(str(row.get(key, "-"))) for row in rows)) for key in columns]
    lines = ["  ".join(COLUMNS[key].rjust(width) if i else COLUMNS[key].ljust(width)
                       for i, (key, width) in enumerate(zip(columns, widths)))]
    for row in rows:
        lines.append("  ".join(str(row.get(key, "-")).rjust(width) if i else str(row[key]).ljust(width)
                               for i, (key, width) in enumerate(zip(columns, widths))))
    return "\n".join(lines)


def torch_configs_for(shape, args, use_torch, quick_shapes, chosen_torch):
    """(threads, wait policy, mode, cell) of the torch processes at this shape."""
    if not use_torch:
        return []
    if args.torch_sweep == "all" or shape in quick_shapes or chosen_torch is None:
        configs = [(*config, "rnn") for config in TORCH_SWEEP]
    else:
        configs = [(*chosen_torch, "rnn")]
    if not args.no_reference and (shape in quick_shapes or args.shape):
        configs += [(*config, "lstm") for config in TORCH_REFERENCES]
    return configs


def impls_for(shape, args, quick_shapes):
    """The TensorFlow rows at this shape."""
    impls = list(args.impls or IMPLS + (ABLATION if args.ablation else ()))
    if not args.no_reference and not args.impls and (shape in quick_shapes or args.shape):
        impls += KERAS_REFERENCES
    return impls


def torch_available():
    return importlib.util.find_spec("torch") is not None  # found, not imported: torch runs in its own processes


# The summary's medians of `fast` keep their old keys; those of `fast*` are prefixed.
SUMMARY_PREFIXES = {"fast": "", "best_fast": "best_fast_"}


def summary(rows, per_shape):
    """The fast layer's ratios to the best peers: per shape, and their medians over the shapes run."""
    shape_key = ("batch", "steps", "units", "masked")
    outcomes = {tuple(shape["shape"]): shape for shape in per_shape}
    measured = [r for r in rows if "train_seq_per_s" in r]
    keys = ("batch", "steps", "units", "masked", "train_seq_per_s", "train_q1", "train_q3", "train_vs_best_keras",
            "train_vs_best_torch", "train_pct_of_matmul", "train_pct_of_step_matmul")
    fast = [r for r in measured if r["impl"] == "fast"]  # the tasks' configuration
    best_fast = [r for r in measured if r["impl"] == outcomes[tuple(r[k] for k in shape_key)].get("best_fast")]
    result = {}
    for name, chosen in (("fast", fast), ("best_fast", best_fast)):
        prefix = SUMMARY_PREFIXES[name]
        for suffix in ("keras", "torch"):
            ratios = [r[f"train_vs_best_{suffix}"] for r in chosen if f"train_vs_best_{suffix}" in r]
            result[f"{prefix}median_train_vs_best_{suffix}"] = statistics.median(ratios) if ratios else None
            result[f"{prefix}range_train_vs_best_{suffix}"] = [min(ratios), max(ratios)] if ratios else None
        result[name] = [{"impl": r["impl"], **{key: r.get(key) for key in keys},
                         **{key: outcomes[tuple(r[k] for k in shape_key)].get(key)
                            for key in ("best_keras", "best_torch", "chain_bound_pct_of_matmul")}}
                        for r in chosen]
    return result


def summary_lines(report):
    """The summary as text: one line per shape, then the medians."""
    result = report["summary"]
    lines = []
    for name, title in (("fast", "fast (the tasks' configuration)"),
                        ("best_fast", "fast* (the fastest fast-layer configuration)")):
        prefix = SUMMARY_PREFIXES[name]
        lines.append(f"{title}: train x best Keras (x best torch), % of 1024^2 matmul (chain bound), per shape")
        for r in result[name]:
            lines.append(f"  {r['batch']}x{r['steps']}x{r['units']}{' masked' if r['masked'] else ''}: {r['impl']} "
                         f"{r['train_seq_per_s']} seq/s ({r['train_q1']}-{r['train_q3']}), "
                         f"x{r.get('train_vs_best_keras')} {r['best_keras']}, x{r.get('train_vs_best_torch')} "
                         f"{r['best_torch']}, {r['train_pct_of_matmul']}% matmul "
                         f"(bound {r['chain_bound_pct_of_matmul']}%)")
        for suffix in ("keras", "torch"):
            lines.append(f"{title}: median over {len(result[name])} shapes, train x best {suffix}: "
                         f"{result[f'{prefix}median_train_vs_best_{suffix}']} "
                         f"(range {result[f'{prefix}range_train_vs_best_{suffix}']})")
    machine = report["machine"]
    lines.append(f"{machine['cpu_model']}, {machine['usable_cores']} usable cores; load average before "
                 f"{machine['load_average_before']}, after {machine['load_average_after']}; "
                 f"{report['repeats']} repetitions ({report['quick_repeats']} at the quick shapes), {report['seconds']} s; "
                 f"command: {report['command']}")
    return lines


def main(argv=None):
    args = parse_args(argv)
    configure_threads(args.threads, args.inter_op_threads)
    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        print("torch is not installed (pip install -e '.[bench]'): no PyTorch rows", file=sys.stderr)
    quick_shapes = [HEADLINE, SENTIMENT]
    if args.shape:
        shapes = args.shape
    elif args.quick:
        shapes = quick_shapes
    else:
        shapes = quick_shapes + [(b, t, m, False) for b, t, m in itertools.product(BATCHES, STEPS, UNITS)
                                 if (b, t, m, False) != HEADLINE]
    before = machine_info()
    tf_matmul = {"1024": measure_matmul_gflops(1024, 1024), "step": {}}
    print(f"TensorFlow threads {args.threads} (inter-op {args.inter_op_threads or args.threads}); "
          f"TF matmul 1024^2 {tf_matmul['1024']:.1f} GFLOP/s; "
          f"{before['cpu_model']}, {before['usable_cores']} cores, load {before['load_average']}")
    rows, per_shape, chosen_torch, started = [], [], None, time.perf_counter()
    for shape in shapes:
        torch_configs = torch_configs_for(shape, args, use_torch, quick_shapes, chosen_torch)
        repeats = args.quick_repeats if shape in quick_shapes else args.repeats
        shape_rows, outcome = benchmark_shape(impls_for(shape, args, quick_shapes), torch_configs, shape, args,
                                              tf_matmul, repeats)
        if shape == HEADLINE and outcome["best_torch"]:
            chosen_torch = next(c for c in TORCH_SWEEP if torch_name(*c) == outcome["best_torch"])
        print(format_table(shape_rows), flush=True)
        print(f"best keras: {outcome['best_keras']}, best torch: {outcome['best_torch']}; "
              f"{outcome['steps_per_call']} batches per call; {outcome['seconds']} s", flush=True)
        rows.extend(shape_rows)
        per_shape.append({"shape": list(shape), **outcome})
    report = {"machine": with_load_after(before), "versions": versions(torch=use_torch),
              "tensorflow_matmul_gflops": {"1024": round(tf_matmul["1024"], 1),  # the rate the rows use
                                           # measured again at the end: a big gap means the machine was busy
                                           "1024_after": round(measure_matmul_gflops(1024, 1024), 1),
                                           "step": {f"{b}x{m}": round(v, 1) for (b, m), v in tf_matmul["step"].items()}},
              "threads": args.threads, "inter_op_threads": args.inter_op_threads or args.threads,
              "features": args.features, "repeats": args.repeats,
              "quick_repeats": args.quick_repeats,
              "seconds_per_repeat": args.seconds, "seconds": round(time.perf_counter() - started, 1),
              "command": command_line("benchmarks.rnn_throughput", argv),
              "shapes": per_shape, "summary": summary(rows, per_shape), "rows": rows}
    print("\n".join(summary_lines(report)))
    if args.json:
        write_report(args.json, report, format_table(rows) + "\n\n" + "\n".join(summary_lines(report)))


if __name__ == "__main__":
    main()
