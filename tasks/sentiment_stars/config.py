"""Config of the sentiment_stars task: defaults are the full `make train` settings."""
from __future__ import annotations

import dataclasses
from typing import Literal

from tasks.common.config import RNNConfig, TrainConfig
from tasks.common.errors import ConfigError
from tasks.sentiment_stars.data import DataConfig


@dataclasses.dataclass
class ModelConfig(RNNConfig):
    max_tokens: int = 30000  # vocabulary size incl. padding and OOV; real reviews need more than the built-in corpus
    max_length: int = 256  # tokens kept per review, from its end: the verdict usually comes last
    embedding_dim: int = 64  # size of x_t, the RNN's input
    units: int = 64  # size of s_t per direction
    num_layers: int = 1  # stacked RNN layers; the lower ones return sequences
    bidirectional: bool = True  # a second RNN reads right to left, so the start of long reviews is not forgotten
    dropout: float = 0.2  # on x_t (one mask per sequence), before the output layer and on the wide path's input
    recurrent_dropout: float = 0.0  # on s_{t-1}; off by default, it slows convergence on short texts
    class_weighting: bool = False  # balanced class weights (regression and RNN loss); off: the median decision already lifts rare stars
    min_frequency: int = 1  # words seen fewer times in training share the OOV embedding (typos, names)
    word_dropout: float = 0.0  # share of whole words (x_t) dropped in training
    weight_decay: float = 0.0  # L2 on the embedding and the RNN's output layer; 0 disables
    wide_ngrams: int = 2  # a linear TF-IDF path over word 1..n-grams added to the RNN's logits; 0 disables
    wide_min_df: int = 2  # n-grams in fewer training reviews are left out of the wide path
    wide_warm_start: bool = True  # wide path = scikit-learn's logistic regression, frozen; the RNN adds to it from zero
    wide_c: float = 4.0  # that regression's inverse L2 strength (the tfidf_logistic baseline's C)
    wide_folds: int = 5  # cross-fitting folds: the RNN learns on logits of regressions that did not see the review
    wide_drop: float = 0.5  # share of training reviews whose regression logits are hidden, so the RNN learns alone too
    wide_l2: float = 1e-4  # L2 on the wide path's weights when it trains from random (wide_warm_start off)
    decision: Literal["argmax", "median"] = "median"  # stars from probabilities (decision.py); median: least expected error in stars
    ensemble: int = 1  # models trained with seeds seed, seed + 1, ...; the export averages their probabilities
    monitor: Literal["val_loss", "val_accuracy", "val_macro_f1", "val_mae_stars"] = "val_loss"  # checkpoint, early stop, and kept-or-not against the warm start

    def __post_init__(self):
        for name in ("max_tokens", "max_length", "embedding_dim", "units", "num_layers", "min_frequency", "ensemble",
                     "wide_min_df"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout", "recurrent_dropout", "word_dropout", "wide_drop"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.wide_folds < 2:
            raise ConfigError(f"wide_folds must be >= 2 (cross-fitting), got {self.wide_folds}")
        if self.wide_c <= 0:
            raise ConfigError(f"wide_c must be > 0, got {self.wide_c}")
        for name in ("weight_decay", "wide_l2", "wide_ngrams"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass
class Config:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30, learning_rate=3e-3))
    gradient_norm_every: int = 1  # epochs between per-timestep ||dL/ds_t|| images in TensorBoard; 0 disables
