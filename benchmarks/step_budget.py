"""Where the fast layer's train step spends its time, and the most `% matmul` that leaves it.

    python -m benchmarks.step_budget [--shape BxTxUNITS] [--features N] [--repeats N] [--quick] [--json PATH]

benchmarks.rnn_throughput reports `% matmul`: useful FLOPs per second of the whole train step over
TensorFlow's float32 matmul rate at 1024^2. This splits the step at one shape (the headline, batch 64,
T 30, 128 units, by default) into nested parts, each timed in interleaved rounds (medians, quartiles):

- `ops`: the layer's two compiled ops alone (`rnn_chain`, `rnn_chain_grad`), back to back;
- `layer`: the layer's graph (`rnn_states`: the ops and their wrappers) and its gradient w.r.t. U, W, b;
- `step`: rnn_throughput's `fast` train step: the Keras model (layer, Dense(1)), MSE, tape, Adam;
- the same three at T 1, where the ops' work is 1/T of it and what is left is their fixed cost.

`outside_ops_us` = step - ops is what the step runs besides the two ops (the same Dense, loss and Adam
every peer row runs). `bound_pct_of_matmul` is the `% matmul` the step would show if the ops ran at the
1024^2 rate with everything else as measured: useful / (useful at that rate + outside_ops). `ops_pct_needed_for_70`
is the rate, as % of the 1024^2 rate, the ops would need for the step to reach 70% (none: no rate does).
"""
import argparse
import os
import time

import numpy as np

from benchmarks.machine import machine_info, versions, with_load_after
from benchmarks.report import command_line, write_report
from benchmarks.rnn_throughput import configure_threads, keras_step_functions, measure_matmul_gflops, quartiles
from benchmarks.torch_peer import STEPS_PER_CALL, calibrate, useful_train_flops

