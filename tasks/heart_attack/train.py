"""Train the heart_attack RNN: `python -m tasks.heart_attack.train --config configs/heart_attack.yaml`."""
from __future__ import annotations

import dataclasses
import json
import logging

import keras
import numpy as np
from sklearn.metrics import roc_auc_score

from tasks.common.ensemble import average_models, combined_fit_result, member_name, train_members
from tasks.common.task import FitSettings, Serving, Task, TaskData, Trained, task_main
from tasks.common.tensorboard import ImageLogger, log_figures
from tasks.common.training import compile_model
from tasks.heart_attack import SUMMARY, data, evaluate
from tasks.heart_attack.config import Config
from tasks.heart_attack.linear_start import LinearStart, choose_linear_start
from tasks.heart_attack.model import (ServingModule, build_model, class_weights, fit_log_floor, fit_normalization,
                                      log_transform, predict_risk, warm_start_linear_path)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class HeartData(TaskData):
    """The splits by patient plus what the model and the export are fitted on (training patients only)."""

    load_report: dict
    categories: dict  # text codes -> inputs, from the training patients
    unknown_codes: dict  # split -> codes only its patients have, read as missing
    class_weight: dict
    batch_size: int
    linear_start: LinearStart | None = None  # chosen when the first model is built, shared by every member
    log_features: list = dataclasses.field(default_factory=list)  # the features the model reads as logs


