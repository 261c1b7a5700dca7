"""Train the heart_attack RNN: `python -m tasks.heart_attack.train --config configs/heart_attack.yaml`."""
from __future__ import annotations

import dataclasses
import json
import logging

import keras
from sklearn.metrics import roc_auc_score

from tasks.common.ensemble import average_models, combined_fit_result, member_run
from tasks.common.export import export_saved_model
from tasks.common.metrics import write_metrics
from tasks.common.run import main_guard, start_run
from tasks.common.tensorboard import ImageLogger, log_figures
from tasks.common.training import compile_model, fit
from tasks.heart_attack import SUMMARY, data, evaluate
from tasks.heart_attack.config import Config
from tasks.heart_attack.model import (ServingModule, build_model, class_weights, fit_normalization,
                                      predict_risk, warm_start_linear_path)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Trained:
    """What a run produced, for tests and notebooks: the Keras model, the splits and metrics.json's content."""

    model: keras.Model
    splits: dict
    metrics: dict


@main_guard
def main(argv=None):
    train_and_export(start_run("heart_attack", Config, argv, __doc__))
    return 0


def train_and_export(run) -> Trained:
    """Data -> split by patient -> fit -> test metrics and baselines -> export -> metrics.json."""
    config = run.config
    cohort, load_report, dataset = data.load_data(config.data, run.worker_dir / "data")  # per worker: no races
    splits = data.split_by_patient(cohort, config.data.val_fraction, config.data.test_fraction,
                                   config.data.split_seed)
    categories = data.fit_categories(splits["train"])  # text codes -> inputs, from training patients only
    unknown_codes = {}
    for name in splits:  # a code only val/test patients have is treated as missing (and counted)
        splits[name], unknown_codes[name] = data.encode_categories(splits[name], categories, load_report["path"],
                                                                   on_unknown="missing")
    train, val, test = splits["train"], splits["val"], splits["test"]
    feature_names, measurements = train.feature_names, train.measurements  # present visit: a measurement

    class_weight = class_weights(train.labels, config.model.class_weighting)
    members, results, selections = [], [], []
    for member in range(config.model.ensemble):
        keras.utils.set_random_seed(config.train.seed + member)
        model, result, selected = train_member(config, member_run(run, member, config.model.ensemble), train, val,
                                               class_weight, config.train.seed + member,
                                               "heart_attack_rnn" if config.model.ensemble == 1 else f"member_{member}")
        members.append(model)
        results.append(result)
        selections.append(selected)
    model, result = average_models(members, "heart_attack_ensemble"), combined_fit_result(results)
    batch = batch_size(config.train, len(train))
    seed = config.train.seed

    risk = predict_risk(model, test.exams)
    test_metrics = evaluate.risk_metrics(test.labels, risk)
    baselines, baseline_risks = evaluate.fit_baselines(train, test, config.model.logistic_c,
                                                       config.model.imputation, measurements, seed)
    log_figures(run.tensorboard_dir, evaluate.figures(test.labels, {"rnn": risk, **baseline_risks}, "test"),
                step=result.epochs_run)

    serving = ServingModule(model, feature_names)
    input_spec = data.input_spec(config.data, load_report["time_format"], categories)
    export_path = export_saved_model(serving, run, serving.signatures(), assets={
        "feature_names.txt": "\n".join(feature_names) + "\n",
        "input_spec.json": json.dumps(input_spec, indent=2) + "\n"})
    metrics = write_metrics(
        run, dataset=dataset, test=test_metrics, baselines=baselines, fit_result=result, export_path=export_path,
        quality_bar=SUMMARY["quality_bar"], roc_auc_gain_over_last_visit=test_metrics["roc_auc"] - baselines["last_visit_logistic"]["roc_auc"],
        data=load_report, split_patients={name: len(split) for name, split in splits.items()},
        class_weight=class_weight, feature_names=list(feature_names), categories=categories,
        unknown_codes=unknown_codes, ensemble_members=config.model.ensemble, selected_weights=selections,
        batch_size=batch)
    log.info("test %s | last visit %s | all visits %s | export %s", metrics["test"],
             metrics["baselines"]["last_visit_logistic"], metrics["baselines"]["all_visits_logistic"], export_path)
    return Trained(model, splits, metrics)


def train_member(config, run, train, val, class_weight, seed: int, name: str):
    """One model: build, warm-start the linear path, fit, and keep the start if no epoch beat it on val.
    -> (model, FitResult, which weights were kept: "trained" or "linear_start")."""
    mean, std = fit_normalization(train.exams)  # training patients only
    with run.strategy.scope():
        model = build_model(config.model, len(train.feature_names), mean, std, class_weight, train.measurements,
                            positives=int(train.labels.sum()), patients=len(train), name=name)
        if config.model.linear_path:
            warm_start_linear_path(model, train.exams, train.labels, class_weight, config.model.logistic_c, seed)
        compile_model(model, config.train, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.AUC(name="roc_auc"), keras.metrics.AUC(curve="PR", name="pr_auc")])

    def val_figures(epoch):
        return evaluate.figures(val.labels, {"rnn": predict_risk(model, val.exams)}, "val")

    batch = batch_size(config.train, len(train))
    start_weights, start_val_auc = model.get_weights(), _val_roc_auc(model, val)  # the linear model, if warm-started
    result = fit(model, data.make_dataset(train, batch, shuffle_seed=seed), data.make_dataset(val, batch), run,
                 num_examples=len(train), class_weight=class_weight,
                 callbacks=[ImageLogger(run.tensorboard_dir, val_figures, every=5)],
                 monitor=config.train.monitor, mode="max" if config.train.monitor == "val_roc_auc" else "min")
    selected = "trained"
    if config.model.linear_path and config.train.select_against_start and _val_roc_auc(model, val) < start_val_auc:
        model.set_weights(start_weights)  # no epoch beat the warm-started linear model on the validation patients
        selected = "linear_start"
    log.info("%s: kept %s weights (val ROC-AUC at the start %.4f)", name, selected, start_val_auc)
    return model, result, selected


def batch_size(train_config, patients: int) -> int:
    """The configured batch size, smaller for a small cohort so that an epoch still takes
    `min_steps_per_epoch` optimizer steps: 190 patients in batches of 64 are 3 steps an epoch, and early
    stopping's patience would end training before the RNN path has moved from its start."""
    wanted = max(8, patients // max(1, train_config.min_steps_per_epoch))
    return max(1, min(train_config.batch_size, wanted))


def _val_roc_auc(model, val) -> float:
    """ROC-AUC of the model's risks on the validation patients."""
    return float(roc_auc_score(val.labels, predict_risk(model, val.exams)))


if __name__ == "__main__":
    raise SystemExit(main())
