"""Two workers on localhost train sentiment_stars with MultiWorkerMirroredStrategy (TF_CONFIG).

The chief (worker 0) writes the run dir, metrics.json and the export as a single-process run
does; worker 1 writes only under workers/worker-1/. Synchronous training means both end with
the same weights, which their best checkpoints show.
"""
import json
import os
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tasks.sentiment_stars import data

WORKERS = 2
TIMEOUT_SECONDS = 900


def free_loopback_ports(count):
    """Ports free on 127.0.0.1 now; the sockets are held together so the ports differ."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tiny_settings(root):
    settings = {
        "data.builtin_dir": root / "data", "data.builtin_train_size": 256, "data.builtin_val_size": 64,
        "data.builtin_test_size": 64, "model.rnn_units": 8, "model.embedding_dim": 8,
        "model.max_tokens": 1000, "model.max_length": 32, "train.epochs": 2, "train.batch_size": 32,
        "train.runs_dir": root / "runs", "train.export_dir": root / "exports", "train.verbose": 0,
        "train.histogram_freq": 0, "gradient_norm_every": 0,
    }
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


def checkpoint_arrays(path):
    """Every weight array in a Keras .weights.h5 file, by its path inside the file."""
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_worker")
    args = tiny_settings(root)
    # Generate the corpus once up front: two workers generating it at once would race.
    config = data.DataConfig(builtin_dir=str(root / "data"), builtin_train_size=256,
                             builtin_val_size=64, builtin_test_size=64)
    data.ensure_builtin(config)
    run_dir = root / "run"
    addresses = [f"127.0.0.1:{port}" for port in free_loopback_ports(WORKERS)]
    processes = []
    for index in range(WORKERS):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2",
               "RNN_TASKS_DEBUG": "1",  # a traceback in the worker log when it fails
               "CUDA_VISIBLE_DEVICES": ""}
        log = open(root / f"worker-{index}.log", "w", encoding="utf-8")
        command = [sys.executable, "-m", "tasks.sentiment_stars.train", "--strategy", "multi_worker",
                   "--run-dir", str(run_dir), *args]
        processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        for process, _ in processes:
            process.wait(timeout=TIMEOUT_SECONDS)
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    for index, (process, _) in enumerate(processes):
        if process.returncode != 0:
            output = (root / f"worker-{index}.log").read_text(encoding="utf-8")
            pytest.fail(f"worker {index} exited {process.returncode}:\n{output[-6000:]}")
    return root, run_dir


@pytest.mark.slow
def test_chief_writes_the_usual_run_dir_and_one_export(cluster_run):
    root, run_dir = cluster_run
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"] == "sentiment_stars" and metrics["epochs_run"] == 2
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "best.weights.h5").is_file()
    assert (run_dir / "tensorboard").is_dir()
    exports = root / "exports" / "sentiment_stars"
    assert sorted(path.name for path in exports.iterdir()) == ["1"]  # worker 1 exported to scratch
    assert metrics["export"] == str(exports / "1")
    loaded = tf.saved_model.load(str(exports / "1"))
    answer = loaded.signatures["serving_default"](text=tf.constant(["ứng dụng tốt"]))
    assert 1 <= int(answer["stars"][0]) <= 5


@pytest.mark.slow
def test_the_other_worker_writes_only_under_its_own_directory(cluster_run):
    _, run_dir = cluster_run
    worker_dir = run_dir / "workers" / "worker-1"
    assert (worker_dir / "checkpoints" / "best.weights.h5").is_file()
    assert not (worker_dir / "metrics.json").exists()
    assert not list(worker_dir.glob("export-*"))  # its scratch export is removed


@pytest.mark.slow
def test_both_workers_end_with_the_same_weights(cluster_run):
    _, run_dir = cluster_run
    chief = checkpoint_arrays(run_dir / "checkpoints" / "best.weights.h5")
    other = checkpoint_arrays(run_dir / "workers" / "worker-1" / "checkpoints" / "best.weights.h5")
    assert chief.keys() == other.keys() and len(chief) >= 5  # embedding, 2 x (U, W, b), dense...
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
