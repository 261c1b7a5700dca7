"""Train the sentiment_stars RNN: `python -m tasks.sentiment_stars.train --config configs/sentiment_stars.yaml`."""
from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

from rnn_layers.vanishing import GradientNormLogger
from tasks.common.ensemble import average_models, combined_fit_result, member_name, train_members
from tasks.common.task import FitSettings, Serving, Task, TaskData, Trained, task_main
from tasks.common.tensorboard import ImageLogger, log_figures
from tasks.common.training import compile_model
from tasks.sentiment_stars import SUMMARY, data, evaluate
from tasks.sentiment_stars.config import Config
from tasks.sentiment_stars.decision import MacroF1, MeanStarError, decide
from tasks.sentiment_stars.model import (ServingModule, TextFeatures, build_models, fit_text_features, residual_model,
                                         wide_logits)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SentimentData(TaskData):
    """The splits plus what every ensemble member shares: vocabulary and wide path, fitted once on train."""

    skipped: dict  # bad rows skipped per file (on_bad_row: skip)
    features: TextFeatures
    val_wide: np.ndarray | None  # the frozen regression's logits of the validation reviews (warm start), else None
    class_weight: dict | None


class SentimentStars(Task):
    """Review text -> 1..5 stars; see tasks/sentiment_stars/__init__.py."""

    name = "sentiment_stars"
    config_class = Config
    summary = SUMMARY

    def load_data(self, run) -> SentimentData:
        config = run.config
        splits = data.load_data(config.data)
        batch, seed = config.train.batch_size, config.train.seed
        features = text_features(config, splits)
        val_wide = wide_logits(features, splits.val.text) if features.warm_started else None
        return SentimentData(
            dataset=splits.name, splits={"train": splits.train, "val": splits.val, "test": splits.test},
            train_ds=data.make_dataset(splits.train, batch, shuffle=True, seed=seed, wide_logits=features.train_logits),
            val_ds=data.make_dataset(splits.val, batch, shuffle=False, seed=seed, wide_logits=val_wide),
            num_train=len(splits.train), skipped=splits.skipped, features=features, val_wide=val_wide,
            class_weight=data.class_weights(splits.train) if config.model.class_weighting else None)

    def build_pair(self, run, loaded: SentimentData) -> tuple[keras.Model, keras.Model]:
        """(serving model, compiled training model) sharing every weight, under the run's strategy; the
        training model also reads the held-out regression logits when the wide path is warm-started."""
        config = run.config
        with run.strategy.scope():
            model, trainer = build_models(config.model, loaded.features, member_name(run, "sentiment_stars"))
            compile_model(trainer, config.train, loss="sparse_categorical_crossentropy",
                          metrics=["accuracy", MacroF1(config.model.decision), MeanStarError(config.model.decision)])
        return model, trainer

    def build_model(self, run, loaded: SentimentData) -> keras.Model:
        """The training model (`train` uses `build_pair`, which also returns the serving model)."""
        return self.build_pair(run, loaded)[1]

    def train(self, run, loaded: SentimentData) -> Trained:
        """`model.ensemble` members (seeds seed, seed + 1, ...); the model served averages their probabilities."""
        members, fits, selected = train_members(run, run.config.model.ensemble,
                                                lambda member, seed: self._train_member(member, loaded, seed))
        return Trained(average_models(members, "sentiment_stars_ensemble"), combined_fit_result(fits),
                       {"selected_weights": selected, "member_epochs": [result.epochs_run for result in fits]})

    def _train_member(self, run, loaded: SentimentData, seed: int):
        """Fits one member; returns (serving model, FitResult, which weights were kept).

        A warm-started member begins as the frozen linear model and trains on held-out wide logits; unless the
        trained weights beat that start on validation (`keep_trained`), the start weights are kept.
        """
        config, val = run.config, loaded.splits["val"]
        decision, monitor = config.model.decision, config.model.monitor
        model, trainer = self.build_pair(run, loaded)
        settings = FitSettings(monitor=monitor, mode="min" if monitor in ("val_loss", "val_mae_stars") else "max",
                               class_weight=loaded.class_weight)
        warm = loaded.features.warm_started
        if warm:
            start_weights, start_scores = trainer.get_weights(), val_scores(trainer, val, loaded.val_wide, decision)
        train_ds = (loaded.train_ds if seed == config.train.seed  # the first member shuffles as load_data did
                    else data.make_dataset(loaded.splits["train"], config.train.batch_size, shuffle=True, seed=seed,
                                           wide_logits=loaded.features.train_logits))
        result = self.fit(run, loaded, trainer, callbacks=self._member_callbacks(run, loaded, model, trainer),
                          settings=settings, train_ds=train_ds)
        kept = "trained"
        if warm:
            scores = val_scores(trainer, val, loaded.val_wide, decision)
            log.info("%s: start / trained on validation: %s %.4f / %.4f, stars %.4f / %.4f", model.name, monitor,
                     start_scores[monitor], scores[monitor], start_scores["val_stars"], scores["val_stars"])
            if not keep_trained(start_scores, scores, monitor, settings.mode):
                trainer.set_weights(start_weights)  # the trained weights did not beat the linear start on validation
                trainer.save_weights(run.checkpoint_dir / "best.weights.h5")  # the checkpoint holds what is exported
                kept, scores = "linear_start", start_scores
            if config.model.residual_epochs:
                residual, kept = self._fit_residual(run, loaded, model, trainer, train_ds, settings, scores, kept)
                result = combined_fit_result([result, residual])
            log.info("%s: kept the %s weights", model.name, kept)
        return model, result, kept

    def _fit_residual(self, run, loaded: SentimentData, model, trainer, train_ds, settings: FitSettings,
                      scores: dict, kept: str):
        """The residual phase (`model.residual_epochs`): from the weights kept so far, the RNN trains on every
        review's held-out wide logits (`residual_model`, nothing hidden), at `model.residual_learning_rate`, in
        its own folder `residual/` (checkpoints, history, TensorBoard). Its best epoch replaces those weights
        only if it beats them on validation (`keep_trained`). Returns (FitResult, what was kept).
        """
        config = run.config
        phase_train = dataclasses.replace(config.train, epochs=config.model.residual_epochs,
                                          learning_rate=config.model.residual_learning_rate)
        phase = dataclasses.replace(run, worker_dir=run.worker_dir / "residual",
                                    config=dataclasses.replace(config, train=phase_train))
        before = trainer.get_weights()
        with run.strategy.scope():
            residual = residual_model(model)
            compile_model(residual, phase_train, loss="sparse_categorical_crossentropy",
                          metrics=["accuracy", MacroF1(config.model.decision), MeanStarError(config.model.decision)])
        result = self.fit(phase, loaded, residual, callbacks=self._member_callbacks(phase, loaded, model, residual),
                          settings=settings, train_ds=train_ds)
        after = val_scores(trainer, loaded.splits["val"], loaded.val_wide, config.model.decision)
        log.info("%s: %s / residual on validation: %s %.4f / %.4f, stars %.4f / %.4f", model.name, kept,
                 settings.monitor, scores[settings.monitor], after[settings.monitor], scores["val_stars"],
                 after["val_stars"])
        if keep_trained(scores, after, settings.monitor, settings.mode):
            trainer.save_weights(run.checkpoint_dir / "best.weights.h5")  # the checkpoint holds what is exported
            return result, f"{kept}+residual"
        trainer.set_weights(before)
        return result, kept

    def _member_callbacks(self, run, loaded: SentimentData, model, trainer) -> list:
        """The validation confusion matrix each epoch and, every `gradient_norm_every` epochs, ||dL/ds_t||."""
        config, val = run.config, loaded.splits["val"]

        def val_confusion(epoch):
            predicted = evaluate.predict_stars(model, val.text, config.model.decision)
            return {"val_confusion_matrix": evaluate.confusion_figure(val.stars, predicted,
                                                                      f"validation, epoch {epoch + 1}")}

        callbacks = [ImageLogger(run.tensorboard_dir, val_confusion)]
        if config.gradient_norm_every:
            sample = tf.constant(val.text.tolist()[:64])
            inputs = sample if loaded.val_wide is None else [sample, tf.constant(loaded.val_wide[:64])]
            callbacks.append(GradientNormLogger(run.tensorboard_dir, inputs, tf.constant(val.stars.to_numpy()[:64] - 1),
                                                every=config.gradient_norm_every))
        return callbacks

    def evaluate(self, run, loaded: SentimentData, trained: Trained) -> dict:
        test = loaded.splits["test"]
        predicted = evaluate.predict_stars(trained.model, test.text, run.config.model.decision)
        log_figures(run.tensorboard_dir, {"test_confusion_matrix": evaluate.confusion_figure(
            test.stars, predicted, "test")}, step=trained.fit.epochs_run)
        return evaluate.star_metrics(test.stars, predicted, test.order_dependent)

    def baselines(self, run, loaded: SentimentData, trained: Trained) -> dict:
        config, train, test = run.config, loaded.splits["train"], loaded.splits["test"]
        return {"bag_of_words": evaluate.bag_of_words_baseline(train, test, config.train.seed,
                                                               config.model.class_weighting),
                "tfidf_logistic": evaluate.tfidf_logistic_baseline(train, test, config.train.seed)}

    def serving(self, run, loaded: SentimentData, trained: Trained) -> Serving:
        module = ServingModule(trained.model, run.config.model.decision)
        return Serving(module, {"serving_default": module.serve.get_concrete_function()})

    def report(self, run, loaded: SentimentData, trained, test, baselines, serving) -> dict:
        return {"skipped_rows": loaded.skipped,
                "split_sizes": {name: len(split) for name, split in loaded.splits.items()}}


