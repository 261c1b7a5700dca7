"""metrics.json's speed-to-quality fields and the `make train` summary that shows them."""
import json
import types

import pytest

from tasks import cli
from tasks.common.metrics import seconds_to_reach, write_metrics
from tasks.common.training import FitResult


def fit_result(val_accuracy):
    return FitResult(history={"val_accuracy": val_accuracy}, train_seconds=40.0, examples_per_second=500.0,
                     epoch_end_seconds=[10.0 * (i + 1) for i in range(len(val_accuracy))],
                     epochs_run=len(val_accuracy))


def test_seconds_to_reach_is_the_end_of_the_first_epoch_at_the_bar():
    result = fit_result([0.5, 0.89, 0.91, 0.88])
    assert seconds_to_reach(result, "val_accuracy", 0.90) == 30.0
    assert seconds_to_reach(result, "val_accuracy", 0.95) is None
    assert seconds_to_reach(result, "val_accuracy", 0.6, mode="min") == 10.0


@pytest.mark.parametrize("history, seconds", [([0.5, 0.93, 0.97], 20.0), ([0.5, 0.6], None)])
def test_metrics_json_and_summary_report_the_quality_bar(tmp_path, history, seconds):
    run = types.SimpleNamespace(task="sentiment_stars", run_dir=tmp_path, is_chief=True)
    write_metrics(run, dataset="builtin", test={"accuracy": 0.9}, baselines={"bag_of_words": {"accuracy": 0.4}},
                  fit_result=fit_result(history), export_path=None, quality_bar=("val_accuracy", 0.9))
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["quality_bar"] == {"metric": "val_accuracy", "value": 0.9}
    assert metrics["seconds_to_quality_bar"] == seconds

    row = cli._summary_row("sentiment_stars", tmp_path, seconds=55.0)
    assert row["quality_bar"] == "val_accuracy >= 0.9" and row["seconds_to_quality_bar"] == seconds
    assert row["value"] == 0.9 and row["baseline_value"] == 0.4


def test_summary_table_has_a_seconds_to_bar_column(tmp_path, capsys):
    run = types.SimpleNamespace(task="heart_attack", run_dir=tmp_path, is_chief=True)
    write_metrics(run, dataset="builtin", test={"roc_auc": 0.86}, baselines={}, fit_result=fit_result([0.9]),
                  export_path="exports/heart_attack/1", quality_bar=("val_accuracy", 0.85))
    cli.print_summary([cli._summary_row("heart_attack", tmp_path, seconds=70.0)])
    header, _, row = capsys.readouterr().out.splitlines()
    assert "quality bar" in header and "s to bar" in header
    assert "val_accuracy >= 0.85" in row and row.split()[-3:] == ["10", "70", "exports/heart_attack/1"]
