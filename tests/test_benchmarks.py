"""The speed benchmark's mechanics on a tiny shape: every peer row, ratios against the best peer, JSON."""
import json

import pytest

from benchmarks.rnn_throughput import KERAS_PEERS, useful_train_flops
from tests.conftest import run_python


def test_useful_flops_leave_out_the_input_gradient():
    steps, n, m = 10, 3, 5
    forward = 2 * steps * (n * m + m * m)
    assert useful_train_flops(steps, n, m) == forward + 2 * steps * (n * m + 2 * m * m)


@pytest.mark.slow
def test_tiny_run_reports_every_keras_configuration_and_the_best_of_them(tmp_path):
    report_file = tmp_path / "bench.json"
    run_python(["-m", "benchmarks.rnn_throughput", "--shape", "4x6x8", "--shape", "4x8x8m", "--repeats", "2",
                "--seconds", "0.02", "--no-torch", "--impls", "fast", *KERAS_PEERS, "--json", str(report_file)])
    report = json.loads(report_file.read_text())
    for shape in report["shapes"]:
        assert shape["best_keras"] in KERAS_PEERS and not shape["failed"]
    rows = report["rows"]
    assert {(r["impl"], r["masked"]) for r in rows} == {(i, m) for i in ("fast", *KERAS_PEERS) for m in (False, True)}
    for masked in (False, True):
        shape_rows = [r for r in rows if r["masked"] == masked]
        best = max(shape_rows[1:], key=lambda r: r["train_seq_per_s"])
        assert best["train_vs_best_keras"] == 1.0  # the reference against itself
        assert all(r["train_q1"] <= r["train_seq_per_s"] <= r["train_q3"] for r in shape_rows)
    assert report["summary"]["median_train_vs_best_keras"] is not None
    assert (tmp_path / "bench.txt").read_text().startswith("impl")
