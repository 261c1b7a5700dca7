"""Train the video_actions RNN: `python -m tasks.video_actions.train --config configs/video_actions.yaml`."""
from __future__ import annotations

import dataclasses
import json
import logging

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from rnn_layers.vanishing import GradientNormLogger, state_gradient_norms

from tasks.common.export import export_saved_model
from tasks.common.errors import DataError
from tasks.common.metrics import write_metrics
from tasks.common.run import main_guard, start_run
from tasks.common.tensorboard import ImageLogger, confusion_matrix_figure, log_figures
from tasks.common.training import compile_model, fit
from tasks.video_actions import SUMMARY, evaluate, plots
from tasks.video_actions.config import Config
from tasks.video_actions.data import load_data, to_tf_dataset
from tasks.video_actions.features import extract_features
from tasks.video_actions.model import (ServingModule, attach_backbone, build_backbone, build_model,
                                       frame_features_model)
from tasks.video_actions.sequences import (build_sequence_model, cosine_learning_rate, front_end_stride,
                                           training_model, training_plan)

log = logging.getLogger(__name__)


def sequences_fit_settings(run, num_train: int):
    """data.source=features: the run with features.* epochs (no early stopping), the monitor, the plan."""
    plan = training_plan(run.config.features, num_train)
    train = dataclasses.replace(run.config.train, epochs=plan["epochs"], batch_size=plan["batch_size"],
                                learning_rate=run.config.features.learning_rate, early_stopping_patience=0)
    fit_run = dataclasses.replace(run, config=dataclasses.replace(run.config, train=train))
    # train_loss: the lowest training loss, i.e. near the end of the schedule; a 10-clip val split moves in
    # steps of 0.1 and its loss is noisy, so it picks a lucky epoch as often as a good one (docs' table).
    return fit_run, "loss" if plan["selection"] == "train_loss" else "val_loss", plan


def kept_epoch(history_csv, monitor: str) -> int | None:
    """1-based epoch whose weights fit() kept (lowest `monitor`), over the whole run's history.csv.

    Not from fit()'s history: after a resume that holds only the last process's epochs, so its argmin
    counted from the resumed epoch, not from 1. An epoch a killed process logged and the next one redid
    appears twice in the CSV; its last row counts. None when no epoch logged `monitor`.
    """
    try:
        history = pd.read_csv(history_csv)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None
    if monitor not in history or "epoch" not in history:
        return None
    history = history.drop_duplicates("epoch", keep="last").dropna(subset=[monitor])
    return None if history.empty else int(history.loc[history[monitor].idxmin(), "epoch"]) + 1


def gradient_picture(model, inputs, labels) -> dict:
    """||dL/ds_t|| of the RNN on a training sample: the first step's, the last's and their ratio."""
    norms = state_gradient_norms(model, inputs, labels)
    return {"first_step": float(norms[0]), "last_step": float(norms[-1]),
            "first_over_last": float(norms[0] / max(norms[-1], 1e-30)), "steps": len(norms)}


