"""The speed benchmark's mechanics on a tiny shape: every peer row, ratios against the best peer, JSON."""
import importlib.util
import json
import subprocess
import sys

import pytest

from benchmarks import rnn_throughput
from benchmarks.rnn_throughput import FAST_CONFIGS, KERAS_PEERS, benchmark_shape, format_table, parse_args
from benchmarks.torch_peer import STEPS_PER_CALL, steps_per_call, useful_train_flops
from tests.conftest import REPO, run_python


def test_useful_flops_leave_out_the_input_gradient():
    steps, n, m = 10, 3, 5
    forward = 2 * steps * (n * m + m * m)
    assert useful_train_flops(steps, n, m) == forward + 2 * steps * (n * m + 2 * m * m)
    assert useful_train_flops(steps, n, m, gates=4) == 4 * useful_train_flops(steps, n, m)  # LSTM


def test_the_chain_bound_at_the_headline_shape():
    from benchmarks.rnn_throughput import chain_bound_pct

    # 2T - 1 = 59 dependent (64 x 128) @ (128 x 128) products; the rates of the committed make bench run.
    useful, chain = useful_train_flops(30, 64, 128), 59 * 2 * 128 * 128
    assert chain_bound_pct(30, 64, 128, 121.1, 367.6) == round(100 * useful / chain * 121.1 / 367.6, 1) == 67.0
    assert chain_bound_pct(30, 64, 128, 367.6, 367.6) > 100  # a chain at the big-matmul rate bounds nothing


def test_fewer_batches_per_call_only_where_a_batch_is_gigaflops():
    assert steps_per_call(64, 30, 64, 128) == STEPS_PER_CALL  # the headline shape: 8, like the tasks
    assert steps_per_call(64, 256, 64, 64) == STEPS_PER_CALL  # the sentiment shape
    assert steps_per_call(256, 100, 64, 512) == 1  # 44 GFLOP a batch


def test_a_peer_that_cannot_run_is_a_row_that_says_why(monkeypatch):
    build = rnn_throughput.keras_step_functions

    def no_xla(impl, *arguments):
        if impl == "cell_xla":
            raise RuntimeError("no XLA here\nsecond line")
        return build(impl, *arguments)

    monkeypatch.setattr(rnn_throughput, "keras_step_functions", no_xla)
    args = parse_args(["--shape", "2x3x4", "--repeats", "1", "--seconds", "0.01", "--no-torch"])
    rows, outcome = benchmark_shape(["cell", "cell_xla"], [], (2, 3, 4, False), args, {"1024": 1.0, "step": {}})
    failed = [r for r in rows if "failed" in r]
    assert failed == [{"impl": "cell_xla", "batch": 2, "steps": 3, "units": 4, "masked": False,
                       "failed": "RuntimeError: no XLA here"}]
    assert outcome["best_keras"] == "cell" and outcome["failed"] == {"cell_xla": "RuntimeError: no XLA here"}
    assert "no XLA here" in format_table(rows).splitlines()[-1]


