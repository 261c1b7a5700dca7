"""The task contract: what a task fills in, and `run_task`, the one skeleton that runs every task.

A task is a `Task` subclass in `tasks/<task>/train.py`. `run_task(task, run)` owns the order:

    load_data -> train (build + compile under the strategy, callbacks, fit) -> evaluate (test metrics)
    -> baselines -> serving module + assets -> export -> report -> metrics.json

and returns a `TaskResult` (metrics, the Keras model, the export path, the splits), so tests and notebooks
use what the run produced instead of reloading it from disk. A task overrides only the hooks it needs:
`build_model`, `evaluate` and `serving` are required; `train` has a default (one model, one `fit`) that a
task with several fits (an ensemble, a warm start it may return to) replaces, reusing `build` and `fit`.

TensorFlow is imported inside the functions that need it: a task's `__init__.py` declares its `Summary`
from here, and `rnn-tasks list` should not wait for TensorFlow to load.
"""
from __future__ import annotations

import abc
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from tasks.common.run import Run, main_guard, start_run

if TYPE_CHECKING:
    import keras

    from tasks.common.training import FitResult

log = logging.getLogger(__name__)


class TaskContractError(RuntimeError):
    """A task does not keep the contract (a bug in the task, not in the user's data or config)."""


@dataclasses.dataclass(frozen=True)
class QualityBar:
    """A validation metric of the Keras history and the value `make train` reports the seconds to reach."""

    metric: str  # a key of model.fit's history, e.g. "val_accuracy"; checked after fit
    value: float  # the bar; reached when the metric is >= value


@dataclasses.dataclass(frozen=True)
class Summary:
    """What `make train`'s summary table shows for a task."""

    metric: str  # the headline test metric (a key of metrics.json's "test")
    baseline: str | None  # the baseline printed beside it (a key of metrics.json's "baselines")
    quality_bar: QualityBar | None = None  # seconds to a useful model; None: not reported


@dataclasses.dataclass
class TaskData:
    """What `load_data` returns; a task subclasses it to carry what its later hooks need."""

    dataset: str  # metrics.json "dataset": "builtin_grammar", a file name, a TFDS name
    splits: dict[str, Any]  # "train", "val", "test" -> the task's split objects (frames, arrays, ...)
    train_ds: Any  # tf.data.Dataset of the training split, shuffled by its seed
    val_ds: Any  # tf.data.Dataset of the validation split, in order
    num_train: int  # training examples, for examples/second


@dataclasses.dataclass
class Trained:
    """What `train` returns: the model to evaluate and export, and how its training went."""

    model: keras.Model
    fit: FitResult
    # Extra metrics.json fields about training; written after the baselines, which may add their own.
    report: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FitSettings:
    """How `fit` selects and weighs: the monitored metric and its direction, class weights, metric callbacks."""

    monitor: str = "val_loss"  # the checkpoint and early-stopping metric
    mode: str = "min"  # "min" or "max" for `monitor`
    class_weight: dict | None = None
    metric_callbacks: tuple = ()  # callbacks that add `monitor` to the epoch logs (run before the others)


@dataclasses.dataclass
class Serving:
    """The module `export_saved_model` writes: a tf.Module, its named signatures, files for assets.extra/."""

    module: Any
    signatures: dict
    assets: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TaskResult:
    """What a run produced, for callers in Python (tests, notebooks, benchmarks)."""

    run: Run  # where it was written: run.run_dir, run.config
    metrics: dict  # the content of metrics.json
    model: keras.Model  # the trained model, best weights restored
    export_path: Any  # the SavedModel version directory (None on a non-chief worker)
    splits: dict[str, Any]  # the task's splits as load_data made them
    loaded: TaskData
    trained: Trained
    serving: Serving  # the in-process serving module, the same one that was exported


