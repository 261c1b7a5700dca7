"""From five star probabilities to one star, and the validation metrics the checkpoint is chosen on.

Stars are ordered: answering 4 for a 5 is a smaller error than answering 1. "argmax" picks the likeliest
star; "median" picks the median of the predicted distribution, the answer with the least expected
absolute error in stars (the MAE-optimal decision), which moves borderline reviews towards the middle.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tasks.common.errors import ConfigError
DECISIONS = ("argmax", "median")


def decide(probabilities, decision: str) -> tf.Tensor:
    """(B, 5) probabilities -> (B,) int32 stars 1..5."""
    if decision == "argmax":
        index = tf.argmax(probabilities, axis=-1)
    elif decision == "median":  # first star whose cumulative probability reaches one half
        index = tf.argmax(tf.cast(tf.cumsum(probabilities, axis=-1) >= 0.5, tf.int32), axis=-1)
    else:
        raise ConfigError(f"decision must be one of {DECISIONS}, got {decision!r}")
    return tf.cast(index, tf.int32) + 1


class StarConfusion(keras.metrics.Metric):
    """Accumulates the 5 x 5 confusion matrix of decided stars; subclasses turn it into one number."""

    def __init__(self, decision: str = "argmax", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.decision = decision
        self.matrix = self.add_variable(shape=(5, 5), initializer="zeros", name="matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true = tf.reshape(tf.cast(y_true, tf.int32), [-1])  # labels are stars - 1
        predicted = decide(y_pred, self.decision) - 1
        self.matrix.assign_add(tf.math.confusion_matrix(true, predicted, num_classes=5, dtype=self.dtype))

    def reset_state(self):
        self.matrix.assign(tf.zeros((5, 5), self.dtype))

    def get_config(self):
        return {**super().get_config(), "decision": self.decision}


class MacroF1(StarConfusion):
    """Unweighted mean of the five per-star F1 scores (a star never predicted nor present counts 0)."""

    def __init__(self, decision: str = "argmax", name="macro_f1", **kwargs):
        super().__init__(decision, name=name, **kwargs)

    def result(self):
        hits = tf.linalg.diag_part(self.matrix)
        f1 = tf.math.divide_no_nan(2 * hits, tf.reduce_sum(self.matrix, 0) + tf.reduce_sum(self.matrix, 1))
        return tf.reduce_mean(f1)


class MeanStarError(StarConfusion):
    """Mean absolute error in stars of the decided answers."""

    def __init__(self, decision: str = "argmax", name="mae_stars", **kwargs):
        super().__init__(decision, name=name, **kwargs)

    def result(self):
        distance = tf.abs(tf.range(5, dtype=self.dtype)[:, None] - tf.range(5, dtype=self.dtype)[None, :])
        return tf.math.divide_no_nan(tf.reduce_sum(self.matrix * distance), tf.reduce_sum(self.matrix))