def val_scores(model, val, val_wide, decision: str) -> dict[str, float]:
    """The validation metrics of the training model's current weights, and `val_stars`: accuracy + macro-F1 - MAE
    of the decided stars (the sum of the margins to the real-data goal's three bars).

    From predictions rather than model.evaluate, whose results are per-replica values under a multi-worker
    strategy; val_loss is the cross-entropy without regularization terms (weight_decay adds them in Keras's).
    """
    inputs = tf.constant(val.text.tolist())
    probabilities = model.predict(inputs if val_wide is None else [inputs, tf.constant(val_wide)],
                                  batch_size=256, verbose=0)
    stars = val.stars.to_numpy()
    metrics = evaluate.star_metrics(stars, decide(probabilities, decision).numpy(), np.zeros(len(stars), bool))
    loss = -np.mean(np.log(np.clip(probabilities[np.arange(len(stars)), stars - 1], 1e-7, 1.0)))
    return {"val_loss": float(loss), "val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"],
            "val_mae_stars": metrics["mae_stars"],
            "val_stars": metrics["accuracy"] + metrics["macro_f1"] - metrics["mae_stars"]}


def keep_trained(start: dict, trained: dict, monitor: str, mode: str) -> bool:
    """True if the trained weights beat the warm start on validation: better on the monitored metric and no worse
    on the decided stars (`val_stars`).

    The second condition is there because the two can disagree: on UIT-ViSFD a trained RNN lowered the val
    loss by 0.01 while its stars got worse on validation and on Dev in all three metrics (docs, "Real reviews").
    """
    better = trained[monitor] < start[monitor] if mode == "min" else trained[monitor] > start[monitor]
    return better and trained["val_stars"] >= start["val_stars"]


def text_features(config, splits) -> TextFeatures:
    """Vocabulary and warm-started wide path of a run (deterministic: a reloaded run rebuilds the same)."""
    class_weight = data.class_weights(splits.train) if config.model.class_weighting else None
    return fit_text_features(config.model, splits.train.text, splits.train.stars, class_weight, config.train.seed)


main = task_main(SentimentStars, __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
