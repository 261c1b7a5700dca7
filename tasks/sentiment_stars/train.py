"""Train the sentiment_stars RNN: `python -m tasks.sentiment_stars.train --config configs/sentiment_stars.yaml`."""
from __future__ import annotations

import dataclasses
import logging

import keras
import tensorflow as tf

from rnn_layers.vanishing import GradientNormLogger
from tasks.common.export import export_saved_model
from tasks.common.metrics import write_metrics
from tasks.common.run import main_guard, start_run
from tasks.common.tensorboard import ImageLogger, log_figures
from tasks.common.training import compile_model, fit
from tasks.sentiment_stars import SUMMARY, data, evaluate
from tasks.sentiment_stars.config import Config
from tasks.sentiment_stars.decision import MacroF1, MeanStarError
from tasks.sentiment_stars.model import ServingModule, average_members, build_model

log = logging.getLogger(__name__)


def train_member(config, splits, run, seed: int, val_ds, name: str = "sentiment_stars"):
    """Builds, compiles and fits one model on the training split; returns (model, FitResult)."""
    decision = config.model.decision
    train_ds = data.to_dataset(splits.train, config.train.batch_size, shuffle=True, seed=seed)
    with run.strategy.scope():
        model = build_model(config.model, splits.train.text, name)
        compile_model(model, config.train, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", MacroF1(decision), MeanStarError(decision)])

    def val_confusion(epoch):
        predicted = evaluate.predict_stars(model, splits.val.text, decision)
        return {"val_confusion_matrix": evaluate.confusion_figure(splits.val.stars, predicted,
                                                                  f"validation, epoch {epoch + 1}")}

    callbacks = [ImageLogger(run.tensorboard_dir, val_confusion)]
    if config.gradient_norm_every:
        callbacks.append(GradientNormLogger(run.tensorboard_dir, tf.constant(splits.val.text.tolist()[:64]),
                                            tf.constant(splits.val.stars.to_numpy()[:64] - 1),
                                            every=config.gradient_norm_every))
    class_weight = data.class_weights(splits.train) if config.model.class_weighting else None
    monitor = config.model.monitor
    result = fit(model, train_ds, val_ds, run, num_examples=len(splits.train), class_weight=class_weight,
                 callbacks=callbacks, monitor=monitor, mode="min" if monitor in ("val_loss", "val_mae_stars") else "max")
    return model, result


@main_guard
def main(argv=None):
    run = start_run("sentiment_stars", Config, argv, __doc__)
    config = run.config
    splits = data.load_splits(config.data)
    batch, seed = config.train.batch_size, config.train.seed
    val_ds = data.to_dataset(splits.val, batch, shuffle=False, seed=seed)
    decision = config.model.decision
    members, results = [], []
    for member in range(config.model.ensemble):
        # Each member is an ordinary run of its own (checkpoints, TensorBoard) under members/<k>/ and its own
        # seed, so a killed run resumes member by member; a single model keeps the run dir's usual layout.
        member_run = run if config.model.ensemble == 1 else dataclasses.replace(
            run, worker_dir=run.worker_dir / "members" / str(member))
        keras.utils.set_random_seed(seed + member)
        name = "sentiment_stars" if config.model.ensemble == 1 else f"member_{member}"
        model, result = train_member(config, splits, member_run, seed + member, val_ds, name)
        members.append(model)
        results.append(result)
    model = average_members(members)
    result = dataclasses.replace(results[0], train_seconds=sum(r.train_seconds for r in results),
                                 epochs_run=sum(r.epochs_run for r in results))

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
                            export_path=export_path, quality_bar=SUMMARY["quality_bar"], skipped_rows=splits.skipped)
    log.info("test %s | baselines %s | export %s", metrics["test"], metrics["baselines"], export_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
