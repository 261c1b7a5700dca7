"""One PyTorch configuration of the RNN benchmark, in a process of its own, timed on request.

    python -m benchmarks.torch_peer --mode eager|compile|jit_script --threads N --shape BxTxM --features N
        [--masked] [--seconds S] [--cell rnn|lstm]

`benchmarks.rnn_throughput` starts one such process per configuration (threads, OpenMP wait policy in
the environment, eager / `torch.compile` / `torch.jit.script`), so that PyTorch's OpenMP pool never shares a
process with TensorFlow's threads. The process builds `torch.nn.RNN` (tanh) -> last state -> Linear(1),
MSE and `Adam(foreach=True)` (the model, loss and optimizer of the TensorFlow rows; `--cell lstm` puts
`torch.nn.LSTM` in the RNN's place, a reference row for scale), compiles and calibrates,
prints one JSON line `{"ready": ...}`, then answers each line `train` or `infer` on its standard input with
one JSON line `{"seq_per_s": ..., "seq_per_cpu_s": ...}` for one timed repetition, until `quit`.
With `--masked`, sequences have lengths between T/4 and T (the sentiment task's padded batches) and go
through `pack_padded_sequence`, PyTorch's way to skip padding.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

STEPS_PER_CALL = 8  # batches per timed call (like steps_per_execution), as in benchmarks.rnn_throughput
# Fewer batches per call where one batch's training is this many FLOPs or more: at the grid's largest
# shapes a call of 8 batches takes seconds, and per-call overhead is negligible there anyway.
CALL_FLOPS = 8e9


def useful_train_flops(steps, features, units, gates=1):
    """FLOPs per sequence of one training step of an RNN with `gates` matmul pairs per step (1; GRU 3; LSTM 4).

    Forward 2T(nm + m^2) per gate (projection and recurrence), backward 2T(nm + 2m^2) (dU, dW and the
    chain dL/ds_{t-1} = delta_t W^T); the input gradient dL/dx is not counted: the benchmark's model does
    not need it (TensorFlow prunes it; its inputs are constants).
    """
    n, m = features, units
    return gates * (2 * steps * (n * m + m * m) + 2 * steps * (n * m + 2 * m * m))


def steps_per_call(batch, steps, features, units):
    """Batches per timed call: STEPS_PER_CALL, fewer for shapes whose batch costs CALL_FLOPS or more."""
    batch_flops = batch * useful_train_flops(steps, features, units)
    return max(1, min(STEPS_PER_CALL, int(CALL_FLOPS // batch_flops)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("eager", "compile", "jit_script"), required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--shape", required=True, help="batch x steps x units, e.g. 64x30x128")
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--masked", action="store_true")
    parser.add_argument("--seconds", type=float, default=0.25)
    parser.add_argument("--cell", choices=("rnn", "lstm"), default="rnn")
    args = parser.parse_args(argv)
    args.batch, args.steps, args.units = (int(v) for v in args.shape.split("x"))
    return args


def inputs(batch, steps, features, units, masked, seed=0):
    """The same arrays as the TensorFlow rows: xs (K, B, T, n), ys (K, B, 1), lengths (K, B) or None.

    K = steps_per_call(...), the batches of one timed call; lengths T/4..T, the padded batches of reviews.
    """
    calls = steps_per_call(batch, steps, features, units)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((calls, batch, steps, features), dtype=np.float32)
    ys = rng.standard_normal((calls, batch, 1), dtype=np.float32)
    lengths = rng.integers(max(1, steps // 4), steps + 1, (calls, batch)) if masked else None
    return xs, ys, lengths


def step_functions(torch, args):
    xs, ys, lengths = inputs(args.batch, args.steps, args.features, args.units, args.masked)
    from benchmarks.torch_models import LastState, PackedLastState, compiled

    module = (PackedLastState if args.masked else LastState)(args.features, args.units, args.cell)
    forward = compiled(module, args.mode)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, foreach=True)
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)
    if lengths is not None:  # packing is data preparation, done once as a DataLoader would
        pack = torch.nn.utils.rnn.pack_padded_sequence
        xs = [pack(x, torch.from_numpy(n), batch_first=True, enforce_sorted=False) for x, n in zip(xs, lengths)]

    def train_steps():
        for x, y in zip(xs, ys):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.mean(torch.square(forward(x) - y))
            loss.backward()
            optimizer.step()
        return loss.item()

    def infer_steps():
        with torch.inference_mode():
            return float(sum(forward(x) for x in xs).sum())

    return {"train": train_steps, "infer": infer_steps}


def calibrate(step, seconds):
    """Calls per repetition so that one lasts about `seconds`, after a warm-up call (tracing)."""
    step()
    start, calls = time.perf_counter(), 0
    while calls < 1 or time.perf_counter() - start < seconds / 4:
        step()
        calls += 1
    return max(1, round(seconds / ((time.perf_counter() - start) / calls)))


def matmul_gflops(torch, m, k, seconds=1.0):
    """Best float32 rate of this runtime for a chain of (m, k) @ (k, k) products, as in the recurrence."""
    chain = max(4, min(256, int(2e9 // (2 * m * k * k))))
    a, b = torch.randn(m, k), torch.randn(k, k) / k**0.5
    best, deadline = float("inf"), time.perf_counter() + seconds
    with torch.inference_mode():
        while time.perf_counter() < deadline or best == float("inf"):
            start, c = time.perf_counter(), a
            for _ in range(chain):
                c = torch.mm(c, b)
            best = min(best, time.perf_counter() - start)
    return 2 * m * k * k * chain / best / 1e9


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    steps = step_functions(torch, args)
    calls = {name: calibrate(step, args.seconds) for name, step in steps.items()}
    rates = {"1024": matmul_gflops(torch, 1024, 1024),
             "step": matmul_gflops(torch, args.batch, args.units)}
    ready = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "matmul_gflops": rates}
    if args.mode == "compile":  # a graph break leaves part of the model eager: the row should say so
        from torch._dynamo.utils import counters

        ready["graph_breaks"] = sum(counters["graph_break"].values())
    print(json.dumps(ready), flush=True)
    sequences = args.batch * steps_per_call(args.batch, args.steps, args.features, args.units)
    for line in sys.stdin:
        request = line.strip()
        if request == "quit":
            break
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(calls[request]):
            steps[request]()
        done = calls[request] * sequences
        print(json.dumps({"seq_per_s": done / (time.perf_counter() - start),
                          "seq_per_cpu_s": done / max(time.process_time() - cpu_start, 1e-9)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
