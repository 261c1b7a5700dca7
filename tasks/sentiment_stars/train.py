"""Train the sentiment_stars RNN: `python -m tasks.sentiment_stars.train --config configs/sentiment_stars.yaml`."""
from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from rnn_layers.vanishing import GradientNormLogger
from tasks.common.ensemble import average_models, combined_fit_result, member_run
from tasks.common.export import export_saved_model
from tasks.common.metrics import write_metrics
from tasks.common.run import main_guard, start_run
from tasks.common.tensorboard import ImageLogger, log_figures
from tasks.common.training import compile_model, fit
from tasks.sentiment_stars import SUMMARY, data, evaluate
from tasks.sentiment_stars.config import Config
from tasks.sentiment_stars.decision import MacroF1, MeanStarError, decide
from tasks.sentiment_stars.model import (ServingModule, TextFeatures, build_models, fit_text_features,
                                         wide_logits)

log = logging.getLogger(__name__)


def train_member(config, splits, features, run, seed: int, val_ds, val_wide=None, name: str = "sentiment_stars"):
    """Builds, compiles and fits one model on the training split; returns (serving model, FitResult, selected).

    A warm-started model begins as the frozen linear model and trains on held-out wide logits (`val_wide`
    for the validation reviews); if no epoch beats that start on the monitored validation metric, the start
    weights are kept (`selected` says which).
    """
    decision = config.model.decision
    train_ds = data.to_dataset(splits.train, config.train.batch_size, shuffle=True, seed=seed,
                               wide_logits=features.train_logits)
    with run.strategy.scope():
        model, trainer = build_models(config.model, features, name)
        compile_model(trainer, config.train, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", MacroF1(decision), MeanStarError(decision)])

    def val_confusion(epoch):
        predicted = evaluate.predict_stars(model, splits.val.text, decision)
        return {"val_confusion_matrix": evaluate.confusion_figure(splits.val.stars, predicted,
                                                                  f"validation, epoch {epoch + 1}")}

    callbacks = [ImageLogger(run.tensorboard_dir, val_confusion)]
    if config.gradient_norm_every:
        sample = tf.constant(splits.val.text.tolist()[:64])
        callbacks.append(GradientNormLogger(run.tensorboard_dir, sample if val_wide is None else [sample, tf.constant(val_wide[:64])],
                                            tf.constant(splits.val.stars.to_numpy()[:64] - 1),
                                            every=config.gradient_norm_every))
    class_weight = data.class_weights(splits.train) if config.model.class_weighting else None
    monitor = config.model.monitor
    mode = "min" if monitor in ("val_loss", "val_mae_stars") else "max"
    warm = features.warm_started
    if warm:
        start_weights, start_score = trainer.get_weights(), _val_score(trainer, splits, val_wide, monitor, decision)
    result = fit(trainer, train_ds, val_ds, run, num_examples=len(splits.train), class_weight=class_weight,
                 callbacks=callbacks, monitor=monitor, mode=mode)
    selected = "trained"
    if warm:
        score = _val_score(trainer, splits, val_wide, monitor, decision)
        if (score >= start_score) if mode == "min" else (score <= start_score):
            trainer.set_weights(start_weights)  # no epoch beat the linear start on validation
            trainer.save_weights(run.checkpoint_dir / "best.weights.h5")  # the checkpoint holds what is exported
            selected = "linear_start"
        log.info("%s: selected %s (%s at the start %.4f, trained %.4f)", name, selected, monitor, start_score, score)
    return model, result, selected


def _val_score(model, splits, val_wide, monitor: str, decision: str) -> float:
    """The monitored validation metric of the training model's current weights.

    From predictions rather than model.evaluate, whose results are per-replica values under a multi-worker
    strategy; val_loss is the cross-entropy without regularization terms (weight_decay adds them in Keras's).
    """
    inputs = tf.constant(splits.val.text.tolist())
    probabilities = model.predict(inputs if val_wide is None else [inputs, tf.constant(val_wide)],
                                  batch_size=256, verbose=0)
    stars = splits.val.stars.to_numpy()
    if monitor == "val_loss":
        return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(stars)), stars - 1], 1e-7, 1.0))))
    metrics = evaluate.star_metrics(stars, decide(probabilities, decision).numpy(), np.zeros(len(stars), bool))
    return {"val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"],
            "val_mae_stars": metrics["mae_stars"]}[monitor]


def text_features(config, splits) -> TextFeatures:
    """Vocabulary and warm-started wide path of a run (deterministic: a reloaded run rebuilds the same)."""
    class_weight = data.class_weights(splits.train) if config.model.class_weighting else None
    return fit_text_features(config.model, splits.train.text, splits.train.stars, class_weight, config.train.seed)


@main_guard
def main(argv=None):
    run = start_run("sentiment_stars", Config, argv, __doc__)
    config = run.config
    splits = data.load_splits(config.data)
    batch, seed = config.train.batch_size, config.train.seed
    decision = config.model.decision
    features = text_features(config, splits)
    val_wide = wide_logits(features, splits.val.text) if features.warm_started else None
    val_ds = data.to_dataset(splits.val, batch, shuffle=False, seed=seed, wide_logits=val_wide)
    members, results, selected = [], [], []
    for member in range(config.model.ensemble):
        keras.utils.set_random_seed(seed + member)
        model, result, chosen = train_member(config, splits, features, member_run(run, member, config.model.ensemble),
                                             seed + member, val_ds, val_wide,
                                             "sentiment_stars" if config.model.ensemble == 1 else f"member_{member}")
        members.append(model)
        results.append(result)
        selected.append(chosen)
    model = average_models(members, "sentiment_stars_ensemble")
    result = combined_fit_result(results)

    predicted = evaluate.predict_stars(model, splits.test.text, decision)
    test = evaluate.star_metrics(splits.test.stars, predicted, splits.test.order_dependent)
    log_figures(run.tensorboard_dir, {"test_confusion_matrix": evaluate.confusion_figure(
        splits.test.stars, predicted, "test")}, step=result.epochs_run)
    baselines = {"bag_of_words": evaluate.bag_of_words_baseline(splits.train, splits.test, seed,
                                                                config.model.class_weighting),
                 "tfidf_logistic": evaluate.tfidf_logistic_baseline(splits.train, splits.test, seed)}
    serving = ServingModule(model, decision)
    export_path = export_saved_model(serving, run, {"serving_default": serving.serve.get_concrete_function()})
    metrics = write_metrics(run, dataset=splits.name, test=test, baselines=baselines, fit_result=result,
                            export_path=export_path, quality_bar=SUMMARY["quality_bar"], skipped_rows=splits.skipped,
                            selected_weights=selected, member_epochs=[r.epochs_run for r in results])
    log.info("test %s | baselines %s | export %s", metrics["test"], metrics["baselines"], export_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
