"""Kill a training run with SIGKILL mid-way; the same command again resumes it from the last finished epoch."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_sentiment_stars import tiny_args

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 6


@pytest.mark.slow
def test_rerunning_the_same_command_after_sigkill_resumes(tmp_path):
    command = [sys.executable, "-m", "tasks.sentiment_stars.train", *tiny_args(tmp_path),
               "--set", f"train.epochs={EPOCHS}", "--set", "train.early_stopping_patience=0"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = tmp_path / "runs" / "sentiment_stars"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        found = list(runs.glob("*/checkpoints/backup/training_metadata.json"))
        if found and json.loads(found[0].read_text() or "{}").get("epoch", 0) >= 1:
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    (run_dir,) = runs.iterdir()
    assert not (run_dir / "metrics.json").exists()
    done_before = json.loads((run_dir / "checkpoints/backup/training_metadata.json").read_text())["epoch"]
    assert 1 <= done_before < EPOCHS

    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming run dir" in second.stderr
    assert [p.name for p in runs.iterdir()] == [run_dir.name]  # same run dir, no new one
    history = pd.read_csv(run_dir / "history.csv")
    resumed_epochs = history.epoch.tolist()[-(EPOCHS - done_before):]
    assert resumed_epochs == list(range(done_before, EPOCHS))  # continued, did not start again at 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == EPOCHS  # the whole run, the killed process's epochs included
