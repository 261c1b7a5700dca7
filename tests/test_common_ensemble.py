"""Seed ensembles: the averaged model's output is the members' mean, members train in their own dirs, and the
members' fits add up."""
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from tasks.common.ensemble import average_models, combined_fit_result, member_run, train_members
from tasks.common.run import Run
from tasks.common.training import FitResult


def small_model(seed: int, name: str) -> keras.Model:
    keras.utils.set_random_seed(seed)
    x = keras.Input(shape=(None, 3), name="exams")
    y = keras.layers.Dense(1, activation="sigmoid")(keras.layers.SimpleRNN(4)(x))
    return keras.Model(x, y, name=name)


def test_average_is_the_mean_of_the_members_outputs():
    members = [small_model(seed, f"member_{seed}") for seed in range(3)]
    ensemble = average_models(members, "ensemble")
    x = np.random.default_rng(0).normal(size=(5, 7, 3)).astype("float32")
    expected = np.mean([member.predict(x, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, rtol=1e-6)
    assert ensemble.inputs[0].shape[1:] == (None, 3)  # any number of steps, as the members take


def test_one_member_is_the_model_itself():
    model = small_model(0, "only")
    assert average_models([model], "ensemble") is model


def test_members_train_in_their_own_dirs(tmp_path: Path):
    run = Run(task="t", config=None, run_dir=tmp_path, strategy=None, worker_dir=tmp_path)
    assert member_run(run, 0, 1) is run  # a single model keeps the run dir's layout
    assert member_run(run, 1, 3).checkpoint_dir == tmp_path / "members" / "1" / "checkpoints"
    assert member_run(run, 1, 3).run_dir == tmp_path  # metrics.json and the export stay the run's


def test_fit_results_add_up():
    first = FitResult({"loss": [3.0, 2.0]}, 10.0, 100.0, [4.0, 10.0], 2)
    second = FitResult({"loss": [5.0]}, 6.0, 300.0, [6.0], 1)
    combined = combined_fit_result([first, second])
    assert combined.history == {"loss": [3.0, 2.0, 5.0]}
    assert combined.epoch_end_seconds == [4.0, 10.0, 16.0]  # the second member's epochs come after the first's
    assert (combined.train_seconds, combined.epochs_run) == (16.0, 3)
    assert combined.examples_per_second == pytest.approx(300.0)  # median of two: the upper one


def test_train_members_seeds_each_member_in_its_own_dir(tmp_path: Path):
    config = SimpleNamespace(train=SimpleNamespace(seed=7))
    run = Run(task="t", config=config, run_dir=tmp_path, strategy=None, worker_dir=tmp_path)
    calls = []

    def train_member(member, seed):
        draw = float(np.asarray(keras.random.uniform(())))  # drawn after the member's global seed was set
        calls.append((member.worker_dir, seed, draw))
        return f"model{seed}", seed * 10, f"report{seed}"

    models, fits, reports = train_members(run, 2, train_member)
    assert (models, fits, reports) == (["model7", "model8"], [70, 80], ["report7", "report8"])
    assert [(folder, seed) for folder, seed, _ in calls] == [(tmp_path / "members" / "0", 7),
                                                             (tmp_path / "members" / "1", 8)]
    keras.utils.set_random_seed(8)
    assert calls[1][2] == float(np.asarray(keras.random.uniform(())))
    assert train_members(run, 1, lambda member, seed: (member.worker_dir, seed, None))[0] == [tmp_path]
