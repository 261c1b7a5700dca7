"""metrics.json, the one file every run ends with (its keys: docs/adding_a_task.md)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tasks.common.atomic import atomic_write


def _plain(value):
    """NumPy scalars and arrays as JSON; NaN/inf as null so the file stays strict JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_metrics(run, *, dataset: str, test: dict, baselines: dict, fit_result, export_path,
                  quality_bar: tuple[str, float] | None = None, **extra) -> dict:
    """Writes run_dir/metrics.json atomically (chief only) and returns what it wrote.

    `quality_bar` (validation metric, value) adds the training seconds until the metric first reached
    the value (`seconds_to_quality_bar`, null if it never did), the task's speed to a useful model.
    """
    metrics = _plain({
        "task": run.task,
        "dataset": dataset,
        "test": test,
        "baselines": baselines,
        "train_seconds": fit_result.train_seconds,
        "examples_per_second": fit_result.examples_per_second,
        "epochs_run": fit_result.epochs_run,
        "export": str(export_path) if export_path else None,
        **({} if quality_bar is None else {
            "quality_bar": {"metric": quality_bar[0], "value": quality_bar[1]},
            "seconds_to_quality_bar": seconds_to_reach(fit_result, *quality_bar)}),
        **extra,
    })
    if run.is_chief:
        # replace: a rerun of the run (after a kill) writes its run dir's metrics.json again
        atomic_write(Path(run.run_dir) / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
                     replace=True)
    return metrics


def seconds_to_reach(fit_result, metric: str, bar: float, mode: str = "max") -> float | None:
    """Training seconds until validation `metric` first reached `bar` (None if it never did)."""
    for value, seconds in zip(fit_result.history.get(metric, []), fit_result.epoch_end_seconds):
        if (value >= bar) if mode == "max" else (value <= bar):
            return seconds
    return None
