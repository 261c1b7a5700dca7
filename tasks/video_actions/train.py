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
from tasks.common.ensemble import average_models, combined_fit_result, member_name, train_members
from tasks.common.errors import DataError
from tasks.common.task import FitSettings, Serving, Task, TaskData, Trained, task_main
from tasks.common.tensorboard import ImageLogger, confusion_matrix_figure, log_figures
from tasks.common.training import compile_model
from tasks.video_actions import SUMMARY, evaluate, plots
from tasks.video_actions.config import Config
from tasks.video_actions.data import Split, VideoData, load_data, make_dataset
from tasks.video_actions.features import extract_features
from tasks.video_actions.model import (ServingModule, attach_backbone, build_backbone, build_model,
                                       frame_features_model)
from tasks.video_actions.sequences import (build_sequence_model, cosine_learning_rate, front_end_stride,
                                           training_plan)

log = logging.getLogger(__name__)


def input_kind(config) -> str:
    """What the model reads; every "features or frames" choice of the task follows from this one answer.

    - "sequences": data.source=features, raw feature sequences: sequences.py's model, `features.*` schedule;
    - "backbone": frames through a frozen keras.applications CNN, its features cached, only the RNN head trains;
    - "frames": frames through the small CNN, trained end to end with the RNN.
    """
    if config.data.source == "features":
        return "sequences"
    return "frames" if config.model.backbone == "small_cnn" else "backbone"


@dataclasses.dataclass
class VideoTaskData(TaskData):
    """The splits (frames, or features) and what training, evaluation and export need beside them."""

    data: VideoData
    fit_split: Split  # what the models are fitted on: data.train, or train + val (features.train_on_val)
    kind: str  # input_kind(config)
    pairs: list  # reversal pairs as class indices
    batch_size: int
    plan: dict | None  # sequences: training_plan (epochs, batch size, repeats, selection); else None
    backbone: keras.Model | None  # the frozen CNN of the "backbone" kind, chained before the head in the export
    speed: dict  # decode and feature-extraction statistics


@dataclasses.dataclass
class VideoTrained(Trained):
    members: list = dataclasses.field(default_factory=list)  # the ensemble's compiled models (one: the model)


def training_dataset(loaded: VideoTaskData, seed: int):
    """The training split shuffled by `seed`; for sequences each epoch passes over it plan["repeats"] times."""
    dataset = make_dataset(loaded.fit_split, loaded.batch_size, shuffle_seed=seed)
    repeats = loaded.plan["repeats"] if loaded.plan else 1
    return dataset.repeat(repeats) if repeats > 1 else dataset  # a new shuffle each pass


def fit_run(run, plan: dict | None):
    """The run members fit in: for sequences, train.* epochs, batch size and rate replaced by the plan's
    (features.*) with no early stopping; train.clipnorm, seed and the dirs still apply."""
    if plan is None:
        return run
    train = dataclasses.replace(run.config.train, epochs=plan["epochs"], batch_size=plan["batch_size"],
                                learning_rate=run.config.features.learning_rate, early_stopping_patience=0)
    return dataclasses.replace(run, config=dataclasses.replace(run.config, train=train))


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