class HeartAttack(Task):
    """A patient's recent exams -> risk of a heart attack; see tasks/heart_attack/__init__.py."""

    name = "heart_attack"
    config_class = Config
    summary = SUMMARY

    def load_data(self, run) -> HeartData:
        config = run.config
        cohort, load_report, dataset = data.load_data(config.data)
        splits = data.split_by_patient(cohort, config.data.val_fraction, config.data.test_fraction,
                                       config.data.split_seed)
        categories = data.fit_categories(splits["train"])
        unknown_codes = {}
        for name in splits:  # a code only val/test patients have is treated as missing (and counted)
            splits[name], unknown_codes[name] = data.encode_categories(splits[name], categories,
                                                                       load_report["path"], on_unknown="missing")
        train = splits["train"]
        batch = batch_size(config.train, len(train))
        return HeartData(dataset=dataset, splits=splits, num_train=len(train),
                         train_ds=data.make_dataset(train, batch, shuffle_seed=config.train.seed),
                         val_ds=data.make_dataset(splits["val"], batch), load_report=load_report,
                         categories=categories, unknown_codes=unknown_codes,
                         class_weight=class_weights(train.labels, config.model.class_weighting), batch_size=batch)

    def build_model(self, run, loaded: HeartData) -> keras.Model:
        config, train = run.config, loaded.splits["train"]
        log_floor = fit_log_floor(train.exams, train.measurements, config.model.log_skewed)  # training only
        mean, std = fit_normalization(np.asarray(log_transform(train.exams, log_floor)))
        loaded.log_features = [name for name, floor in zip(train.feature_names, log_floor) if floor]
        if config.model.linear_path and loaded.linear_start is None:
            loaded.linear_start = choose_linear_start(config.model, len(train.feature_names), mean, std,
                                                      train.measurements, train.exams, train.labels,
                                                      loaded.class_weight, log_floor)
        start = loaded.linear_start or LinearStart("latest", 1.0, {})  # without a linear path: unused
        model = build_model(config.model, len(train.feature_names), mean, std, loaded.class_weight,
                            train.measurements, positives=int(train.labels.sum()), patients=len(train),
                            linear_inputs=start.inputs, linear_c=start.c, log_floor=log_floor,
                            name=member_name(run, "heart_attack_rnn"))
        if config.model.linear_path:
            warm_start_linear_path(model, train.exams, train.labels, loaded.class_weight, start.c, config.train.seed)
        return compile_model(model, config.train, loss=keras.losses.BinaryCrossentropy(),
                             metrics=[keras.metrics.AUC(name="roc_auc"), keras.metrics.AUC(curve="PR", name="pr_auc")])

    def callbacks(self, run, loaded: HeartData, model) -> list:
        val = loaded.splits["val"]
        return [ImageLogger(run.tensorboard_dir, lambda epoch: evaluate.figures(
            val.labels, {"rnn": predict_risk(model, val.exams)}, "val"), every=5)]

    def fit_settings(self, run, loaded: HeartData, model) -> FitSettings:
        monitor = run.config.train.monitor
        return FitSettings(monitor=monitor, mode="max" if monitor == "val_roc_auc" else "min",
                           class_weight=loaded.class_weight)

    def train(self, run, loaded: HeartData) -> Trained:
        """`model.ensemble` members (seeds seed, seed + 1, ...), each fitted from the warm-started linear model
        and kept only if it beats that start on validation; the model served is the mean of their risks."""
        members, fits, selected = train_members(run, run.config.model.ensemble,
                                                lambda member, seed: self._train_member(member, loaded, seed))
        return Trained(average_models(members, "heart_attack_ensemble"), combined_fit_result(fits),
                       {"ensemble_members": len(members), "selected_weights": selected})

    def _train_member(self, run, loaded: HeartData, seed: int):
        config, val = run.config, loaded.splits["val"]
        model = self.build(run, loaded)
        start_weights, start_val_auc = model.get_weights(), _val_roc_auc(model, val)
        train_ds = (loaded.train_ds if seed == config.train.seed  # the first member shuffles as load_data did
                    else data.make_dataset(loaded.splits["train"], loaded.batch_size, shuffle_seed=seed))
        result = self.fit(run, loaded, model, train_ds=train_ds)
        kept = "trained"
        if config.model.linear_path and config.train.select_against_start and _val_roc_auc(model, val) < start_val_auc:
            model.set_weights(start_weights)  # no epoch beat the warm-started linear model on the validation patients
            kept = "linear_start"
        log.info("%s: kept the %s weights (val ROC-AUC at the start %.4f)", model.name, kept, start_val_auc)
        return model, result, kept

    def evaluate(self, run, loaded: HeartData, trained: Trained) -> dict:
        test = loaded.splits["test"]
        return evaluate.risk_metrics(test.labels, predict_risk(trained.model, test.exams))

    def baselines(self, run, loaded: HeartData, trained: Trained) -> dict:
        config, train, test = run.config, loaded.splits["train"], loaded.splits["test"]
        baselines, baseline_risks = evaluate.fit_baselines(train, test, config.model.baseline_c,
                                                           config.model.imputation, train.measurements,
                                                           config.train.seed)
        risks = {"rnn": predict_risk(trained.model, test.exams), **baseline_risks}
        log_figures(run.tensorboard_dir, evaluate.figures(test.labels, risks, "test"), step=trained.fit.epochs_run)
        return baselines

    def serving(self, run, loaded: HeartData, trained: Trained) -> Serving:
        feature_names = loaded.splits["train"].feature_names
        module = ServingModule(trained.model, feature_names)
        input_spec = data.input_spec(run.config.data, loaded.load_report["time_format"], loaded.categories)
        return Serving(module, module.signatures(), {
            "feature_names.txt": "\n".join(feature_names) + "\n",
            "input_spec.json": json.dumps(input_spec, indent=2) + "\n"})

    def report(self, run, loaded: HeartData, trained, test, baselines, serving) -> dict:
        return dict(roc_auc_gain_over_last_visit=test["roc_auc"] - baselines["last_visit_logistic"]["roc_auc"],
                    data=loaded.load_report, split_patients={name: len(split) for name, split in loaded.splits.items()},
                    class_weight=loaded.class_weight, feature_names=list(loaded.splits["train"].feature_names),
                    categories=loaded.categories, unknown_codes=loaded.unknown_codes, batch_size=loaded.batch_size,
                    linear_start=loaded.linear_start.report() if loaded.linear_start else None,
                    log_features=loaded.log_features)


def batch_size(train_config, patients: int) -> int:
    """The configured batch size, smaller for a small cohort so that an epoch still takes
    `min_steps_per_epoch` optimizer steps: 190 patients in batches of 64 are 3 steps an epoch, and early
    stopping's patience would end training before the RNN path has moved from its start."""
    wanted = max(8, patients // max(1, train_config.min_steps_per_epoch))
    return max(1, min(train_config.batch_size, wanted))


def _val_roc_auc(model, val) -> float:
    """ROC-AUC of the model's risks on the validation patients."""
    return float(roc_auc_score(val.labels, predict_risk(model, val.exams)))


main = task_main(HeartAttack, __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
