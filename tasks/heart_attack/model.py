"""Exams (NaN = missing) -> impute + missing indicator + standardize -> RNN(SimpleRNNCell) over visits -> risk.

Everything the raw exams need happens inside the model, so the export takes raw values:
- `VisitImputer` fills a missing value with the patient's latest earlier value of that measurement
  (labs are not drawn at every visit; the last result is what a clinician would look at), else with the
  training mean; standardizes with the training mean and standard deviation; appends one 0/1 "not measured
  at this visit" flag per feature; and masks the visits whose measurements are all NaN (padding, or a
  missed visit), so the RNN carries s_{t-1} over them unchanged;
- `RiskOutput` is the sigmoid of the logit. Training with class weights w1 (positives) and w0 makes the
  network's odds about w1/w0 times too high; at inference the layer subtracts log(w1/w0) from the logit
  (the prior correction of King and Zeng, 2001), so the reported risk is again a probability.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.common.export import KerasServingModule
from tasks.common.layers import recurrent_layer


def carry_forward(values, missing):
    """(B, T, F): each missing value replaced by the patient's latest earlier value of that feature (NaN if none)."""
    steps = ops.arange(ops.shape(values)[1])  # (T,)
    seen_at = ops.where(missing, -1, steps[None, :, None])  # (B, T, F): step index where observed
    earlier = steps[:, None] >= steps[None, :]  # (T, S): step s is at or before step t
    latest = ops.max(ops.where(earlier[None, :, :, None], seen_at[:, None, :, :], -1), axis=2)  # (B, T, F)
    carried = ops.take_along_axis(values, ops.maximum(latest, 0), axis=1)
    return ops.where(latest >= 0, carried, ops.full_like(values, float("nan")))


