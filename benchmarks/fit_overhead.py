"""How far `model.fit` falls below a bare compiled train step, and what closes the gap.

    python -m benchmarks.fit_overhead [--json PATH] [--layer fast|cell] [--repeats N] [--quick]

One model (the lesson's RNN, batch 64, T 30, 128 units -> Dense(1), MSE, Adam), one data
set held in memory, several ways to train it, timed in interleaved repetitions:

- `bare_step`: a `tf.function` of GradientTape + optimizer.apply, called from Python once
  per batch, the batches already in memory as tensors.
- `bare_epoch`: the same step inside one `tf.function` looping over the whole epoch's
  batches (one call per epoch): no Keras, no tf.data, no Python per step; the ceiling.
- `fit_spe1`: `model.fit` on a `tf.data` pipeline, steps_per_execution=1 (the Keras default).
- `fit_spe8`: the same with steps_per_execution=8 (the project's TrainConfig default).
- `fit_spe16`, `fit_spe48`: 16 steps, and the whole epoch, per execution.
- `fit_spe8_nocache`: steps_per_execution=8 but the pipeline re-slices the arrays each epoch.
- `fit_spe8_whole_epoch`: the whole `model.fit(epochs=1)` call: adds fit's own setup.
- `fit_spe8_tensorboard`, `fit_spe8_checkpoints`: the whole call plus TensorBoard with
  weight histograms, or plus BackupAndRestore (double checkpoint) and the best checkpoint.
- `shared_fit`: `tasks.common.training.fit` (what every task calls): steps_per_execution=8
  plus TensorBoard, checkpoints, BackupAndRestore, CSV log and a one-batch validation.

The first seven take sequences per second inside the epoch (its beginning to the end of its
last batch); the others time whole epochs with their epoch-end work, as metrics.json's
examples_per_second does. An epoch here is 48 batches (0.3-1 s), so fixed per-epoch costs
weigh more than in a task's real epochs. Each round of repetitions starts at another variant (rotated),
so that no variant always runs first or after the same neighbour; the table shows medians with the
interquartile range. `--quick` runs 2 repetitions (a check that it works, not a measurement).
"""

import argparse
import os
import statistics
import tempfile
import time
import types
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.machine import machine_info, versions, with_load_after
from benchmarks.report import command_line, write_report

BATCH, STEPS, FEATURES, UNITS = 64, 30, 64, 128
BATCHES_PER_EPOCH = 48


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--layer", choices=("fast", "cell"), default="fast",
                        help="recurrent layer implementation (tasks.common.layers)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repetitions (epochs)")
    parser.add_argument("--quick", action="store_true", help="2 repetitions: does it run")
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="TensorFlow threads"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1")
    return args


def build_model(layer):
    from tasks.common.layers import recurrent_layer

    inputs = keras.Input((STEPS, FEATURES))
    outputs = keras.layers.Dense(1)(recurrent_layer(UNITS, implementation=layer)(inputs))
    return keras.Model(inputs, outputs)


def make_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * BATCHES_PER_EPOCH, STEPS, FEATURES), dtype=np.float32)
    y = x[:, :, 0].mean(axis=1, keepdims=True)
    return x, y