@pytest.mark.slow
def test_tiny_run_reports_every_keras_configuration_and_the_best_of_them(tmp_path):
    report_file = tmp_path / "bench.json"
    run_python(["-m", "benchmarks.rnn_throughput", "--shape", "4x6x8", "--shape", "4x8x8m", "--repeats", "2",
                "--seconds", "0.02", "--no-torch", "--inter-op-threads", "1",
                "--impls", *FAST_CONFIGS, *KERAS_PEERS, "keras_lstm",
                "--json", str(report_file)])
    report = json.loads(report_file.read_text())
    for shape in report["shapes"]:
        assert shape["best_keras"] in KERAS_PEERS and not shape["failed"]
    rows = report["rows"]
    impls = (*FAST_CONFIGS, *KERAS_PEERS, "keras_lstm")
    assert {(r["impl"], r["masked"]) for r in rows} == {(i, m) for i in impls for m in (False, True)}
    for masked in (False, True):
        shape_rows = [r for r in rows if r["masked"] == masked]
        best = max((r for r in shape_rows if r["impl"] in KERAS_PEERS), key=lambda r: r["train_seq_per_s"])
        assert best["train_vs_best_keras"] == 1.0  # the reference against itself
        assert all(r["train_q1"] <= r["train_seq_per_s"] <= r["train_q3"] for r in shape_rows)
        assert [r["impl"] for r in shape_rows if r.get("reference")] == ["keras_lstm"]  # for scale, never the best
    summary = report["summary"]
    assert summary["median_train_vs_best_keras"] is not None and summary["best_fast_median_train_vs_best_keras"]
    for shape, fast_star in zip(report["shapes"], summary["best_fast"]):
        assert fast_star["impl"] == shape["best_fast"] in FAST_CONFIGS
        fastest = max((r for r in rows if r["impl"] in FAST_CONFIGS and r["masked"] == shape["shape"][3]),
                      key=lambda r: r["train_seq_per_s"])
        assert fast_star["train_seq_per_s"] == fastest["train_seq_per_s"]
        assert fast_star["chain_bound_pct_of_matmul"] == shape["chain_bound_pct_of_matmul"] > 0
    assert report["machine"]["load_average_before"] and report["machine"]["load_average_after"]
    assert report["inter_op_threads"] == 1
    text = (tmp_path / "bench.txt").read_text()
    assert text.startswith("impl") and "median over 2 shapes, train x best keras" in text


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is in the bench extra, not the test one")
def test_torch_peer_answers_timed_repetitions_for_packed_sequences_under_jit_script():
    process = subprocess.run([sys.executable, "-m", "benchmarks.torch_peer", "--mode", "jit_script", "--cell", "lstm",
                              "--threads", "1", "--shape", "2x5x3", "--features", "2", "--masked", "--seconds", "0.01"],
                             input="train\ninfer\nquit\n", capture_output=True, text=True, timeout=300, cwd=REPO)
    assert process.returncode == 0, process.stderr[-2000:]
    ready, train, infer = (json.loads(line) for line in process.stdout.splitlines())
    assert ready["ready"] and ready["matmul_gflops"]["1024"] > 0
    assert train["seq_per_s"] > 0 and infer["seq_per_s"] > 0


@pytest.mark.parametrize("masked", [False, True], ids=["unrolled", "masked_loop"])
def test_the_train_step_leaves_out_what_it_does_not_need(masked):
    from benchmarks.graph_ops import optimized_op_counts

    without_dx = optimized_op_counts(4, 9, 3, 5, masked, watch_inputs=False)
    with_dx = optimized_op_counts(4, 9, 3, 5, masked, watch_inputs=True)
    # dL/dx = Delta U^T, one product per span (a loop body counts once): pruned when x is a constant.
    spans = 1 if masked else 3
    assert with_dx["MatMul"] - without_dx["MatMul"] == spans
    if masked:  # the backward loop reads the forward loop's span-shaped x and states: only x and the mask padded
        assert without_dx["Pad"] == 2


@pytest.mark.parametrize("masked", [False, True])
def test_the_compiled_chain_leaves_only_the_large_products_to_tensorflow(masked):
    from benchmarks.graph_ops import optimized_op_counts

    without_dx = optimized_op_counts(4, 9, 3, 5, masked, watch_inputs=False, compiled=True)
    with_dx = optimized_op_counts(4, 9, 3, 5, masked, watch_inputs=True, compiled=True)
    for counts in (without_dx, with_dx):
        assert counts["RnnChain"] == counts["RnnChainGrad"] == 1
        assert "While" not in counts and "StatelessWhile" not in counts and "Tanh" not in counts
        # x and the deltas stay batch-major: only the (B, T) mask is turned to (T, B).
        assert counts.get("Transpose", 0) == (1 if masked else 0)
    # x U + b, dU, dW and db are in the ops; TensorFlow keeps dL/dx = Delta U^T, when x is watched.
    assert without_dx.get("MatMul", 0) == 0 and "_FusedMatMul" not in without_dx
    assert with_dx["MatMul"] == 1


