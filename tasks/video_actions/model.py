"""Frames -> per-frame CNN features x_t -> the lesson's RNN, masked -> softmax over actions (many to one).

Padding is all-zero frames (the mask comes from the pixels, so the export needs no lengths input). Before
the small CNN, each frame is standardized and paired with its difference from the clip's mean frame
(ClipNormalization), and training adds ClipAugmentation. Measured on the built-in data after 10 epochs: raw
pixels reached val accuracy ~0.15, standardized frames ~0.4, plus the difference channel ~0.6 (train
0.97: memorized scenes); with the augmentation too, train and val rose together (0.99 test after ~50 epochs).

Two ways to get x_t:
- `small_cnn` (default): a small CNN applied to every frame (PerFrame) and trained end to end with
  the RNN. Why not train a per-frame CNN first and the RNN on its cached features? Because a single frame's
  label is ambiguous exactly where the lesson's point lies: a half-seated person belongs to sit_down and to
  stand_up, a walker mid-screen to walk_left and to walk_right. A per-frame classifier has no reason to keep
  what tells them apart (where the figure is, how far down it is); trained end to end, the RNN's gradient
  decides what x_t must carry. It is also cheap here: 64x64 frames, three strided convolutions.
- a keras.applications backbone (e.g. MobileNetV3Small): frozen, ImageNet weights when the user has them;
  its features are computed once per clip and cached (see features.py), and only the RNN head trains.
Either way the export runs the CNN inside the graph on raw uint8 frames.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tasks.common.export import KerasServingModule
from tasks.common.layers import recurrent_layer
from tasks.video_actions.config import BACKBONES



@keras.saving.register_keras_serializable(package="tasks.video_actions")
class StepMask(keras.layers.Layer):
    """(B, T, ...) -> (B, T) bool: a step is real unless all its values are zero (how clips are padded)."""

    def call(self, steps):
        return ops.any(ops.not_equal(steps, 0), axis=tuple(range(2, len(steps.shape))))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class PerFrame(keras.layers.Layer):
    """Applies a per-frame model to every frame: (B, T, S, S, 3) -> (B, T, F), for any T.

    Not keras.layers.TimeDistributed: traced with an unknown T (the export's [None, None, S, S, 3] signature),
    Keras 3.15's TimeDistributed returns (B, 1, F), silently dropping frames. Here the reshape uses the
    dynamic shape.
    """

    def __init__(self, encoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder

    def call(self, frames, training=None):
        batch, steps = ops.shape(frames)[0], ops.shape(frames)[1]
        flat = ops.reshape(frames, (-1,) + tuple(frames.shape[2:]))  # (B * T, S, S, 3)
        features = self.encoder(flat, training=training)  # (B * T, F)
        return ops.reshape(features, (batch, steps, features.shape[-1]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (self.encoder.output_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("encoder")), **config)


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class ClipNormalization(keras.layers.Layer):
    """uint8 (B, T, S, S, 3) + mask (B, T) -> float (B, T, S, S, 6): each frame standardized, and its difference
    from the clip's mean frame.

    Standardizing each frame (per channel) removes the scene's colours and brightness; the mean frame of a
    clip is mostly its static background, so frame minus mean shows what moves. Both keep padded frames at 0.
    """

    def call(self, frames, mask):
        x = ops.cast(frames, "float32") / 255.0
        mean = ops.mean(x, axis=(2, 3), keepdims=True)
        std = ops.std(x, axis=(2, 3), keepdims=True)
        weight = ops.cast(mask, "float32")[:, :, None, None, None]  # (B, T, 1, 1, 1)
        x = (x - mean) / (std + 0.05) * weight  # 0.05: a flat frame does not blow up noise
        clip_mean = ops.sum(x, axis=1, keepdims=True) / ops.maximum(ops.sum(weight, axis=1, keepdims=True), 1.0)
        return ops.concatenate([x, (x - clip_mean) * weight], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * input_shape[-1],)


@keras.saving.register_keras_serializable(package="tasks.video_actions")
class ClipAugmentation(keras.layers.Layer):
    """Training only, the same for all frames of a clip (so time order is untouched): a random sign flip per
    clip of the normalized frames (a light figure on a dark scene becomes a dark one on a light scene), and
    per batch a random channel order and a shift (with wrap-around) of up to `max_shift` pixels. Never a
    horizontal flip: that would turn walk_left into walk_right. At inference it passes its input through.
    """

    def __init__(self, max_shift: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = max_shift
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, clips, training=None):
        if not training:
            return clips
        batch = ops.shape(clips)[0]
        sign = ops.where(keras.random.uniform((batch, 1, 1, 1, 1), seed=self.seed_generator) < 0.5, -1.0, 1.0)
        channels = clips.shape[-1] // 2
        order = ops.argsort(keras.random.uniform((channels,), seed=self.seed_generator))
        clips = ops.take(clips, ops.concatenate([order, order + channels]), axis=-1) * sign
        if self.max_shift:
            shift = keras.random.randint((2,), -self.max_shift, self.max_shift + 1, seed=self.seed_generator)
            clips = ops.roll(ops.roll(clips, shift[0], axis=2), shift[1], axis=3)
        return clips

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift}


def build_frame_encoder(config, frame_size: int) -> keras.Model:
    """small_cnn: (S, S, 6) normalized frame -> (feature_units,); convs, then a coarse grid so position survives."""
    frame = keras.Input((frame_size, frame_size, 6), name="frame")  # ClipNormalization's 6 channels
    x = frame
    for i, filters in enumerate(config.cnn_filters):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=not config.cnn_batch_norm,
                                name=f"conv_{i}")(x)
        if config.cnn_batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    side = x.shape[1]  # S / 2**len(cnn_filters)
    pool = max(1, side // config.cnn_grid)
    x = keras.layers.AveragePooling2D(pool, name="grid_pool")(x)  # (grid, grid, filters)
    x = keras.layers.Flatten(name="flatten")(x)
    features = keras.layers.Dense(config.feature_units, activation="relu", name="features")(x)
    return keras.Model(frame, features, name="frame_encoder")


def build_backbone(config, frame_size: int) -> keras.Model:
    """A frozen keras.applications CNN: uint8 (S, S, 3) -> pooled features; weights None, "imagenet" or a file."""
    weights = config.backbone_weights
    application = getattr(keras.applications, config.backbone)(
        include_top=False, pooling="avg", input_shape=(frame_size, frame_size, 3),
        weights=weights if weights in (None, "imagenet") else None)
    if weights not in (None, "imagenet"):
        application.load_weights(weights)
    application.trainable = False
    frame = keras.Input((frame_size, frame_size, 3), dtype="uint8", name="frame")
    x = ops.cast(frame, "float32")  # 0..255, what every keras.applications preprocess expects
    module = BACKBONES[config.backbone]
    if module:
        x = getattr(keras.applications, module).preprocess_input(x)
    return keras.Model(frame, application(x, training=False), name=f"backbone_{config.backbone}")


def build_head(config, steps, mask, num_classes: int):
    """(B, T, F) features and (B, T) mask -> (B, num_classes) probabilities; masked steps keep s_{t-1}."""
    x = keras.layers.Dropout(config.dropout, name="feature_dropout")(steps)
    rnn = recurrent_layer(config.rnn_units, config.activation, implementation=config.rnn_implementation, name="rnn")
    state = rnn(x, mask=mask)  # (B, rnn_units): s_T after the last real frame
    state = keras.layers.Dropout(config.dropout, name="state_dropout")(state)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(state)


def build_model(config, num_classes: int, *, frame_size: int | None = None, feature_dim: int | None = None,
                name: str = "video_actions") -> keras.Model:
    """The RNN over frames (uint8 (B, T, S, S, 3), `frame_size`) or over features ((B, T, F), `feature_dim`).

    Frames go through a new small_cnn (`build_frame_encoder`). Padding (all-zero frames, or all-zero
    feature rows) is masked; the features of padded frames are zeroed too, which the baseline relies on.
    `name` tells the members of an ensemble apart.
    """
    if feature_dim is not None:
        features = keras.Input((None, feature_dim), name="features")  # (B, T, F)
        mask = StepMask(name="mask")(features)  # (B, T)
        return keras.Model(features, build_head(config, features, mask, num_classes), name=f"{name}_head")
    frames = keras.Input((None, frame_size, frame_size, 3), dtype="uint8", name="frames")  # (B, T, S, S, 3)
    encoder = build_frame_encoder(config, frame_size)
    mask = StepMask(name="mask")(frames)  # (B, T), from the pixels: a dark real frame is still a frame
    normalized = ClipNormalization(name="clip_normalization")(frames, mask)  # (B, T, S, S, 6)
    if config.augment:
        normalized = ClipAugmentation(config.augment_shift, name="augmentation")(normalized)
    features = PerFrame(encoder, name="per_frame")(normalized)  # (B, T, F)
    features = features * ops.expand_dims(ops.cast(mask, features.dtype), -1)
    return keras.Model(frames, build_head(config, features, mask, num_classes), name=name)


def frame_features_model(model: keras.Model) -> keras.Model:
    """The trained model's per-frame features (B, T, F), padding zeroed: what the order-blind baseline averages."""
    return keras.Model(model.input, model.get_layer("feature_dropout").input)


def attach_backbone(head: keras.Model, backbone: keras.Model, frame_size: int) -> keras.Model:
    """Frames -> frozen backbone per frame -> trained head: the exported graph of the cached-features scheme."""
    frames = keras.Input((None, frame_size, frame_size, 3), dtype="uint8", name="frames")
    mask = StepMask(name="mask")(frames)  # (B, T)
    features = PerFrame(backbone, name="per_frame")(frames)  # (B, T, F)
    features = features * ops.expand_dims(ops.cast(mask, features.dtype), -1)  # padding -> zero rows, as cached
    return keras.Model(frames, head(features), name="video_actions")


class ServingModule(KerasServingModule):
    """The export: raw uint8 frames (all-zero frames = padding) in; action name and probabilities out."""

    def __init__(self, model, class_names, input_name: str, input_shape, input_dtype):
        super().__init__(model)
        self.class_names = tf.constant(list(class_names))
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None, None, *input_shape], input_dtype, name=input_name)])

    def _serve(self, inputs):
        probabilities = self.model(inputs, training=False)
        action = tf.gather(self.class_names, tf.argmax(probabilities, axis=-1))
        return {"action": action, "probabilities": probabilities}