def make_dataset(x, y, cache=True):
    """The pipeline a task builds: slices -> batches, cached after the first epoch, prefetched."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if not cache:
        dataset = dataset.map(lambda a, b: (a, b), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(BATCH, drop_remainder=True)
    if cache:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


class EpochRate:
    """Sequences per second of one more epoch of a training method."""

    def __init__(self):
        self.samples = []

    def median(self):
        return statistics.median(self.samples)

    def quartiles(self):
        return [round(float(q), 1) for q in np.percentile(self.samples, [25, 75])]


class BareStep(EpochRate):
    """GradientTape + optimizer.apply on in-memory batches; `per_call` steps per call."""

    def __init__(self, layer, x, y, per_call):
        super().__init__()
        self.model = build_model(layer)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(self.model.trainable_variables)
        model = self.model

        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            return loss

        @tf.function
        def train_steps(xs, ys):
            loss = tf.constant(0.0)
            for i in tf.range(tf.shape(xs)[0]):
                loss = train_step(xs[i], ys[i])
            return loss

        if per_call == 1:
            self.step = train_step
            self.calls = [(tf.constant(x[i:i + BATCH]), tf.constant(y[i:i + BATCH]))
                          for i in range(0, len(x), BATCH)]
        else:
            self.step = train_steps
            shape = (-1, per_call, BATCH)
            self.calls = list(zip(  # each (per_call, B, T, n), (per_call, B, 1)
                tf.unstack(tf.constant(x.reshape(shape + x.shape[1:]))),
                tf.unstack(tf.constant(y.reshape(shape + y.shape[1:]))),
            ))
        self.epoch(record=False)  # trace

    def epoch(self, record=True):
        start = time.perf_counter()
        for arguments in self.calls:
            loss = self.step(*arguments)
        loss.numpy()
        if record:
            self.samples.append(BATCHES_PER_EPOCH * BATCH / (time.perf_counter() - start))


class BatchSpan(keras.callbacks.Callback):
    """Times each epoch from its beginning to the end of its last batch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()


def tensorboard_callbacks(directory):
    return [keras.callbacks.TensorBoard(str(directory / "tensorboard"), histogram_freq=1,
                                        write_graph=False)]


def checkpoint_callbacks(directory):
    return [keras.callbacks.BackupAndRestore(str(directory / "backup"), double_checkpoint=True,
                                             delete_checkpoint=False),
            keras.callbacks.ModelCheckpoint(str(directory / "best.weights.h5"), monitor="loss",
                                            save_best_only=True, save_weights_only=True)]


class Fit(EpochRate):
    """model.fit for one epoch per call.

    Without `callbacks` the rate is taken inside the epoch (batch span); with them it is the
    whole fit call, epoch-end callbacks included, each call in a fresh directory.
    """

    def __init__(self, layer, x, y, steps_per_execution, cache=True, callbacks=None, workdir=None):
        super().__init__()
        self.model = build_model(layer)
        self.model.compile(keras.optimizers.Adam(1e-3), "mse",
                           steps_per_execution=steps_per_execution)
        self.dataset = make_dataset(x, y, cache)
        self.span = BatchSpan()
        self.callbacks, self.workdir, self.calls = callbacks, workdir, 0
        self.epoch(record=False)  # trace

    def epoch(self, record=True):
        if self.callbacks is None:
            self.model.fit(self.dataset, epochs=1, verbose=0, callbacks=[self.span])
            seconds = self.span.end - self.span.start
        else:
            self.calls += 1
            callbacks = self.callbacks(Path(self.workdir) / f"fit{id(self)}-{self.calls}")
            start = time.perf_counter()
            self.model.fit(self.dataset, epochs=1, verbose=0, callbacks=callbacks)
            seconds = time.perf_counter() - start
        if record:
            self.samples.append(BATCHES_PER_EPOCH * BATCH / seconds)


class SharedFit(EpochRate):
    """tasks.common.training.fit, one epoch per call, in a throwaway run directory."""

    def __init__(self, layer, x, y, workdir):
        super().__init__()
        from tasks.common.config import TrainConfig
        from tasks.common.training import compile_model

        self.model = build_model(layer)
        self.train_config = TrainConfig(epochs=1, verbose=0, early_stopping_patience=0)
        compile_model(self.model, self.train_config, loss="mse")
        self.dataset = make_dataset(x, y)
        self.validation = make_dataset(x[:BATCH], y[:BATCH])
        self.workdir, self.calls = Path(workdir), 0
        self.epoch(record=False)  # trace

    def epoch(self, record=True):
        from tasks.common.training import fit

        self.calls += 1
        run_dir = self.workdir / f"run{self.calls}"  # fresh: BackupAndRestore must not skip epochs
        run = types.SimpleNamespace(config=types.SimpleNamespace(train=self.train_config),
                                    run_dir=run_dir, worker_dir=run_dir,
                                    checkpoint_dir=run_dir / "checkpoints",
                                    tensorboard_dir=run_dir / "tensorboard", is_chief=True)
        start = time.perf_counter()
        fit(self.model, self.dataset, self.validation, run, num_examples=len(self.dataset) * BATCH)
        if record:
            self.samples.append(BATCHES_PER_EPOCH * BATCH / (time.perf_counter() - start))