PARTS = ("ops", "layer", "step")
TARGET_PCT = 70.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="64x30x128", help="batch x T x units (default: the headline)")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=0.2, help="per timed repetition")
    parser.add_argument("--quick", action="store_true", help="2 short rounds: does it run (not a measurement)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="TensorFlow threads")
    parser.add_argument("--json", help="write the results to this JSON file (and the table beside it, .txt)")
    args = parser.parse_args(argv)
    try:
        args.batch, args.steps, args.units = (int(size) for size in args.shape.split("x"))
    except ValueError:
        parser.error(f"--shape must look like 64x30x128 (batch x T x units), got {args.shape!r}")
    if min(args.batch, args.steps, args.units, args.features, args.repeats) < 1 or args.seconds <= 0:
        parser.error("--shape's sizes, --features and --repeats must be >= 1 and --seconds > 0")
    if args.quick:
        args.repeats, args.seconds = 2, 0.02
    return args


def part_functions(batch, steps, features, units, seed=0):
    """{part: a call running STEPS_PER_CALL of it in one tf.function} at this shape (float32, tanh, fixed T)."""
    import tensorflow as tf

    from rnn_layers.chain_kernel import chain_ops, inter_op_helpers
    from rnn_layers.fast_rnn import rnn_states

    ops = chain_ops()
    if ops is None:
        raise SystemExit("step_budget: the compiled ops are not built (run `make install`)")
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((STEPS_PER_CALL, batch, steps, features)).astype(np.float32)
    ys = rng.standard_normal((STEPS_PER_CALL, batch, 1)).astype(np.float32)
    x = tf.constant(xs)
    U = tf.Variable(rng.standard_normal((features, units)) / features**0.5, dtype=tf.float32)
    W = tf.Variable(rng.standard_normal((units, units)) / units**0.5, dtype=tf.float32)
    b, s0 = tf.Variable(tf.zeros(units)), tf.zeros((batch, units))
    attrs = {"activation": "tanh", "inter_op_helpers": inter_op_helpers()}  # as the layer calls them
    no_mask, no_d_states, d_last = tf.zeros((0, 0), tf.bool), tf.zeros((0, 0, 0)), tf.ones((batch, units))

    @tf.function
    def two_ops():
        total = tf.constant(0.0)
        for i in tf.range(STEPS_PER_CALL):
            states = ops.rnn_chain(x[i], U, b, s0, W, no_mask, **attrs)
            total += ops.rnn_chain_grad(states, W, no_d_states, d_last, no_mask, x[i], **attrs)[3][0, 0]
        return total

    @tf.function
    def layer():
        total = tf.constant(0.0)
        for i in tf.range(STEPS_PER_CALL):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(rnn_states(x[i], U, b, W, s0, return_sequences=False))
            dU, dW, db = tape.gradient(loss, [U, W, b])
            total += dU[0, 0] + dW[0, 0] + db[0]
        return total

    step, _ = keras_step_functions("fast", xs, ys, None, units)
    return {"ops": lambda: two_ops().numpy(), "layer": lambda: layer().numpy(), "step": step}


def time_parts(functions, repeats, seconds):
    """{name: [microseconds per step, one per round]}, rounds rotated so that no part always runs first."""
    calls = {name: calibrate(function, seconds) for name, function in functions.items()}
    samples, names = {name: [] for name in functions}, list(functions)
    for repetition in range(repeats):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            for _ in range(calls[name]):
                functions[name]()
            samples[name].append(1e6 * (time.perf_counter() - start) / (calls[name] * STEPS_PER_CALL))
    return samples


def budget(medians, useful_flops, matmul_gflops):
    """The split of the step and its bounds, from median microseconds per step of the parts (ops_t1: at T 1)."""
    outside_us = medians["step"] - medians["ops"]
    at_matmul_us = useful_flops / (matmul_gflops * 1e3)  # the useful FLOPs at the 1024^2 rate
    room_us = useful_flops / (TARGET_PCT / 100 * matmul_gflops * 1e3) - outside_us  # the ops' share at 70%
    return {
        "outside_ops_us": round(outside_us, 1),
        "layer_wrappers_us": round(medians["layer"] - medians["ops"], 1),
        "model_loss_adam_us": round(medians["step"] - medians["layer"], 1),
        "ops_fixed_us": round(medians["ops_t1"], 1),
        "step_pct_of_matmul": round(100 * at_matmul_us / medians["step"], 1),
        "ops_pct_of_matmul": round(100 * at_matmul_us / medians["ops"], 1),
        "bound_pct_of_matmul": round(100 * at_matmul_us / (at_matmul_us + outside_us), 1),
        "ops_pct_needed_for_70": round(100 * at_matmul_us / room_us, 1) if room_us > 0 else None,
    }


def format_table(report):
    lines = [f"{report['shape']} ({report['features']} features), us per train step: median (q1-q3) "
             f"of {report['repeats']} rounds; TF matmul {report['matmul_gflops']['1024']} GFLOP/s at 1024^2, "
             f"{report['matmul_gflops']['step']} at the step's (B, m) @ (m, m)"]
    for name, times in report["us_per_step"].items():
        lines.append(f"  {name:8s} {times['median']:9.1f} ({times['q1']:.1f}-{times['q3']:.1f})")
    for key, value in report["budget"].items():
        lines.append(f"  {key:24s} {value}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    configure_threads(args.threads)
    before = machine_info()
    functions = {}
    for steps, suffix in ((args.steps, ""), (1, "_t1")):
        parts = part_functions(args.batch, steps, args.features, args.units)
        functions.update({name + suffix: parts[name] for name in PARTS})
    matmul = {"1024": round(measure_matmul_gflops(1024, 1024), 1),
              "step": round(measure_matmul_gflops(args.batch, args.units), 1)}
    samples = time_parts(functions, args.repeats, args.seconds)
    # One set of figures: the budget is computed from the medians the JSON and the table show.
    times = {name: dict(zip(("q1", "median", "q3"), quartiles(values))) for name, values in samples.items()}
    useful = args.batch * useful_train_flops(args.steps, args.features, args.units)
    report = {"shape": args.shape, "features": args.features, "threads": args.threads, "repeats": args.repeats,
              "useful_mflop_per_step": round(useful / 1e6, 1), "matmul_gflops": matmul, "us_per_step": times,
              "budget": budget({name: t["median"] for name, t in times.items()}, useful, matmul["1024"]),
              "machine": with_load_after(before), "versions": versions(),
              "command": command_line("benchmarks.step_budget", argv)}
    table = format_table(report)
    print(table)
    if args.json:
        write_report(args.json, report, table)


if __name__ == "__main__":
    main()