def test_unroll_xla_rows_beyond_long_unroll_steps_are_skipped_with_the_reason():
    from benchmarks.rnn_throughput import LONG_UNROLL_STEPS, skipped

    impls = ["fast", "cell_unroll", "cell_unroll_xla", "keras_simple_rnn_unroll_xla"]
    args = parse_args(["--quick"])
    assert skipped(impls, (64, LONG_UNROLL_STEPS, 64, True), args) == {}
    not_run = skipped(impls, (64, LONG_UNROLL_STEPS + 1, 64, True), args)
    assert sorted(not_run) == ["cell_unroll_xla", "keras_simple_rnn_unroll_xla"]
    assert all("--long-unroll-xla" in why for why in not_run.values())
    assert skipped(impls, (64, 256, 64, True), parse_args(["--quick", "--long-unroll-xla"])) == {}


def test_the_step_budget_bounds_the_step_by_what_runs_outside_the_ops():
    from benchmarks.step_budget import budget

    useful = 251.7e6  # the headline's FLOPs per step: 1000 us at 251.7 GFLOP/s
    medians = {"ops": 1200.0, "layer": 1210.0, "step": 1700.0, "ops_t1": 160.0}
    split = budget(medians, useful, 251.7)
    assert split["outside_ops_us"] == 500.0 and split["layer_wrappers_us"] == 10.0
    assert split["model_loss_adam_us"] == 490.0 and split["ops_fixed_us"] == 160.0
    assert split["step_pct_of_matmul"] == round(100 * 1000 / 1700, 1)
    assert split["ops_pct_of_matmul"] == round(100 * 1000 / 1200, 1)
    assert split["bound_pct_of_matmul"] == round(100 * 1000 / 1500, 1)  # ops at the matmul rate, the rest as is
    # 70% leaves 1000 / 0.7 = 1428.6 us a step, 928.6 of them for the ops: 107.7% of the matmul rate.
    assert split["ops_pct_needed_for_70"] == round(100 * 1000 / (1000 / 0.7 - 500), 1)
    # With 1430 us outside the ops no rate reaches 70%.
    assert budget({**medians, "step": 1200 + 1430}, useful, 251.7)["ops_pct_needed_for_70"] is None


@pytest.mark.parametrize("argv, message", [
    (["--shape", "64x30"], "--shape must look like 64x30x128 (batch x T x units), got '64x30'"),
    (["--shape", "64x0x128"], "--shape's sizes, --features and --repeats must be >= 1 and --seconds > 0"),
    (["--seconds", "0"], "--shape's sizes, --features and --repeats must be >= 1 and --seconds > 0"),
])
def test_the_step_budget_names_a_bad_argument_in_one_line(argv, message, capsys):
    from benchmarks.step_budget import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1].endswith(message)


@pytest.mark.slow
def test_the_step_budget_times_every_part_at_t_and_at_one_step(tmp_path):
    report_file = tmp_path / "budget.json"
    run_python(["-m", "benchmarks.step_budget", "--shape", "4x3x8", "--features", "4", "--quick",
                "--json", str(report_file)])
    report = json.loads(report_file.read_text())
    parts = ("ops", "layer", "step")
    assert set(report["us_per_step"]) == {*parts, *(part + "_t1" for part in parts)}
    for times in report["us_per_step"].values():
        assert 0 < times["q1"] <= times["median"] <= times["q3"]
    steps = report["us_per_step"]
    assert report["budget"]["outside_ops_us"] == round(steps["step"]["median"] - steps["ops"]["median"], 1)
    assert report["useful_mflop_per_step"] == round(4 * useful_train_flops(3, 4, 8) / 1e6, 1)
    assert report["matmul_gflops"]["1024"] > 0 and report["machine"]["load_average_after"]
    assert (tmp_path / "budget.txt").read_text().startswith("4x3x8 (4 features)")