def main(argv=None):
    args = parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    before, started = machine_info(), time.perf_counter()
    x, y = make_data()
    with tempfile.TemporaryDirectory() as workdir:
        methods = {
            "bare_step": BareStep(args.layer, x, y, per_call=1),
            "bare_epoch": BareStep(args.layer, x, y, per_call=BATCHES_PER_EPOCH),
            "fit_spe1": Fit(args.layer, x, y, steps_per_execution=1),
            "fit_spe8": Fit(args.layer, x, y, steps_per_execution=8),
            "fit_spe16": Fit(args.layer, x, y, steps_per_execution=16),
            "fit_spe48": Fit(args.layer, x, y, steps_per_execution=BATCHES_PER_EPOCH),
            "fit_spe8_nocache": Fit(args.layer, x, y, steps_per_execution=8, cache=False),
            "fit_spe8_whole_epoch": Fit(args.layer, x, y, 8, callbacks=lambda d: [], workdir=workdir),
            "fit_spe8_tensorboard": Fit(args.layer, x, y, 8, callbacks=tensorboard_callbacks,
                                        workdir=workdir),
            "fit_spe8_checkpoints": Fit(args.layer, x, y, 8, callbacks=checkpoint_callbacks,
                                        workdir=workdir),
            "shared_fit": SharedFit(args.layer, x, y, workdir),
        }
        order = list(methods.values())
        for repetition in range(args.repeats):
            shift = repetition % len(order)  # each round starts at another variant: no fixed position
            for method in order[shift:] + order[:shift]:
                method.epoch()
    ceiling = methods["bare_epoch"]
    rows = [{"variant": name, "train_seq_per_s": round(method.median(), 1),
             "train_q1": method.quartiles()[0], "train_q3": method.quartiles()[1],
             "vs_bare_epoch": round(method.median() / ceiling.median(), 3),
             "paired_vs_bare_epoch": round(statistics.median(  # the ratio within each round
                 a / b for a, b in zip(method.samples, ceiling.samples)), 3)}
            for name, method in methods.items()]
    header = (f"layer {args.layer}, batch {BATCH}, T {STEPS}, {UNITS} units, {args.threads} threads, "
              f"{BATCHES_PER_EPOCH} batches per epoch, median (q1-q3) of {args.repeats} rotated rounds")
    lines = [header, f"{'variant':<22}{'train seq/s':>13}{'q1':>10}{'q3':>10}{'x bare_epoch':>14}{'paired':>8}"]
    lines += [f"{r['variant']:<22}{r['train_seq_per_s']:>13}{r['train_q1']:>10}{r['train_q3']:>10}"
              f"{r['vs_bare_epoch']:>14}{r['paired_vs_bare_epoch']:>8}" for r in rows]
    report = {"layer": args.layer, "batch": BATCH, "steps": STEPS, "units": UNITS, "threads": args.threads,
              "repeats": args.repeats, "machine": with_load_after(before), "versions": versions(),
              "seconds": round(time.perf_counter() - started, 1),
              "command": command_line("benchmarks.fit_overhead", argv),
              "rows": rows}
    machine = report["machine"]
    lines.append(f"{machine['cpu_model']}, {machine['usable_cores']} usable cores; load average before "
                 f"{machine['load_average_before']}, after {machine['load_average_after']}; {report['seconds']} s; "
                 f"command: {report['command']}")
    print("\n".join(lines))
    if args.json:
        write_report(args.json, report, "\n".join(lines))


if __name__ == "__main__":
    main()