@keras.saving.register_keras_serializable(package="heart_attack")
class VisitImputer(keras.layers.Layer):
    """(B, T, F) raw exams with NaN -> (B, T, 2F) standardized values and missing flags, with a visit mask.

    Args:
        mean: F training means, used for missing values and for standardizing.
        std: F training standard deviations.
        presence_features: a visit is present when any of the first `presence_features` values is a
            number (the measurements; derived features such as the visit gap do not count).
            Default: all F.
    """

    def __init__(self, mean, std, presence_features: int | None = None, carry_forward: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.carry_forward = carry_forward
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        if len(self.mean) != len(self.std) or min(self.std) <= 0:
            raise ValueError(f"mean and std must have the same length and std > 0, got {mean} and {std}")
        self.presence_features = presence_features or len(self.mean)

    def call(self, exams):
        missing = ops.isnan(exams)  # (B, T, F)
        mean = ops.convert_to_tensor(self.mean, dtype=exams.dtype)
        if self.carry_forward:
            filled = carry_forward(exams, missing)  # present values stay as they are
            filled = ops.where(ops.isnan(filled), mean, filled)
        else:
            filled = ops.where(missing, mean, exams)
        standardized = (filled - mean) / ops.convert_to_tensor(self.std, dtype=exams.dtype)
        return ops.concatenate([standardized, ops.cast(missing, exams.dtype)], axis=-1)  # (B, T, 2F)

    def compute_mask(self, exams, mask=None):
        measured = ops.logical_not(ops.isnan(exams[..., : self.presence_features]))
        return ops.any(measured, axis=-1)  # (B, T)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "presence_features": self.presence_features, "carry_forward": self.carry_forward}


@keras.saving.register_keras_serializable(package="heart_attack")
class RiskOutput(keras.layers.Layer):
    """sigmoid(logit) in training; sigmoid(logit - log_odds_shift) at inference (undoes class weighting)."""

    def __init__(self, log_odds_shift: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.log_odds_shift = float(log_odds_shift)

    def call(self, logits, training=False):
        if training:
            return ops.sigmoid(logits)
        return ops.sigmoid(logits - self.log_odds_shift)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "log_odds_shift": self.log_odds_shift}


def fit_normalization(exams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over the present values of (N, T, F) training exams."""
    values = exams.reshape(-1, exams.shape[-1]).astype(np.float64)
    counts = np.sum(~np.isnan(values), axis=0)
    safe = np.where(np.isnan(values), 0.0, values)
    mean = safe.sum(axis=0) / np.maximum(counts, 1)
    variance = np.where(np.isnan(values), 0.0, (values - mean) ** 2).sum(axis=0) / np.maximum(counts, 1)
    std = np.sqrt(variance)
    std = np.where(std > 1e-6, std, 1.0)  # a constant or empty feature carries its information in the flag
    return mean.astype(np.float32), std.astype(np.float32)


def class_weights(labels: np.ndarray, weighting: str) -> dict[int, float] | None:
    """Keras class_weight, normalized to a mean weight of 1 over the patients.

    "balanced": weight 1/n_c, each class carries half of the loss; "sqrt": weight 1/sqrt(n_c), half way
    (in log terms) between no weighting and balanced; "none": None.
    """
    if weighting == "none":
        return None
    counts = np.bincount(labels.astype(np.int64), minlength=2).astype(np.float64)
    if min(counts) == 0:
        raise ValueError(f"the training split needs both labels to weight classes, got counts {counts.tolist()}")
    raw = 1.0 / (counts if weighting == "balanced" else np.sqrt(counts))
    raw /= (raw * counts).sum() / counts.sum()
    return {0: float(raw[0]), 1: float(raw[1])}


def build_model(model_config, n_features: int, mean, std, class_weight: dict | None = None,
                presence_features: int | None = None) -> keras.Model:
    """The functional risk model: exams (B, T, F) float32 with NaN -> risk (B, 1).

    `mean`/`std` come from `fit_normalization` on the training split; `class_weight` (as passed to
    fit) sets the inference-time correction of the odds.
    """
    cfg = model_config
    shift = float(np.log(class_weight[1] / class_weight[0])) if class_weight else 0.0
    regularizer = keras.regularizers.L2(cfg.l2) if cfg.l2 else None
    exams = keras.Input(shape=(None, n_features), dtype="float32", name="exams")
    x = VisitImputer(mean, std, presence_features, cfg.imputation == "carry_forward",
                     name="impute_and_standardize")(exams)  # (B, T, 2F)
    if cfg.visit_units:
        x = keras.layers.Dense(cfg.visit_units, activation=cfg.visit_activation, kernel_regularizer=regularizer,
                               name="visit_features")(x)  # (B, T, visit_units)
    rnn = recurrent_layer(cfg.rnn_units, cfg.activation, implementation=cfg.rnn_implementation, name="rnn",
                          kernel_regularizer=regularizer, recurrent_regularizer=regularizer)
    state = rnn(x)  # (B, rnn_units): s_T, the state after the last present visit
    state = keras.layers.Dropout(cfg.dropout, name="dropout")(state)
    logit = keras.layers.Dense(1, kernel_regularizer=regularizer, name="logit")(state)  # (B, 1)
    risk = RiskOutput(shift, name="risk")(logit)
    return keras.Model(exams, risk, name="heart_attack_rnn")


def predict_risk(model: keras.Model, exams: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Calibrated risk (N,) for (N, T, F) exams (inference mode)."""
    return model.predict(exams, batch_size=batch_size, verbose=0)[:, 0]


class ServingModule(KerasServingModule):
    """The export: raw exams (NaN = missing, all-NaN row = no visit) in, risk out; plus the feature order."""

    def __init__(self, model, feature_names):
        super().__init__(model)
        self.feature_names_list = list(feature_names)
        self.n_features = len(self.feature_names_list)
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None, None, self.n_features], tf.float32, name="exams")])

    def _serve(self, exams):
        return {"risk": self.model(exams, training=False)[:, 0]}  # (B,)

    @tf.function(input_signature=[])
    def feature_names(self):
        """The F feature names, in the order of the last axis of `exams`."""
        return {"feature_names": tf.constant(self.feature_names_list)}

    def signatures(self) -> dict:
        return {"serving_default": self.serve.get_concrete_function(),
                "feature_names": self.feature_names.get_concrete_function()}