class VideoActions(Task):
    """Frames (or feature sequences) of a clip -> the action; see tasks/video_actions/__init__.py."""

    name = "video_actions"
    config_class = Config
    summary = SUMMARY

    def load_data(self, run) -> VideoTaskData:
        config, kind = run.config, input_kind(run.config)
        data = load_data(config.data)
        for name in ("train", "val", "test"):
            if not len(getattr(data, name)):
                raise DataError(None, None, f"the {name} split of {data.dataset} is empty; add clips or raise "
                                            f"data.{'val' if name == 'val' else 'test'}_fraction")
        if kind == "frames":
            log_figures(run.tensorboard_dir, {"sampled_frames": plots.sampled_frames_figure(data.train,
                                                                                            data.class_names)})
        speed, backbone = {"decode": data.decode}, None
        if kind == "backbone":  # cached-features scheme: the frozen CNN runs once per clip, only the RNN head trains
            with run.strategy.scope():
                backbone = build_backbone(config.model, config.data.frame_size)
            sampling = dict(fps=config.data.fps, num_frames=config.data.num_frames, frame_size=config.data.frame_size)
            data, speed["feature_extraction"] = extract_features(data, backbone, config.data.cache_dir, sampling)
        fit_split = data.train
        if kind == "sequences" and config.features.train_on_val:  # the epoch is chosen on training loss, not val
            fit_split = Split(np.concatenate([data.train.inputs, data.val.inputs]),
                              np.concatenate([data.train.labels, data.val.labels]), data.train.names + data.val.names)
        plan = training_plan(config.features, len(fit_split)) if kind == "sequences" else None
        batch = plan["batch_size"] if plan else config.train.batch_size
        loaded = VideoTaskData(dataset=data.dataset, splits={"train": data.train, "val": data.val, "test": data.test},
                               train_ds=None, val_ds=make_dataset(data.val, batch), num_train=len(fit_split),
                               data=data, fit_split=fit_split, kind=kind, pairs=evaluate.pair_indices(config.data.reversal_pairs,
                                                                                 data.class_names),
                               batch_size=batch, plan=plan, backbone=backbone, speed=speed)
        loaded.train_ds = training_dataset(loaded, config.train.seed)
        return loaded

    def build_model(self, run, loaded: VideoTaskData) -> keras.Model:
        config, data, classes = run.config, loaded.data, len(loaded.data.class_names)
        if loaded.kind == "sequences":  # raw feature sequences: their own model (sequences.py)
            model = build_sequence_model(config.features, classes, loaded.fit_split.inputs,
                                         name=member_name(run, "video_actions_sequences"))
        elif loaded.kind == "backbone":  # the frozen backbone's cached features: the RNN head only
            model = build_model(config.model, classes, feature_dim=data.train.inputs.shape[-1],
                                name=member_name(run, "video_actions"))
        else:
            model = build_model(config.model, classes, frame_size=config.data.frame_size,
                                name=member_name(run, "video_actions"))
        return compile_model(model, config.train, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def callbacks(self, run, loaded: VideoTaskData, model) -> list:
        val, names, plan = loaded.data.val, loaded.data.class_names, loaded.plan

        def val_confusion(epoch):
            predicted = evaluate.predict_classes(model, val.inputs, loaded.batch_size)
            matrix = confusion_matrix(val.labels, predicted, labels=range(len(names)))
            return {"val_confusion_matrix": confusion_matrix_figure(matrix, names, f"validation, epoch {epoch + 1}")}

        callbacks = [ImageLogger(run.tensorboard_dir, val_confusion, every=5)]
        if plan:
            callbacks.append(GradientNormLogger(run.tensorboard_dir, *gradient_sample(loaded),
                                                every=max(1, plan["epochs"] // 10)))
            if run.config.features.schedule == "cosine":
                callbacks.append(keras.callbacks.LearningRateScheduler(
                    cosine_learning_rate(run.config.features.learning_rate, plan["epochs"])))
        elif run.config.train.reduce_lr_patience:
            callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, mode="min",
                                                               patience=run.config.train.reduce_lr_patience))
        return callbacks

    def fit_settings(self, run, loaded: VideoTaskData, model) -> FitSettings:
        # frames: val_loss (accuracy on a few dozen clips ties too often to pick the best epoch). Sequences with
        # selection train_loss: the lowest training loss, near the end of the cosine schedule; a 10-clip val
        # split moves in steps of 0.1 and its loss is noisy, so it picks a lucky epoch as often as a good one.
        selection = loaded.plan["selection"] if loaded.plan else "val_loss"
        return FitSettings(monitor="loss" if selection == "train_loss" else "val_loss")

    def train(self, run, loaded: VideoTaskData) -> VideoTrained:
        """model.ensemble members with seeds seed, seed + 1, ... (tasks/common/ensemble.py), each in its
        own members/<k>/ when there are several; the model evaluated and exported answers their mean."""
        config, count = run.config, run.config.model.ensemble
        monitor = self.fit_settings(run, loaded, None).monitor
        vanishing = {}

        def train_member(member_fit_run, seed: int):
            first = seed == config.train.seed  # member 0: its shuffled dataset is loaded.train_ds; its RNN is pictured
            model = self.build(member_fit_run, loaded)
            if loaded.plan and first:
                vanishing["at_start"] = gradient_picture(model, *gradient_sample(loaded))
            train_ds = loaded.train_ds if first else training_dataset(loaded, seed)
            result = self.fit(member_fit_run, loaded, model, train_ds=train_ds)
            if loaded.plan and first:
                vanishing["at_end"] = gradient_picture(model, *gradient_sample(loaded))
            return model, result, {"seed": seed, "epochs_run": result.epochs_run,
                                   "kept_epoch": kept_epoch(member_fit_run.worker_dir / "history.csv", monitor)}

        members, fits, reports = train_members(fit_run(run, loaded.plan), count, train_member)
        report = {"ensemble_members": count}
        if loaded.plan:  # vanishing_gradient: the first member's RNN, behind its front end
            report["training"] = dict(loaded.plan, members=reports, vanishing_gradient=vanishing,
                                      front_end_stride=front_end_stride(config.features, loaded.data.train.inputs))
        return VideoTrained(average_models(members, "video_actions_ensemble"), combined_fit_result(fits), report,
                            members)

    def evaluate(self, run, loaded: VideoTaskData, trained: VideoTrained) -> dict:
        data = loaded.data
        test, matrix = evaluate.evaluate_order(trained.model, data.test, data.class_names, loaded.pairs,
                                               loaded.batch_size, run.config.train.seed)
        log_figures(run.tensorboard_dir, {"test_confusion_matrix": confusion_matrix_figure(matrix, data.class_names,
                                                                                           "test")},
                    step=trained.fit.epochs_run)
        trained.report["confusion_matrix"] = matrix
        return test

    def baselines(self, run, loaded: VideoTaskData, trained: VideoTrained) -> dict:
        config, data = run.config, loaded.data
        if loaded.kind == "frames":  # the first member's learned per-frame features, built once for the three splits
            features_model = frame_features_model(trained.members[0])
            features_of = lambda x: evaluate.predict_batches(features_model, x, loaded.batch_size)  # noqa: E731
        else:
            features_of = lambda x: x  # noqa: E731
        baselines = {"order_blind": evaluate.order_blind_baseline(features_of, data, loaded.pairs,
                                                                  config.model.baseline_c, config.train.seed)}
        if loaded.kind == "sequences":
            baselines["dtw_1nn"] = evaluate.dtw_1nn_baseline(data, loaded.pairs)
        return baselines

    def serving(self, run, loaded: VideoTaskData, trained: VideoTrained) -> Serving:
        config, data = run.config, loaded.data
        if loaded.kind == "sequences":
            module = ServingModule(trained.model, data.class_names, "features", data.train.inputs.shape[-1:], "float32")
        else:
            model = trained.model if loaded.kind == "frames" else attach_backbone(trained.model, loaded.backbone,
                                                                                  config.data.frame_size)
            module = ServingModule(model, data.class_names, "frames", (config.data.frame_size,) * 2 + (3,), "uint8")
        sampling = dict(fps=config.data.fps, num_frames=config.data.num_frames, frame_size=config.data.frame_size)
        return Serving(module, {"serving_default": module.serve.get_concrete_function()},
                       {"video_actions.json": json.dumps(dict(sampling, class_names=data.class_names), indent=2)})

    def report(self, run, loaded: VideoTaskData, trained, test, baselines, serving) -> dict:
        data = loaded.data
        return dict(class_names=data.class_names,
                    reversal_pairs=[[data.class_names[a], data.class_names[b]] for a, b in loaded.pairs],
                    split_sizes={name: len(split) for name, split in loaded.splits.items()},
                    mean_frames_per_clip=float(evaluate.step_lengths(data.test.inputs).mean()),
                    skipped_files=data.skipped, speed=loaded.speed)


def gradient_sample(loaded: VideoTaskData):
    """The fixed training sample (inputs, labels) the vanishing-gradient logger and picture use."""
    return loaded.data.train.inputs[:64], loaded.data.train.labels[:64]


main = task_main(VideoActions, __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
