"""benchmarks.real_data: per-seed metrics.json folded into mean/min/max rows, and a real two-seed run."""
import json

import pytest

from benchmarks.real_data import flatten, format_table, summarize
from tests.conftest import run_python

TINY_HEART = ["data.builtin_patients=300", "train.epochs=1", "train.histogram_freq=0", "train.verbose=0",
              "model.visit_units=4", "model.rnn_units=4", "model.ensemble=1"]


def test_flatten_keeps_numeric_leaves_as_dotted_names():
    metrics = {"accuracy": 0.5, "order_dependent": {"accuracy": 0.25, "n": 8}, "name": "x", "none": None,
               "confusion": [[1, 2]], "nan": float("nan"), "flag": True}
    assert flatten(metrics) == {"accuracy": 0.5, "order_dependent.accuracy": 0.25, "order_dependent.n": 8.0}


def test_summarize_gives_mean_min_max_per_row_and_metric():
    seeds = [{"test": {"accuracy": 0.6}, "baselines": {"tfidf": {"accuracy": 0.55}}},
             {"test": {"accuracy": 0.7}, "baselines": {"tfidf": {"accuracy": 0.55}}},
             {"test": {"accuracy": 0.8}, "baselines": {"tfidf": {"accuracy": 0.55}}}]
    summary = summarize(seeds)
    assert [(s["row"], s["metric"]) for s in summary] == [("model", "accuracy"), ("tfidf", "accuracy")]
    assert summary[0]["mean"] == pytest.approx(0.7) and (summary[0]["min"], summary[0]["max"]) == (0.6, 0.8)
    assert summary[1]["min"] == summary[1]["max"] == 0.55 and summary[1]["n"] == 3
    table = format_table(summary, [0, 1, 2])
    assert "| model " in table and "0.7000" in table and "0.5500" in table


@pytest.mark.slow
def test_two_seeds_of_a_tiny_task_give_a_table_and_json(tmp_path):
    out, report_file = tmp_path / "runs", tmp_path / "report.json"
    args = ["-m", "benchmarks.real_data", "heart_attack", "--seeds", "2", "--first-seed", "3",
            "--out", str(out), "--json", str(report_file), "--set", f"data.builtin_dir={tmp_path / 'data'}"]
    result = run_python(args + [arg for setting in TINY_HEART for arg in ("--set", setting)])
    report = json.loads(report_file.read_text())
    assert report["seeds"] == [3, 4] and len(report["per_seed"]) == 2
    rows = {(s["row"], s["metric"]): s for s in report["summary"]}
    assert {("model", "roc_auc"), ("last_visit_logistic", "roc_auc"), ("all_visits_logistic", "roc_auc")} <= set(rows)
    seed_values = [seed["model"]["roc_auc"] for seed in report["per_seed"]]
    assert rows[("model", "roc_auc")]["min"] == min(seed_values)
    for seed in (3, 4):  # each seed's own run dir and export, nothing in the repository's exports/
        config = (out / f"seed-{seed}" / "config.yaml").read_text()
        assert f"seed: {seed}" in config
        assert any((out / "exports" / "heart_attack").iterdir())
    assert "| last_visit_logistic" in result.stdout


def test_overriding_what_the_command_sets_is_refused():
    result = run_python(["-m", "benchmarks.real_data", "heart_attack", "--set", "train.seed=3"], check=False)
    assert result.returncode == 2 and "train.seed, train.runs_dir and train.export_dir are set" in result.stderr
