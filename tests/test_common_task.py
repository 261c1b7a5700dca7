"""The task contract: run_task runs the hooks in the skeleton's order and returns what it wrote; the registry."""
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks import cli
from tasks.common.config import TrainConfig
from tasks.common.task import (QualityBar, Serving, Summary, Task, TaskContractError, TaskData, Trained,
                               run_task, train_task)


@dataclasses.dataclass
class ToyConfig:
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=2, batch_size=8, verbose=0,
                                                                              histogram_freq=0))


class ToyServing(tf.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        return {"probability": self.model(x)}


class Toy(Task):
    """y = [x0 + x1 > 0] from three numbers: small enough to train in a second."""

    name = "toy"
    config_class = ToyConfig
    summary = Summary("accuracy", "majority", QualityBar("val_accuracy", 0.5))

    def __init__(self):
        self.calls = []

    def load_data(self, run):
        self.calls.append("load_data")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(96, 3)).astype("float32")
        y = (x[:, 0] + x[:, 1] > 0).astype("float32")[:, None]
        splits = {"train": (x[:64], y[:64]), "val": (x[64:80], y[64:80]), "test": (x[80:], y[80:])}
        make = lambda split: tf.data.Dataset.from_tensor_slices(splits[split]).batch(8)  # noqa: E731
        return TaskData(dataset="toy", splits=splits, train_ds=make("train"), val_ds=make("val"), num_train=64)

    def build_model(self, run, loaded):
        self.calls.append("build_model")
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    def evaluate(self, run, loaded, trained):
        self.calls.append("evaluate")
        x, y = loaded.splits["test"]
        return {"accuracy": float(np.mean((trained.model.predict(x, verbose=0) > 0.5) == y))}

    def baselines(self, run, loaded, trained):
        self.calls.append("baselines")
        trained.report["baseline_note"] = "the majority class"  # a baseline may add to the training report
        _, y = loaded.splits["test"]
        return {"majority": {"accuracy": float(max(y.mean(), 1 - y.mean()))}}

    def serving(self, run, loaded, trained):
        self.calls.append("serving")
        module = ToyServing(trained.model)
        return Serving(module, {"serving_default": module.serve.get_concrete_function()}, {"note.txt": "toy\n"})

    def report(self, run, loaded, trained, test, baselines, serving):
        self.calls.append("report")
        return {"split_sizes": {name: len(split[0]) for name, split in loaded.splits.items()}}


def toy_args(root: Path) -> list[str]:
    return ["--set", f"train.runs_dir={root / 'runs'}", "--set", f"train.export_dir={root / 'exports'}"]


def test_run_task_runs_the_skeleton_in_order_and_returns_what_it_wrote(tmp_path):
    task = Toy()
    result = train_task(task, toy_args(tmp_path))
    assert task.calls == ["load_data", "build_model", "evaluate", "baselines", "serving", "report"]
    written = json.loads((result.run.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert written == result.metrics
    assert written["task"] == "toy" and written["dataset"] == "toy" and written["epochs_run"] == 2
    assert set(written["test"]) == {"accuracy"} and set(written["baselines"]) == {"majority"}
    assert written["quality_bar"] == {"metric": "val_accuracy", "value": 0.5}
    assert written["split_sizes"] == {"train": 64, "val": 16, "test": 16}
    assert written["baseline_note"] == "the majority class"
    assert Path(written["export"]) == result.export_path and (result.export_path / "assets.extra" / "note.txt").exists()
    assert result.splits is result.loaded.splits and result.model is result.trained.model
    x = result.splits["test"][0]
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"](x=tf.constant(x))
    np.testing.assert_allclose(served["probability"].numpy(), result.model.predict(x, verbose=0), atol=1e-6)


def test_a_quality_bar_that_is_not_a_history_key_is_a_contract_error(tmp_path):
    class Misnamed(Toy):
        summary = Summary("accuracy", "majority", QualityBar("val_acc", 0.5))

    with pytest.raises(TaskContractError, match=r"toy: summary.quality_bar.metric 'val_acc' is not a key of the "
                                                r"training history \['accuracy', 'loss', 'val_accuracy', 'val_loss'\]"):
        train_task(Misnamed(), toy_args(tmp_path))


def test_train_can_be_replaced_reusing_build_and_fit(tmp_path):
    class TwoFits(Toy):  # e.g. an ensemble: each member in a sub-directory of the run, on its own dataset
        def train(self, run, loaded):
            first = self.fit(run, loaded, self.build(run, loaded))
            member_run = dataclasses.replace(run, worker_dir=run.worker_dir / "member_1")
            model = self.build(member_run, loaded)
            second = self.fit(member_run, loaded, model, train_ds=loaded.train_ds.take(2))
            return Trained(model, second, {"fits": 2, "first_epochs": first.epochs_run})

    result = train_task(TwoFits(), toy_args(tmp_path))
    assert result.metrics["fits"] == 2 and result.metrics["first_epochs"] == 2
    assert (result.run.run_dir / "member_1" / "checkpoints" / "best.weights.h5").exists()
    assert (result.run.run_dir / "member_1" / "history.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_the_registry_lists_every_task_package_and_nothing_else():
    tasks_dir = Path(cli.__file__).parent
    packages = {p.parent.name for p in tasks_dir.glob("*/train.py")}
    assert set(cli.TASKS) == packages and cli.available_tasks() == list(cli.TASKS)
    assert cli.TASKS[:2] == ("sentiment_stars", "heart_attack")  # make train's order


@pytest.mark.parametrize("task", cli.TASKS)
def test_every_task_has_a_summary_with_a_typed_quality_bar(task):
    summary = cli.task_summary(task)
    assert isinstance(summary, Summary) and summary.metric and summary.baseline
    assert isinstance(summary.quality_bar, QualityBar) and summary.quality_bar.metric.startswith("val_")


def test_a_task_without_a_required_hook_cannot_be_made():
    class NoExport(Task):
        name, config_class, summary = "no_export", ToyConfig, Summary("accuracy", None)

        def load_data(self, run): ...
        def build_model(self, run, loaded): ...
        def evaluate(self, run, loaded, trained): ...

    with pytest.raises(TypeError, match="abstract methods? .*serving"):
        NoExport()
