"""One `fit` for every task: model.fit plus the shared callbacks, timing and best-weights restore."""
from __future__ import annotations

import dataclasses
import json
import logging
import time

import keras
import pandas as pd

from tasks.common.atomic import atomic_write

log = logging.getLogger(__name__)


def make_optimizer(train_config) -> keras.optimizers.Optimizer:
    """Adam with the configured learning rate and global-norm gradient clipping."""
    return keras.optimizers.Adam(learning_rate=train_config.learning_rate, global_clipnorm=train_config.clipnorm)


def compile_model(model: keras.Model, train_config, loss, metrics=(), **kwargs) -> keras.Model:
    """Compiles with the shared optimizer and steps_per_execution (call inside run.strategy.scope())."""
    steps = train_config.steps_per_execution
    if train_config.strategy == "multi_worker" and steps > 1:
        # Keras 3.15's multi-step loop under MultiWorkerMirroredStrategy fails ("You must feed a value for
        # placeholder tensor 'while/cond/Placeholder'"); one step per call works.
        log.info("multi_worker: steps_per_execution %d -> 1", steps)
        steps = 1
    model.compile(optimizer=make_optimizer(train_config), loss=loss, metrics=list(metrics),
                  steps_per_execution=steps, **kwargs)
    return model


@dataclasses.dataclass
class FitResult:
    history: dict  # metric name -> list of per-epoch values, this process's epochs only
    train_seconds: float  # seconds of finished epochs over the whole run, across resumes
    examples_per_second: float  # training examples per second, median over epochs after the first
    epoch_end_seconds: list  # run's training seconds at the end of each epoch in `history`, for time-to-quality
    epochs_run: int


class _EpochTimer(keras.callbacks.Callback):
    """Seconds per finished epoch, kept in `record` (a JSON list) so a resumed run counts the killed process's
    epochs too: epochs_run and train_seconds then cover the whole run, not only the last process."""

    def __init__(self, record):
        super().__init__()
        self.record = record
        try:
            self.earlier = [float(x) for x in json.loads(record.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            self.earlier = []

    def on_train_begin(self, logs=None):
        self.start, self.durations = time.perf_counter(), []
        self._epoch_start = self.start
        # BackupAndRestore (earlier in the callback list) set the epoch training resumes at; a kill between
        # its save and our record loses that epoch's time, so fill it with the mean of the known ones.
        done = getattr(self.model, "_initial_epoch", None) if self.model is not None else None
        if done is not None:
            known = self.earlier[:done]
            fill = sum(known) / len(known) if known else 0.0
            self.earlier = known + [fill] * (done - len(known))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._epoch_start)
        atomic_write(self.record, json.dumps(self.earlier + self.durations), replace=True)  # the run's own record

    @property
    def ends(self) -> list[float]:
        """Training seconds at the end of each epoch of the whole run (this process's and earlier ones)."""
        total, ends = 0.0, []
        for seconds in self.earlier + self.durations:
            total += seconds
            ends.append(total)
        return ends


def _previous_best(history_csv, monitor: str, mode: str):
    """Best monitored value of epochs finished before a restart, so a resumed run keeps its best checkpoint."""
    try:
        column = pd.read_csv(history_csv)[monitor].dropna()
    except (FileNotFoundError, KeyError, pd.errors.EmptyDataError):
        return None
    if column.empty:
        return None
    return float(column.min() if mode == "min" else column.max())


def fit(model: keras.Model, train_ds, val_ds, run, *, num_examples: int, class_weight=None, callbacks=(),
        monitor: str = "val_loss", mode: str = "min", metric_callbacks=()) -> FitResult:
    """Trains with TensorBoard, best and backup checkpoints, early stopping and NaN guard; restores the best weights.

    `num_examples` is the size of the training split (for examples/second). A killed run restarted with
    the same command continues from its last finished epoch (BackupAndRestore in run.checkpoint_dir).
    `metric_callbacks` add values to each epoch's logs in `on_epoch_end` (e.g. a validation BLEU to
    monitor); they run before the standard callbacks, which read those logs.
    """
    cfg = run.config.train
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    best_path = run.checkpoint_dir / "best.weights.h5"
    history_csv = run.worker_dir / "history.csv"
    done_marker = run.checkpoint_dir / "fit_done.json"
    if done_marker.exists() and best_path.exists():
        # Killed after training (during evaluation or export): training ended, possibly by early stopping,
        # whose state BackupAndRestore does not keep; so do not train on, take the best weights.
        log.info("training of this run already finished (%s); loading its best weights", done_marker)
        model.load_weights(str(best_path))
        return FitResult(**json.loads(done_marker.read_text(encoding="utf-8")))
    timer = _EpochTimer(run.checkpoint_dir / "epoch_seconds.json")
    if cfg.strategy != "default":
        from tasks.common import distribute  # Keras internals patched only when a strategy needs them

        distribute.build_before_fit(model, train_ds, run.strategy)
        distribute.patch_multi_worker_reduce()
    standard = [
        keras.callbacks.BackupAndRestore(str(run.checkpoint_dir / "backup"), double_checkpoint=True,
                                         delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True,
                                        initial_value_threshold=_previous_best(history_csv, monitor, mode)),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir), histogram_freq=cfg.histogram_freq, write_graph=False),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        keras.callbacks.TerminateOnNaN(),
        timer,
    ]
    if cfg.early_stopping_patience:
        standard.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                                      patience=cfg.early_stopping_patience))
    history = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, class_weight=class_weight,
                        callbacks=list(metric_callbacks) + standard + list(callbacks), verbose=cfg.verbose,
                        shuffle=False)  # datasets arrive shuffled by their loaders, seeded
    if best_path.exists():
        model.load_weights(str(best_path))
    else:
        log.warning("no best checkpoint at %s; keeping the last weights", best_path)
    steady = sorted(timer.durations[1:] or timer.durations) or [float("nan")]  # epoch 1 includes tracing
    median = steady[len(steady) // 2]
    train_seconds = timer.ends[-1] if timer.ends else 0.0
    result = FitResult(history={k: [float(v) for v in vs] for k, vs in history.history.items()},
                       train_seconds=train_seconds,
                       examples_per_second=num_examples / median if median else float("nan"),
                       epoch_end_seconds=timer.ends[len(timer.earlier):],  # aligned with this process's history
                       epochs_run=len(timer.ends))
    atomic_write(done_marker, json.dumps(dataclasses.asdict(result)), replace=True)  # never half a marker
    return result
