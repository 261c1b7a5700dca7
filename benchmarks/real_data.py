"""A task's defaults on your data over several training seeds: the model and every baseline, mean / min / max.

    python -m benchmarks.real_data sentiment_stars --seeds 3 \\
        --set data.source=files --set data.train_path=Train.csv ... [--json results.json]

Each seed is one ordinary training run, `python -m tasks.<task>.train --config configs/<task>.yaml --set ...
--set train.seed=N`, in its own process (nothing carries over from one seed to the next), with its run dir and
export under `--out` (default `runs/real_data/<task>/<timestamp>/`), so `exports/` is left alone. The numbers
are read back from each run's metrics.json: `test` is the model's row and `baselines.<name>` one row per
baseline; nested metrics (a subset's accuracy) appear as dotted names. A baseline that does not depend on the
training seed shows min == max.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tasks.cli import CONFIGS_DIR, available_tasks

MODEL_ROW = "model"  # the name of metrics.json's `test` row in the table


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_data", description=__doc__.split("\n")[0])
    parser.add_argument("task", help="one of: " + ", ".join(available_tasks()))
    parser.add_argument("--config", help="YAML config (default configs/<task>.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override passed to every run, e.g. --set data.path=my.csv (repeatable)")
    parser.add_argument("--seeds", type=int, default=3, help="number of training seeds (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one upwards (default 0)")
    parser.add_argument("--out", help="where the runs go (default runs/real_data/<task>/<timestamp>)")
    parser.add_argument("--json", help="also write the table and every seed's numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.task not in available_tasks():
        parser.error(f"unknown task {args.task!r}; choose one of: {', '.join(available_tasks())}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if any("=" not in item for item in args.overrides):
        parser.error("--set takes KEY=VALUE")
    if any(item.split("=", 1)[0].strip() in ("train.seed", "train.runs_dir", "train.export_dir")
           for item in args.overrides):
        parser.error("train.seed, train.runs_dir and train.export_dir are set by this command (--seeds, --out)")
    return args


def flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a metrics dict as {dotted.name: value}; strings, lists and nulls are left out."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


def rows_of(metrics: dict) -> dict[str, dict[str, float]]:
    """One metrics.json as {row: {metric: value}}: the model's test metrics, then each baseline's."""
    return {MODEL_ROW: flatten(metrics.get("test", {})),
            **{name: flatten(values) for name, values in metrics.get("baselines", {}).items()}}


def summarize(per_seed: list[dict]) -> list[dict]:
    """Rows of {row, metric, mean, min, max, n} over the seeds' metrics.json, in first-seen order."""
    order: dict[tuple[str, str], list[float]] = {}
    for metrics in per_seed:
        for row, values in rows_of(metrics).items():
            for metric, value in values.items():
                order.setdefault((row, metric), []).append(value)
    return [{"row": row, "metric": metric, "mean": statistics.fmean(values), "min": min(values),
             "max": max(values), "n": len(values)} for (row, metric), values in order.items()]


def format_table(summary: list[dict], seeds: list[int]) -> str:
    header = ["model / baseline", "metric", "mean", "min", "max", f"seeds ({len(seeds)})"]
    body = [[s["row"], s["metric"], f"{s['mean']:.4f}", f"{s['min']:.4f}", f"{s['max']:.4f}", str(s["n"])]
            for s in summary]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |"
             for line in [header, ["-" * w for w in widths], *body]]
    return "\n".join(lines)


def train_command(args, seed: int, out: Path) -> list[str]:
    config = args.config or (CONFIGS_DIR / f"{args.task}.yaml")
    overrides = [*args.overrides, f"train.seed={seed}", f"train.runs_dir={out / 'runs'}",
                 f"train.export_dir={out / 'exports'}"]
    return [sys.executable, "-m", f"tasks.{args.task}.train", "--config", str(config),
            "--run-dir", str(out / f"seed-{seed}"), *(arg for item in overrides for arg in ("--set", item))]


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out or Path("runs") / "real_data" / args.task / time.strftime("%Y%m%d-%H%M%S"))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    per_seed, seconds = [], []
    for seed in seeds:
        command = train_command(args, seed, out)
        print(f"=== seed {seed}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        seconds.append(time.perf_counter() - start)
        metrics_file = out / f"seed-{seed}" / "metrics.json"
        if code != 0 or not metrics_file.exists():
            print(f"error: the run for seed {seed} failed (exit {code}); its output is above, "
                  f"its run dir {metrics_file.parent}", file=sys.stderr)
            return 1
        per_seed.append(json.loads(metrics_file.read_text(encoding="utf-8")))
    summary = summarize(per_seed)
    dataset = per_seed[0].get("dataset")
    print(f"\n{args.task} on {dataset}, training seeds {seeds}, {sum(seconds):.0f} s in all")
    print(format_table(summary, seeds))
    if args.json:
        report = {"task": args.task, "dataset": dataset, "seeds": seeds, "overrides": args.overrides,
                  "config": str(args.config or CONFIGS_DIR / f"{args.task}.yaml"), "seconds": seconds,
                  "summary": summary, "per_seed": [rows_of(m) for m in per_seed],
                  "run_dirs": [str(out / f"seed-{seed}") for seed in seeds]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