@main_guard
def main(argv=None):
    run = start_run("video_actions", Config, argv, __doc__)
    config, seed, batch = run.config, run.config.train.seed, run.config.train.batch_size
    data = load_data(config.data, seed)
    for name in ("train", "val", "test"):
        if not len(getattr(data, name)):
            raise DataError(None, None, f"the {name} split of {data.dataset} is empty; add clips or raise "
                                        f"data.{'val' if name == 'val' else 'test'}_fraction")
    pairs = evaluate.pair_indices(config.data.reversal_pairs, data.class_names)
    sampling = dict(fps=config.data.fps, num_frames=config.data.num_frames, frame_size=config.data.frame_size)
    if data.kind == "frames":
        log_figures(run.tensorboard_dir, {"sampled_frames": plots.sampled_frames_figure(data.train, data.class_names)})

    fit_run, monitor, plan = run, "val_loss", None
    if config.data.source == "features":
        fit_run, monitor, plan = sequences_fit_settings(run, len(data.train))
        batch = plan["batch_size"]
    frozen = data.kind == "frames" and config.model.backbone != "small_cnn"
    speed = {"decode": data.decode}
    with run.strategy.scope():
        backbone = build_backbone(config.model, config.data.frame_size) if frozen else None
        if frozen:  # cached-features scheme: the frozen CNN runs once per clip, only the RNN head trains
            data, speed["feature_extraction"] = extract_features(data, backbone, config.data.cache_dir, sampling)
        if config.data.source == "features":  # raw feature sequences: their own model (sequences.py)
            model = build_sequence_model(config.features, len(data.class_names), data.train.inputs)
        elif data.kind == "features":  # a frozen backbone's cached features: the RNN head only
            model = build_model(config.model, len(data.class_names), feature_dim=data.train.inputs.shape[-1])
        else:
            model = build_model(config.model, len(data.class_names), frame_size=config.data.frame_size)
        compile_model(model, fit_run.config.train, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        fitted = training_model(model) if config.data.source == "features" else model  # an ensemble: its members
        if fitted is not model:  # same weights; `model` (the members' mean) is what is evaluated and exported
            compile_model(fitted, fit_run.config.train, loss="sparse_categorical_crossentropy")
    members = len(fitted.outputs)

    def val_confusion(epoch):
        predicted = evaluate.predict_classes(model, data.val.inputs, batch)
        matrix = confusion_matrix(data.val.labels, predicted, labels=range(len(data.class_names)))
        return {"val_confusion_matrix": confusion_matrix_figure(matrix, data.class_names, f"validation, epoch {epoch + 1}")}

    callbacks = [ImageLogger(run.tensorboard_dir, val_confusion, every=5)]
    if plan:
        sample = data.train.inputs[:64], data.train.labels[:64]
        targets = sample[1] if members == 1 else [sample[1]] * members  # the logger runs the fitted model
        callbacks.append(GradientNormLogger(run.tensorboard_dir, sample[0], targets, every=max(1, plan["epochs"] // 10)))
        vanishing = {"at_start": gradient_picture(model, *sample)}
        if config.features.schedule == "cosine":
            callbacks.append(keras.callbacks.LearningRateScheduler(
                cosine_learning_rate(config.features.learning_rate, plan["epochs"])))
    elif config.train.reduce_lr_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, mode="min",
                                                           patience=config.train.reduce_lr_patience))
    # frames: monitor val_loss (fit's default): accuracy on a few dozen clips ties too often to pick the best epoch
    train_ds, val_ds = to_tf_dataset(data.train, batch, shuffle=True, seed=seed), to_tf_dataset(data.val, batch)
    if plan and plan["repeats"] > 1:
        train_ds = train_ds.repeat(plan["repeats"])  # a new shuffle each pass
    if members > 1:  # one copy of the labels per member
        train_ds, val_ds = (ds.map(lambda x, y: (x, (y,) * members)) for ds in (train_ds, val_ds))
    result = fit(fitted, train_ds, val_ds,
                 fit_run, num_examples=len(data.train), callbacks=callbacks, monitor=monitor)
    extra = {}
    if plan:
        vanishing["at_end"] = gradient_picture(model, *sample)
        extra["training"] = dict(plan, epochs_run=result.epochs_run,
                                 kept_epoch=kept_epoch(run.worker_dir / "history.csv", monitor),
                                 front_end_stride=front_end_stride(config.features, data.train.inputs),
                                 vanishing_gradient=vanishing)

    test, matrix = evaluate.evaluate_order(model, data.test, data.class_names, pairs, batch, seed)
    log_figures(run.tensorboard_dir, {"test_confusion_matrix": confusion_matrix_figure(matrix, data.class_names, "test")},
                step=result.epochs_run)
    if data.kind == "features":
        features_of = lambda x: x  # noqa: E731
    else:
        features_model = frame_features_model(model)  # built once for the three splits
        features_of = lambda x: evaluate.predict_batches(features_model, x, batch)  # noqa: E731
    baselines = {"order_blind": evaluate.order_blind_baseline(features_of, data, pairs, config.model.baseline_c, seed)}
    if config.data.source == "features":
        baselines["dtw_1nn"] = evaluate.dtw_1nn_baseline(data, pairs)

    exported = attach_backbone(model, backbone, config.data.frame_size) if frozen else model
    if config.data.source == "features":
        serving = ServingModule(exported, data.class_names, "features", data.train.inputs.shape[-1:], "float32")
    else:
        serving = ServingModule(exported, data.class_names, "frames", (config.data.frame_size,) * 2 + (3,), "uint8")
    export_path = export_saved_model(serving, run, {"serving_default": serving.serve.get_concrete_function()},
                                     assets={"video_actions.json": json.dumps(
                                         dict(sampling, class_names=data.class_names), indent=2)})
    metrics = write_metrics(run, dataset=data.dataset, test=test, baselines=baselines, fit_result=result,
                            export_path=export_path, quality_bar=SUMMARY["quality_bar"], class_names=data.class_names,
                            reversal_pairs=[[data.class_names[a], data.class_names[b]] for a, b in pairs],
                            split_sizes={k: len(getattr(data, k)) for k in ("train", "val", "test")},
                            mean_frames_per_clip=float(np.mean(evaluate.step_lengths(data.test.inputs))),
                            skipped_files=data.skipped, speed=speed, confusion_matrix=matrix, **extra)
    log.info("test accuracy %.3f (reversal pairs %s, shuffled frames %s) | order-blind %s | export %s",
             metrics["test"]["accuracy"], metrics["test"]["reversal_pairs_accuracy"],
             metrics["test"]["shuffled_frames_accuracy"], metrics["baselines"]["order_blind"]["accuracy"], export_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
