"""Exams (NaN = missing) -> impute + missing indicator + standardize -> RNN(SimpleRNNCell) over visits -> risk.

Everything the raw exams need happens inside the model, so the export takes raw values:
- `VisitImputer` fills a missing value with the patient's latest earlier value of that measurement
  (labs are not drawn at every visit; the last result is what a clinician would look at), else with the
  training mean; standardizes with the training mean and standard deviation; appends one 0/1 "not measured
  at this visit" flag per feature; and masks the visits whose measurements are all NaN (padding, or a
  missed visit), so the RNN carries s_{t-1} over them unchanged;
- a linear path: a logistic regression on the latest present visit (its imputed values and missing flags),
  and optionally on the mean of the present visits too (`LINEAR_INPUTS`), warm-started from scikit-learn's
  fit on the training split (`warm_start_linear_path`; which inputs and C: `linear_start.py`); the RNN over
  the visits adds its logit to it through a head that starts at zero. The model starts as that logistic
  regression and the RNN only adds what the sequence holds beyond it, so on a small cohort explained by a
  few values it degrades to the linear model instead of below it;
- `RiskOutput` is the sigmoid of the logit. Training with class weights w1 (positives) and w0 makes the
  network's odds about w1/w0 times too high; at inference the layer subtracts log(w1/w0) from the logit
  (the prior correction of King and Zeng, 2001), so the reported risk is again a probability.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.common.errors import DataError
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


def log_transform(exams, log_floor):
    """(B, T, F) exams with the features whose `log_floor` is > 0 replaced by log(max(value, floor)); NaN stays
    NaN. The floor (the smallest training value) keeps a zero or negative value at predict time finite."""
    floor = ops.convert_to_tensor([v if v > 0 else 1.0 for v in log_floor], dtype=exams.dtype)
    missing = ops.isnan(exams)
    logged = ops.logical_and(ops.convert_to_tensor([v > 0 for v in log_floor]), ops.logical_not(missing))
    return ops.where(logged, ops.log(ops.maximum(ops.where(missing, floor, exams), floor)), exams)


def fit_log_floor(exams: np.ndarray, measurements: int, skewness: float) -> list[float]:
    """Per feature: the smallest training value if the feature enters the model as its log, else 0.

    A measurement is logged when all its training values are > 0, their skewness is above `skewness` and the
    log is less skewed (lab values such as bilirubin or glucose are log-normal: a long right tail that a
    linear model and tanh units read badly). `skewness` 0: none. Derived features (the visit gap) never."""
    from scipy.stats import skew

    floor = [0.0] * exams.shape[-1]
    if not skewness:
        return floor
    values = exams.reshape(-1, exams.shape[-1])
    for feature in range(measurements):
        present = values[:, feature][~np.isnan(values[:, feature])].astype(np.float64)
        if len(present) > 2 and present.min() > 0 and np.ptp(present) > 0:
            if skew(present) > skewness and abs(skew(np.log(present))) < abs(skew(present)):
                floor[feature] = float(present.min())
    return floor


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

    def __init__(self, mean, std, presence_features: int | None = None, carry_forward: bool = True,
                 log_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.carry_forward = carry_forward
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        if len(self.mean) != len(self.std) or min(self.std) <= 0:
            raise ValueError(f"mean and std must have the same length and std > 0, got {mean} and {std}")
        self.presence_features = presence_features or len(self.mean)
        self.log_floor = [float(v) for v in log_floor] if log_floor is not None else [0.0] * len(self.mean)
        if len(self.log_floor) != len(self.mean) or min(self.log_floor) < 0:
            raise ValueError(f"log_floor needs one value >= 0 per feature, got {log_floor}")

    def call(self, exams):
        if any(self.log_floor):  # mean and std are of the log values of these features
            exams = log_transform(exams, self.log_floor)
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
                "presence_features": self.presence_features, "carry_forward": self.carry_forward,
                "log_floor": self.log_floor}


@keras.saving.register_keras_serializable(package="heart_attack")
class LatestVisit(keras.layers.Layer):
    """(B, T, D) masked visits -> (B, D): each patient's latest present visit (the last step if none is)."""

    def call(self, visits, mask=None):
        steps = ops.shape(visits)[1]
        if mask is None:
            return visits[:, -1]
        position = ops.arange(steps)[None, :]  # (1, T)
        latest = ops.max(ops.where(mask, position, -1), axis=1)  # (B,)
        latest = ops.where(latest >= 0, latest, steps - 1)
        return ops.take_along_axis(visits, latest[:, None, None], axis=1)[:, 0]

    def compute_mask(self, visits, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="heart_attack")