class Task(abc.ABC):
    """The contract of a task. Subclasses set the three class attributes and implement the abstract hooks."""

    name: ClassVar[str]  # the package name under tasks/, the run dir's and the export's folder
    config_class: ClassVar[type]  # the task's Config dataclass (tasks/<task>/config.py)
    summary: ClassVar[Summary]

    @abc.abstractmethod
    def load_data(self, run: Run) -> TaskData:
        """Reads (or writes, for the built-in data) the splits and makes the datasets."""

    @abc.abstractmethod
    def build_model(self, run: Run, loaded: TaskData) -> keras.Model:
        """Builds and compiles the model; `build` calls it inside run.strategy.scope()."""

    def callbacks(self, run: Run, loaded: TaskData, model: keras.Model) -> list:
        """Task callbacks for fit, beside the shared ones (TensorBoard images, samples)."""
        return []

    def fit_settings(self, run: Run, loaded: TaskData, model: keras.Model) -> FitSettings:
        return FitSettings()

    def build(self, run: Run, loaded: TaskData) -> keras.Model:
        """`build_model` under the run's distribution strategy."""
        with run.strategy.scope():
            return self.build_model(run, loaded)

    def fit(self, run: Run, loaded: TaskData, model: keras.Model, callbacks=(),
            settings: FitSettings | None = None, train_ds=None) -> FitResult:
        """The shared `fit` with this task's callbacks (and `callbacks`), its settings (or `settings`), on
        loaded.train_ds (or `train_ds`: an ensemble member's own shuffling)."""
        from tasks.common.training import fit

        settings = settings or self.fit_settings(run, loaded, model)
        return fit(model, loaded.train_ds if train_ds is None else train_ds, loaded.val_ds, run, num_examples=loaded.num_train,
                   class_weight=settings.class_weight, callbacks=[*self.callbacks(run, loaded, model), *callbacks],
                   monitor=settings.monitor, mode=settings.mode, metric_callbacks=settings.metric_callbacks)

    def train(self, run: Run, loaded: TaskData) -> Trained:
        """One model, one fit; override for several fits, reusing `build` and `fit`."""
        model = self.build(run, loaded)
        return Trained(model, self.fit(run, loaded, model))

    @abc.abstractmethod
    def evaluate(self, run: Run, loaded: TaskData, trained: Trained) -> dict:
        """The model's metrics on the test split: metrics.json "test"."""

    def baselines(self, run: Run, loaded: TaskData, trained: Trained) -> dict[str, dict]:
        """{name: metrics} of what a user would try first, on the same test split."""
        return {}

    @abc.abstractmethod
    def serving(self, run: Run, loaded: TaskData, trained: Trained) -> Serving:
        """The export: raw inputs in, named outputs out, preprocessing inside the graph."""

    def report(self, run: Run, loaded: TaskData, trained: Trained, test: dict, baselines: dict,
               serving: Serving) -> dict:
        """Extra metrics.json fields (split sizes, what the loader skipped, samples)."""
        return {}


def check_quality_bar(task: Task, history: dict) -> None:
    """A quality bar must name a metric of the history; a typo would report "never reached" forever."""
    bar = task.summary.quality_bar
    if bar is not None and history and bar.metric not in history:
        raise TaskContractError(f"{task.name}: summary.quality_bar.metric {bar.metric!r} is not a key of the "
                                f"training history {sorted(history)}")


def run_task(task: Task, run: Run) -> TaskResult:
    """Runs one task from data to metrics.json (see the module docstring) and returns what it produced."""
    from tasks.common.export import export_saved_model
    from tasks.common.metrics import write_metrics

    loaded = task.load_data(run)
    trained = task.train(run, loaded)
    check_quality_bar(task, trained.fit.history)
    test = task.evaluate(run, loaded, trained)
    baselines = task.baselines(run, loaded, trained)
    serving = task.serving(run, loaded, trained)
    export_path = export_saved_model(serving.module, run, serving.signatures, assets=serving.assets)
    bar = task.summary.quality_bar
    metrics = write_metrics(run, dataset=loaded.dataset, test=test, baselines=baselines, fit_result=trained.fit,
                            export_path=export_path, quality_bar=None if bar is None else (bar.metric, bar.value),
                            **trained.report, **task.report(run, loaded, trained, test, baselines, serving))
    log.info("test %s | baselines %s | export %s", metrics["test"], metrics["baselines"], export_path)
    return TaskResult(run=run, metrics=metrics, model=trained.model, export_path=export_path, splits=loaded.splits,
                      loaded=loaded, trained=trained, serving=serving)


def train_task(task: Task, argv=None, description: str | None = None) -> TaskResult:
    """Command line (or a list of its arguments) -> run dir -> `run_task`: what tests and notebooks call."""
    return run_task(task, start_run(task.name, task.config_class, argv, description))


def task_main(task_class: type[Task], description: str | None = None):
    """The `main(argv)` of a task's train module: one clear line and exit 2 on a config or data error."""

    @main_guard
    def main(argv=None):
        train_task(task_class(), argv, description)
        return 0

    return main
