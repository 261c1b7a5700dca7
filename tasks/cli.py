"""`rnn-tasks`: list the tasks, train or predict one, train them all with a summary, run the gradient check.

    rnn-tasks list
    rnn-tasks train <task> [--config configs/<task>.yaml] [--set key=value ...] [--run-dir DIR] [--strategy NAME]
    rnn-tasks train --all                 # what `make train` runs: every task, its config, a summary table
    rnn-tasks predict <task> --model exports/<task> ...
    rnn-tasks gradcheck [--json]
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from tasks.common.task import QualityBar, Summary

# The registry: every task this package ships, in `make train`'s order. A task is added here by hand (and
# its package follows docs/adding_a_task.md): a folder under tasks/ is not a task until it is listed.
TASKS = ("sentiment_stars", "heart_attack", "video_actions", "translation")
CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


def available_tasks() -> list[str]:
    """The registered tasks, in `make train`'s order."""
    return list(TASKS)


def task_summary(task: str) -> Summary:
    """The task's SUMMARY (tasks/<task>/__init__.py): the headline metric, its baseline, the quality bar."""
    summary = importlib.import_module(f"tasks.{task}").SUMMARY
    if isinstance(summary, dict):  # the mapping form of the tasks not yet on tasks.common.task
        bar = summary.get("quality_bar")
        summary = Summary(summary["metric"], summary.get("baseline"), bar and QualityBar(*bar))
    return summary


def _summary_row(task: str, run_dir: Path, seconds: float) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    spec = task_summary(task)
    metric, baseline = spec.metric, spec.baseline
    baseline_value = metrics.get("baselines", {}).get(baseline, {}).get(metric) if baseline else None
    return {"task": task, "dataset": metrics.get("dataset"), "metric": metric,
            "value": metrics["test"].get(metric), "baseline": baseline, "baseline_value": baseline_value,
            "examples_per_second": metrics.get("examples_per_second"), "quality_bar": _bar(metrics),
            "seconds_to_quality_bar": metrics.get("seconds_to_quality_bar"), "seconds": seconds,
            "export": metrics.get("export")}


def _bar(metrics: dict) -> str | None:
    bar = metrics.get("quality_bar")
    return None if bar is None else f"{bar['metric']} >= {bar['value']:g}"


def _format(value, digits=3) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def print_summary(rows: list[dict]) -> None:
    header = ["task", "dataset", "metric", "value", "baseline", "baseline value", "train ex/s", "quality bar",
              "s to bar", "seconds", "export"]
    table = [[r["task"], r["dataset"], r["metric"], _format(r["value"]), r["baseline"] or "-",
              _format(r["baseline_value"]), _format(r["examples_per_second"], 0), r.get("quality_bar") or "-",
              _format(r.get("seconds_to_quality_bar"), 0), _format(r["seconds"], 0),
              r["export"] or r.get("error", "-")] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *table)]
    for line in [header, ["-" * w for w in widths], *table]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))


def train_all(extra_args: list[str]) -> int:
    """Trains every task in its own process with configs/<task>.yaml and prints the summary table."""
    rows, failed = [], []
    for task in available_tasks():
        run_dir = Path("runs") / task / time.strftime("%Y%m%d-%H%M%S")
        command = [sys.executable, "-m", f"tasks.{task}.train", "--run-dir", str(run_dir), *extra_args]
        config = CONFIGS_DIR / f"{task}.yaml"
        if config.exists():
            command += ["--config", str(config)]
        print(f"\n=== {task}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        seconds = time.perf_counter() - start
        if code == 0 and (run_dir / "metrics.json").exists():
            rows.append(_summary_row(task, run_dir, seconds))
        else:
            failed.append(task)
            rows.append({"task": task, "dataset": None, "metric": "-", "value": None, "baseline": None,
                         "baseline_value": None, "examples_per_second": None, "seconds": seconds,
                         "export": None, "error": f"FAILED (exit {code})"})
    print()
    print_summary(rows)
    Path("runs").mkdir(exist_ok=True)
    Path("runs/summary.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if failed else 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "list":
        for task in available_tasks():
            doc = (importlib.import_module(f"tasks.{task}").__doc__ or "").strip().splitlines()
            print(f"{task:18s} {doc[0] if doc else ''}")
        return 0
    if command == "gradcheck":
        from rnn_layers import gradcheck
        return gradcheck.main(rest) or 0
    if command == "train" and rest[:1] == ["--all"]:
        return train_all(rest[1:])
    if command in ("train", "predict"):
        if not rest or rest[0] not in available_tasks():
            print(f"usage: rnn-tasks {command} <task> ...; tasks: {', '.join(available_tasks())}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"tasks.{rest[0]}.{command}")
        return module.main(rest[1:]) or 0
    print(f"unknown command {command!r}; see rnn-tasks --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
