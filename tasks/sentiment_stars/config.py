"""Config of the sentiment_stars task: defaults are the full `make train` settings."""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import numpy as np

from tasks.common.config import RNNConfig, TrainConfig
from tasks.common.errors import ConfigError


@dataclasses.dataclass
class DataConfig:
    """Where the reviews come from and how to read them; defaults train on the built-in Vietnamese corpus."""

    source: Literal["builtin", "files", "tfds"] = "builtin"  # built-in corpus, the user's tables, or a TFDS dataset
    builtin_dir: str = "data/sentiment_stars/builtin"  # generated here when missing; existing files are never replaced
    builtin_language: Literal["vi", "en"] = "vi"  # language of the built-in corpus
    builtin_train_size: int = 8000  # built-in training reviews: enough for the RNN to learn contrast and negation
    builtin_val_size: int = 1000  # built-in validation reviews (early stopping)
    builtin_test_size: int = 2000  # built-in test reviews; about 45% are order-dependent pairs
    train_path: str | None = None  # files: training table (.csv, .tsv, .jsonl, .parquet)
    val_path: str | None = None  # files: validation table; null carves val_fraction out of train
    test_path: str | None = None  # files: test table; null carves test_fraction out of train
    path: str | None = None  # files: one table split into train/val/test (instead of train_path)
    val_fraction: float = 0.1  # share of the rows carved out for validation (stratified by stars)
    test_fraction: float = 0.2  # share of the rows carved out for test (stratified by stars)
    text_column: str = "text"  # column (JSON key) holding the review text
    rating_column: str = "stars"  # column (JSON key) holding the rating
    rating_scale: tuple[float, float] = (1.0, 5.0)  # the file's lowest and highest rating, mapped onto 1..5 stars
    rating_map: dict[str | int, int] | None = None  # rating -> stars, e.g. {pos: 5, neg: 1}; replaces rating_scale
    on_bad_row: Literal["error", "skip"] = "error"  # stop at the first bad row, or skip and count bad rows
    tfds_name: str = "imdb_reviews"  # TFDS catalog name (yelp_polarity_reviews works the same way)
    tfds_text_feature: str = "text"  # feature holding the text
    tfds_label_feature: str = "label"  # feature holding the class label
    tfds_label_to_stars: dict[int, int] = dataclasses.field(default_factory=lambda: {0: 1, 1: 5})  # label -> stars
    tfds_train_split: str = "train"  # TFDS split (slicing like "train[:50%]" works) for training
    tfds_val_split: str | None = None  # validation split; null carves val_fraction out of the training split
    tfds_test_split: str = "test"  # TFDS split for the test set
    tfds_data_dir: str | None = None  # TFDS data dir; null uses TFDS's default (~/tensorflow_datasets)
    max_examples: int = 0  # keep at most this many rows per split (a seeded sample; first ones for TFDS); 0 keeps all
    split_seed: int = 0  # which rows the carved splits and the max_examples sample take (not train.seed)
    builtin_seed: int = 0  # the generated built-in corpus, the same files whatever the other seeds

    RENAMED_KEYS: ClassVar[dict[str, str | tuple[str, ...]]] = {"seed": ("builtin_seed", "split_seed")}  # docs/conventions.md

    def __post_init__(self):
        for name in ("builtin_train_size", "builtin_val_size", "builtin_test_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be between 0 and 1 (exclusive), got {getattr(self, name)}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"val_fraction + test_fraction must be < 1, got {self.val_fraction + self.test_fraction}")
        low, high = self.rating_scale
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError("rating_scale must be [lowest, highest] with lowest < highest, "
                              f"got {list(self.rating_scale)}")
        if self.rating_map is not None:
            if not self.rating_map:
                raise ConfigError("rating_map must map at least one rating to stars, got {}")
            self.rating_map = {rating_key(key): stars for key, stars in self.rating_map.items()}
            _check_stars("rating_map", self.rating_map)
        if not self.tfds_label_to_stars:
            raise ConfigError("tfds_label_to_stars must map at least one label to stars, got {}")
        _check_stars("tfds_label_to_stars", self.tfds_label_to_stars)
        if self.max_examples < 0:
            raise ConfigError(f"max_examples must be >= 0 (0 keeps all), got {self.max_examples}")
        for name in ("text_column", "rating_column", "tfds_name", "tfds_text_feature", "tfds_label_feature"):
            if not getattr(self, name):
                raise ConfigError(f"{name} must not be empty")

    def check_source(self) -> None:
        """Checks the fields that only make sense together (done at load time so `--set` order does not matter)."""
        if self.source != "files":
            return
        if bool(self.path) == bool(self.train_path):
            raise ConfigError("source 'files' needs exactly one of data.path (one table, split by the fractions) "
                              f"and data.train_path, got path={self.path!r}, train_path={self.train_path!r}")
        if self.path and (self.val_path or self.test_path):
            raise ConfigError("data.path is split into train/val/test itself; use train_path with val_path/test_path "
                              "instead")


def _check_stars(name: str, mapping: dict) -> None:
    for key, stars in mapping.items():
        if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
            raise ConfigError(f"{name} must map to stars 1..5, got {key!r}: {stars!r}")


def rating_key(value) -> str:
    """The lookup key of a rating in rating_map: "5", 5 and 5.0 are the same key; strings are stripped."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, np.integer, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else str(number)  # "2.50" -> "2.5", as 2.5 does


@dataclasses.dataclass
class ModelConfig(RNNConfig):
    max_tokens: int = 30000  # vocabulary size incl. padding and OOV; real reviews need more than the built-in corpus
    max_length: int = 256  # tokens kept per review, from its end: the verdict usually comes last
    embedding_dim: int = 64  # size of x_t, the RNN's input
    rnn_units: int = 64  # size of s_t per direction
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
    wide_views: tuple[str, ...] = ("model", "words", "nb")  # model.py WIDE_VIEWS; one regression each, mean probability
    wide_nb_ngrams: int = 3  # the "nb" view's binary word 1..n-grams
    wide_nb_c: float = 0.3  # the "nb" view's inverse L2 strength (its features are unnormalized counts x ratios)
    wide_warm_start: bool = True  # wide path = scikit-learn's logistic regression, frozen; the RNN adds to it from zero
    wide_c: float = 4.0  # that regression's inverse L2 strength (the tfidf_logistic baseline's C)
    wide_folds: int = 5  # cross-fitting folds: the RNN learns on logits of regressions that did not see the review
    wide_drop: float = 0.5  # share of training reviews whose regression logits are hidden, so the RNN learns alone too
    residual_epochs: int = 0  # warm start: epochs of a second phase on every review's wide logits (train.py); 0: off (on real reviews it only recalibrated the start)
    residual_learning_rate: float = 1e-3  # that phase's Adam rate: small steps on top of a strong linear model
    wide_l2: float = 1e-4  # L2 on the wide path's weights when it trains from random (wide_warm_start off)
    decision: Literal["argmax", "median"] = "median"  # stars from probabilities (decision.py); median: least expected error in stars
    ensemble: int = 1  # models trained with seeds seed, seed + 1, ...; the export averages their probabilities
    monitor: Literal["val_loss", "val_accuracy", "val_macro_f1", "val_mae_stars"] = "val_loss"  # checkpoint, early stop, and kept-or-not against the warm start

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"units": "rnn_units"}  # docs/conventions.md

    def __post_init__(self):
        for name in ("max_tokens", "max_length", "embedding_dim", "rnn_units", "num_layers", "min_frequency", "ensemble",
                     "wide_min_df", "wide_nb_ngrams"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout", "recurrent_dropout", "word_dropout", "wide_drop"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        self.wide_views = views = tuple(self.wide_views)
        if not views or len(set(views)) < len(views) or not set(views) <= {"model", "words", "nb"}:
            raise ConfigError(f"wide_views must be distinct views among ['model', 'words', 'nb'], got {list(views)}")
        if self.wide_folds < 2:
            raise ConfigError(f"wide_folds must be >= 2 (cross-fitting), got {self.wide_folds}")
        for name in ("wide_c", "wide_nb_c"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.residual_learning_rate <= 0:
            raise ConfigError(f"residual_learning_rate must be > 0, got {self.residual_learning_rate}")
        for name in ("weight_decay", "wide_l2", "wide_ngrams", "residual_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass
class Config:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30, learning_rate=3e-3))
    gradient_norm_every: int = 1  # epochs between per-timestep ||dL/ds_t|| images in TensorBoard; 0 disables