class VisitMean(keras.layers.Layer):
    """(B, T, D) masked visits -> (B, D): the mean over each patient's present visits (zeros if none is)."""

    def call(self, visits, mask=None):
        if mask is None:
            return ops.mean(visits, axis=1)
        weights = ops.cast(mask, visits.dtype)[..., None]  # (B, T, 1)
        return ops.sum(visits * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, visits, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


# What the linear path reads: named blocks of the imputed visits, each (B, 2F), concatenated in this order.
LINEAR_BLOCKS = {"latest": ("latest_visit", LatestVisit), "mean": ("visit_mean", VisitMean)}
LINEAR_INPUTS = {"latest": ("latest",), "latest_and_mean": ("latest", "mean")}


def linear_blocks(visits, blocks) -> list:
    """The linear path's input blocks (each (B, 2F)) of the imputed, masked visits."""
    return [LINEAR_BLOCKS[block][1](name=LINEAR_BLOCKS[block][0])(visits) for block in blocks]


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
        raise DataError(None, None, "the training split needs both labels to weight classes, got counts "
                                    f"{counts.tolist()}")
    raw = 1.0 / (counts if weighting == "balanced" else np.sqrt(counts))
    raw /= (raw * counts).sum() / counts.sum()
    return {0: float(raw[0]), 1: float(raw[1])}


def effective_l2(model_config, positives: int | None) -> float:
    """The RNN path's L2: `l2`, times reference/positives when the training split has fewer positives than
    `l2_reference_positives` (fewer positives overfit sooner), else `l2` itself."""
    cfg = model_config
    if not cfg.l2_reference_positives or not positives:
        return cfg.l2
    return cfg.l2 * max(1.0, cfg.l2_reference_positives / positives)


def imputed_visits(model_config, exams, mean, std, presence_features: int | None = None, log_floor=None):
    """Raw exams -> imputed, standardized visits with missing flags (B, T, 2F), masked where no visit."""
    return VisitImputer(mean, std, presence_features, model_config.imputation == "carry_forward", log_floor,
                        name="impute_and_standardize")(exams)


def linear_block_model(model_config, n_features: int, mean, std, presence_features: int | None = None,
                       log_floor=None):
    """exams (B, T, F) -> {block: (B, 2F)} for every block in LINEAR_BLOCKS: what the linear path can read,
    computed by the same layers as in `build_model` (for choosing its inputs before the model is built)."""
    exams = keras.Input(shape=(None, n_features), dtype="float32", name="exams")
    visits = imputed_visits(model_config, exams, mean, std, presence_features, log_floor)
    return keras.Model(exams, dict(zip(LINEAR_BLOCKS, linear_blocks(visits, LINEAR_BLOCKS))))


def build_model(model_config, n_features: int, mean, std, class_weight: dict | None = None,
                presence_features: int | None = None, positives: int | None = None,
                patients: int | None = None, linear_inputs: str = "latest", linear_c: float = 1.0,
                log_floor=None, name: str = "heart_attack_rnn") -> keras.Model:
    """The functional risk model: exams (B, T, F) float32 with NaN -> risk (B, 1).

    `mean`/`std` come from `fit_normalization` on the training split; `class_weight` (as passed to
    fit) sets the inference-time correction of the odds; `positives` and `patients` of the training split
    scale the regularization (`effective_l2`, and the linear path's L2 that matches sklearn's C `linear_c`);
    `linear_inputs` (a key of LINEAR_INPUTS) is what the linear path reads; `log_floor` (`fit_log_floor`)
    which features enter as logs (`mean`/`std` are then of the logged training values).
    """
    cfg = model_config
    shift = float(np.log(class_weight[1] / class_weight[0])) if class_weight else 0.0
    l2 = effective_l2(cfg, positives)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    exams = keras.Input(shape=(None, n_features), dtype="float32", name="exams")
    x = visits = imputed_visits(cfg, exams, mean, std, presence_features, log_floor)  # (B, T, 2F)
    if cfg.visit_units:
        x = keras.layers.Dense(cfg.visit_units, activation=cfg.visit_activation, kernel_regularizer=regularizer,
                               name="visit_features")(x)  # (B, T, visit_units)
    rnn = recurrent_layer(cfg.rnn_units, cfg.activation, implementation=cfg.rnn_implementation, name="rnn",
                          kernel_regularizer=regularizer, recurrent_regularizer=regularizer)
    state = rnn(x)  # (B, rnn_units): s_T, the state after the last present visit
    state = keras.layers.Dropout(cfg.dropout, name="dropout")(state)
    if cfg.linear_path:
        # sklearn's penalty ||w||^2 / (2C) on a summed loss is this L2 on Keras's mean loss.
        linear_l2 = 1.0 / (2.0 * linear_c * patients) if patients else 0.0
        blocks = linear_blocks(visits, LINEAR_INPUTS[linear_inputs])
        features = blocks[0] if len(blocks) == 1 else keras.layers.Concatenate(name="linear_inputs")(blocks)
        linear = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(linear_l2) if linear_l2 else None,
                                    name="linear_logit")(features)  # (B, 1)
        residual = keras.layers.Dense(1, kernel_initializer="zeros", kernel_regularizer=regularizer,
                                      name="logit")(state)  # (B, 1): starts at 0, the RNN adds to the linear model
        logit = keras.layers.Add(name="linear_plus_rnn")([linear, residual])
    else:
        logit = keras.layers.Dense(1, kernel_regularizer=regularizer, name="logit")(state)  # (B, 1)
    risk = RiskOutput(shift, name="risk")(logit)
    return keras.Model(exams, risk, name=name)


def warm_start_linear_path(model: keras.Model, exams: np.ndarray, labels: np.ndarray, class_weight: dict | None,
                           c: float = 1.0, seed: int = 0) -> None:
    """Sets the linear path to scikit-learn's logistic regression (L2, inverse strength `c`) fitted on the
    model's own linear-path inputs of the training exams, weighted like the network's loss."""
    from sklearn.linear_model import LogisticRegression

    inputs = model.get_layer("linear_logit").input
    features = keras.Model(model.input, inputs).predict(exams, batch_size=1024, verbose=0)
    weights = None if class_weight is None else np.where(labels == 1, class_weight[1], class_weight[0])
    regression = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    regression.fit(features, labels, sample_weight=weights)
    model.get_layer("linear_logit").set_weights([regression.coef_.T.astype(np.float32),
                                                 regression.intercept_.astype(np.float32)])


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
