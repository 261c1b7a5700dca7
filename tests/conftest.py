"""Shared test setup: quiet TensorFlow, and a helper that runs Python in a fresh process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


def run_python(code_or_args, cwd=None, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    """Runs `python -c code` (a str) or `python *args` (a list) in a new process and returns it."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    result = subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
                             f"stderr:\n{result.stderr[-5000:]}")
    return result


@pytest.fixture
def python_subprocess():
    return run_python
