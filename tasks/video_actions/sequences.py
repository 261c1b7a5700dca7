"""data.source=features: raw feature sequences (B, T, F) -> scaling -> strided front end -> IRNN -> softmax.

Real feature sequences are few (tens), long (100-300 steps) and unscaled (channels in pixels next to
channels in 0.01s). Each piece below answers one of those (measured in docs/video_actions.md):
- scaling: per-channel mean/std of the training split's real steps, a Normalization layer inside the
  model, so the export takes raw features;
- a strided front end (Conv1D, or mean pooling) that shortens T to about `target_steps` (25) before the
  RNN: the product of Jacobians in BPTT has fewer factors, so early steps still reach the loss;
- the lesson's vanilla cell as an IRNN (ReLU, W initialized to the identity: Le et al. 2015), whose
  Jacobians start near the identity instead of shrinking the gradient at every step;
- the mean and the max of s_t over the real steps, not s_T alone, go to the softmax: a short event anywhere
  in the clip reaches the output in one step instead of through every later one, and the max keeps a
  brief dip that the mean would average away (the one lever of this kind that helped, docs' lever table);
- training-only time warping, window crops and (`time_mask`, off by default) a masked span per clip, so
  that a few dozen clips teach the shape of an action rather than each clip's timing or a single cue;
- `model.ensemble` networks trained one after another (tasks/common/ensemble.py), the export their mean
  (default 1: with mean and max pooling one network met the bars).
Padding (all-zero raw rows) is masked throughout: the mask is taken from the raw input and pooled with
the front end's stride.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tasks.common.layers import recurrent_layer
from tasks.video_actions.evaluate import step_lengths
from tasks.video_actions.model import StepMask


def front_end_stride(config, train_inputs: np.ndarray) -> int:
    """round(median training length / target_steps), at least min_stride; 1 when there is no front end."""
    if config.front_end == "none":
        return 1
    return max(config.min_stride, round(float(np.median(step_lengths(train_inputs))) / config.target_steps))


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class StrideMask(keras.layers.Layer):
    """(B, T) bool -> (B, ceil(T / stride)): window i is real when step i * stride is (the last step it sees).

    Windows end at steps 0, stride, 2 stride, ... (causal), so a clip gives the same windows padded or cut.
    """

    def __init__(self, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, steps_real):  # not `mask`: Keras treats an argument of that name as its implicit mask
        return steps_real[:, ::self.stride]

    def compute_output_shape(self, input_shape):
        return input_shape[0], None

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class MaskedMeanPool(keras.layers.Layer):
    """(B, T, F) + real steps (B, T) -> (B, ceil(T / stride), F): mean of the real steps of each causal window
    (steps i * stride - stride + 1 .. i * stride), through a cumulative sum."""

    def __init__(self, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, steps, steps_real):
        weight = ops.cast(steps_real, steps.dtype)[:, :, None]  # (B, T, 1)
        window_sum = lambda x: self._window_sum(ops.cumsum(x, axis=1))  # noqa: E731
        count = window_sum(weight)  # (B, T', 1)
        return window_sum(steps * weight) / ops.maximum(count, 1.0)

    def _window_sum(self, cumulative):
        earlier = ops.pad(cumulative, [[0, 0], [self.stride, 0], [0, 0]])[:, :-self.stride]  # sum up to t - stride
        return (cumulative - earlier)[:, ::self.stride]

    def compute_output_shape(self, input_shape):
        return input_shape[0], None, input_shape[-1]

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class SequenceAugmentation(keras.layers.Layer):
    """Training only, on standardized steps: per clip and channel a random gain exp(N(0, scale)) and offset
    N(0, scale), plus noise N(0, scale / 2) per step; padding stays 0. With a few dozen clips the RNN
    otherwise memorizes each clip's level and height instead of its shape. At inference: the identity."""

    def __init__(self, scale: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, steps, steps_real, training=None):
        if not training or not self.scale:
            return steps
        batch, features = ops.shape(steps)[0], steps.shape[-1]
        gain = ops.exp(keras.random.normal((batch, 1, features), stddev=self.scale, seed=self.seed_generator))
        offset = keras.random.normal((batch, 1, features), stddev=self.scale, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(steps), stddev=self.scale / 2, seed=self.seed_generator)
        weight = ops.expand_dims(ops.cast(steps_real, steps.dtype), -1)
        return (steps * gain + offset + noise) * weight

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class TimeWarp(keras.layers.Layer):
    """Training only: each clip's real steps resampled along a random time axis, padding untouched.

    The new step t reads the clip at position p_t (linear interpolation between neighbours), where p runs from
    a random start in [0, crop * L] to a random end in [(1 - crop) * L, L - 1] (window slicing) at a speed
    that changes at `knots` points by a factor in [1 - warp, 1 + warp] (time warping): the same action done a
    little earlier, later, faster or slower. At inference: the identity.
    """

    def __init__(self, warp: float = 0.2, crop: float = 0.1, knots: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.warp, self.crop, self.knots = warp, crop, knots
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, steps, steps_real, training=None):
        if not training or not (self.warp or self.crop):
            return steps
        batch, length = ops.shape(steps)[0], ops.shape(steps)[1]
        weight = ops.cast(steps_real, "float32")  # (B, T)
        real = ops.sum(weight, axis=1, keepdims=True)  # (B, 1) real steps L
        speeds = keras.random.uniform((batch, self.knots), 1 - self.warp, 1 + self.warp, seed=self.seed_generator)
        t = ops.arange(length, dtype="float32")[None, :]  # (1, T)
        knot = ops.cast(ops.minimum(t / ops.maximum(real, 1.0) * self.knots, self.knots - 1), "int32")  # (B, T)
        speed = ops.take_along_axis(speeds, knot, axis=1) * weight  # (B, T); 0 on padding
        covered = ops.cumsum(speed, axis=1) - speed[:, :1]  # 0 at the first step
        covered = covered / ops.maximum(ops.max(covered, axis=1, keepdims=True), 1e-6)  # 0..1 over the real steps
        start = keras.random.uniform((batch, 1), 0.0, self.crop, seed=self.seed_generator) * (real - 1)
        end = (1 - keras.random.uniform((batch, 1), 0.0, self.crop, seed=self.seed_generator)) * (real - 1)
        position = ops.clip(start + covered * (end - start), 0.0, ops.maximum(real - 1, 0.0))  # (B, T)
        before = ops.cast(ops.floor(position), "int32")
        after = ops.minimum(before + 1, ops.cast(real, "int32") - 1)
        share = ops.expand_dims(position - ops.cast(before, "float32"), -1)  # (B, T, 1)
        gather = lambda index: ops.take_along_axis(steps, ops.expand_dims(index, -1), axis=1)  # noqa: E731
        warped = gather(before) * (1 - share) + gather(ops.maximum(after, 0)) * share
        return warped * ops.expand_dims(ops.cast(weight, steps.dtype), -1)

    def get_config(self):
        return {**super().get_config(), "warp": self.warp, "crop": self.crop, "knots": self.knots}


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class TimeMask(keras.layers.Layer):
    """Training only: in each clip one random span of up to `span` of its real steps is replaced by the straight
    line between the steps at its ends (a tracker that lost the hand for a moment). A cue that the span
    covers is gone for that pass, so the network cannot lean on one cue alone when a clip carries several
    (SpecAugment's time masking, with interpolation instead of zeros so the level stays continuous).
    At inference: the identity."""

    def __init__(self, span: float = 0.15, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.span = span
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, steps, steps_real, training=None):
        if not training or not self.span:
            return steps
        batch, length = ops.shape(steps)[0], ops.shape(steps)[1]
        real = ops.sum(ops.cast(steps_real, "float32"), axis=1, keepdims=True)  # (B, 1)
        width = ops.floor(keras.random.uniform((batch, 1), 0.0, self.span, seed=self.seed_generator) * real)
        start = ops.floor(keras.random.uniform((batch, 1), 0.0, 1.0, seed=self.seed_generator)
                          * ops.maximum(real - width, 1.0))
        end = ops.minimum(start + width, ops.maximum(real - 1, 0.0))  # (B, 1), the last step of the span
        t = ops.arange(length, dtype="float32")[None, :]  # (1, T)
        inside = ops.logical_and(t > start, t < end)  # (B, T): the ends keep their values
        share = ops.expand_dims((t - start) / ops.maximum(end - start, 1.0), -1)  # (B, T, 1)
        gather = lambda index: ops.take_along_axis(steps, ops.expand_dims(ops.cast(index, "int32"), -1), axis=1)  # noqa: E731
        line = gather(start) * (1 - share) + gather(end) * share  # (B, T, F)
        return ops.where(ops.expand_dims(inside, -1), line, steps)

    def get_config(self):
        return {**super().get_config(), "span": self.span}


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class MaskedTimePool(keras.layers.Layer):
    """(B, T, F) + real steps (B, T) -> (B, F): mean or max over the real steps only; mean_max: both, (B, 2F)."""

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = True  # the RNN's outputs carry its mask; the real steps come in explicitly

    def compute_mask(self, inputs, mask=None):
        return None  # one vector per clip: no steps left to mask

    def call(self, steps, steps_real):
        weight = ops.cast(steps_real, steps.dtype)[:, :, None]  # (B, T, 1)
        mean = ops.sum(steps * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1.0)
        maximum = ops.max(steps * weight - (1.0 - weight) * 1e9, axis=1)  # padding pushed below every real value
        if self.mode == "mean_max":
            return ops.concatenate([mean, maximum], axis=-1)
        return maximum if self.mode == "max" else mean

    def compute_output_shape(self, input_shape):
        return input_shape[0], input_shape[-1] * (2 if self.mode == "mean_max" else 1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def sequence_classifier(config, x, mask, stride: int, num_classes: int, name: str = ""):
    """Scaled steps (B, T, F) -> front end -> RNN(s) -> pooling -> softmax (B, classes); layer names start with `name`."""
    for i in range(config.conv_layers - 1):  # full-resolution convolutions first: local shape at every frame
        x = keras.layers.Conv1D(config.conv_filters, config.conv_local_kernel, padding="causal", activation="relu",
                                name=f"{name}local_conv_{i}")(x)
        x = x * ops.expand_dims(ops.cast(mask, x.dtype), -1)  # padding stays 0 for the next window
    if config.front_end == "conv":
        kernel = config.conv_kernel or 2 * stride + 1
        x = keras.layers.Conv1D(config.conv_filters, kernel, strides=stride, padding="causal", activation="relu",
                                name=f"{name}front_end")(x)  # (B, ceil(T / stride), filters); window i ends at i * stride
    elif config.front_end == "pool" and stride > 1:
        x = MaskedMeanPool(stride, name=f"{name}front_end")(x, mask)  # (B, ceil(T / stride), F)
    if stride > 1:
        mask = StrideMask(stride, name=f"{name}strided_mask")(mask)
    x = keras.layers.Dropout(config.dropout, name=f"{name}feature_dropout")(x)
    pooled = config.pooling != "last"
    directions = [False, True] if config.bidirectional else [False]
    states = []
    for backwards in directions:
        rnn = recurrent_layer(config.rnn_units, config.activation, return_sequences=pooled, go_backwards=backwards,
                              name=f"{name}rnn" + ("_backward" if backwards else ""),
                              recurrent_initializer=config.recurrent_initializer)
        outputs = rnn(x, mask=mask)  # (B, units) s_T, or (B, T', units) s_1..s_T' when pooled
        if pooled:  # outputs of a backward layer come in its (reversed) order; pooling does not care
            step_real = ops.flip(mask, axis=1) if backwards else mask
            outputs = MaskedTimePool(config.pooling, name=f"{name}{config.pooling}_pool"
                                     + ("_backward" if backwards else ""))(outputs, step_real)
        states.append(outputs)
    state = states[0] if len(states) == 1 else keras.layers.Concatenate(name=f"{name}states")(states)
    state = keras.layers.Dropout(config.dropout, name=f"{name}state_dropout")(state)
    return keras.layers.Dense(num_classes, activation="softmax", name=f"{name}probabilities")(state)


def build_sequence_model(config, num_classes: int, train_inputs: np.ndarray,
                         name: str = "video_actions_sequences") -> keras.Model:
    """Raw features (B, T, F) -> probabilities (B, num_classes); scaling and stride fitted on `train_inputs`."""
    feature_dim = train_inputs.shape[-1]
    features = keras.Input((None, feature_dim), name="features")  # (B, T, F), raw values
    mask = StepMask(name="mask")(features)  # (B, T), from the raw rows: padding is all zeros
    x = features
    if config.scaling:
        scaling = keras.layers.Normalization(axis=-1, name="scaling")
        real = train_inputs[np.arange(train_inputs.shape[1])[None, :] < step_lengths(train_inputs)[:, None]]
        scaling.adapt(real.astype(np.float32))  # (real steps, F): padding does not count
        x = scaling(x) * ops.expand_dims(ops.cast(mask, x.dtype), -1)  # padding back to 0 after the shift
    if config.augment:
        x = SequenceAugmentation(config.augment, name="augmentation")(x, mask)
    if config.time_warp or config.time_crop:
        x = TimeWarp(config.time_warp, config.time_crop, name="time_warp")(x, mask)
    if config.time_mask:
        x = TimeMask(config.time_mask, name="time_mask")(x, mask)
    probabilities = sequence_classifier(config, x, mask, front_end_stride(config, train_inputs), num_classes)
    return keras.Model(features, probabilities, name=name)


def cosine_learning_rate(base: float, epochs: int):
    """epoch -> learning rate, from `base` down to ~0 along a half cosine: the last epochs settle, so the
    last weights are a good choice without trusting a tiny val split."""
    return lambda epoch, _=None: base * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))


def training_plan(config, num_train: int) -> dict:
    """Epochs and batch size for `num_train` sequences: about `updates` gradient steps, capped at max_epochs.

    An epoch passes over the training split `repeats` times, enough for `min_batches_per_epoch` batches: with
    40 clips an epoch would otherwise be 5 batches, and the per-epoch work (validation, checkpoints, logs)
    would cost more than the training itself.
    """
    batch_size = min(config.batch_size, num_train)
    batches = math.ceil(num_train / batch_size)
    repeats = max(1, math.ceil(config.min_batches_per_epoch / batches))
    epochs = min(config.max_epochs, math.ceil(config.updates / (batches * repeats)))
    return {"batch_size": batch_size, "repeats": repeats, "epochs": epochs, "updates": epochs * batches * repeats,
            "selection": config.selection}
