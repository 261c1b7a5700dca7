"""video_actions model and evaluation: masking of padded frames, order helpers, metrics, the baseline."""
import dataclasses

import numpy as np
import pytest

from tasks.common.config import ConfigError, load_config
from tasks.video_actions.config import Config, ModelConfig
from tasks.video_actions.data import Split, VideoData
from tasks.video_actions.evaluate import (classification_metrics, masked_mean, order_blind_baseline, pair_indices,
                                          reverse_steps, shuffle_steps)
from tasks.video_actions.model import build_model, frame_features_model

SMALL = ModelConfig(cnn_filters=(4, 8), cnn_grid=2, feature_units=8, rnn_units=8, dropout=0.0)


def clips(batch=2, steps=6, size=16, lengths=(6, 3), seed=0):
    frames = np.random.default_rng(seed).integers(1, 255, (batch, steps, size, size, 3), dtype=np.uint8)
    for i, length in enumerate(lengths):
        frames[i, length:] = 0
    return frames


def test_padded_frames_are_masked():
    model = build_model(SMALL, 3, frame_size=16)
    frames = clips()
    full = model.predict(frames, verbose=0)
    # A clip with 3 real frames gives the same answer padded to 6 or cut to 3 steps.
    np.testing.assert_allclose(full[1], model.predict(frames[1:, :3], verbose=0)[0], atol=1e-6)
    assert model.output_shape == (None, 3)
    features = frame_features_model(model).predict(frames, verbose=0)
    assert features.shape == (2, 6, 8) and not features[1, 3:].any()  # padding rows are zeros


@pytest.mark.parametrize("implementation, layer", [("auto", "SimpleRNN"), ("cell", "CellRNN")])
def test_the_rnn_is_the_fast_layer_unless_the_cell_is_asked_for(implementation, layer):
    config = dataclasses.replace(SMALL, rnn_implementation=implementation)
    model = build_model(config, 3, feature_dim=5)
    assert type(model.get_layer("rnn")).__name__ == layer
    features = np.random.default_rng(2).normal(size=(2, 4, 5)).astype(np.float32)
    assert model.predict(features, verbose=0).shape == (2, 3)


def test_order_of_frames_changes_the_output():
    model = build_model(SMALL, 3, frame_size=16)
    frames = clips()
    assert not np.allclose(model.predict(frames, verbose=0)[0], model.predict(reverse_steps(frames), verbose=0)[0])


def test_feature_input_model_masks_zero_rows():
    model = build_model(SMALL, 4, feature_dim=5)
    features = np.random.default_rng(1).normal(size=(1, 7, 5)).astype(np.float32)
    padded = features.copy()
    padded[0, 4:] = 0
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(features[:, :4], verbose=0), atol=1e-6)


def test_shuffle_and_reverse_keep_padding_at_the_end():
    steps = np.zeros((2, 5, 1), np.float32)
    steps[0, :, 0] = [1, 2, 3, 4, 5]
    steps[1, :3, 0] = [1, 2, 3]
    assert reverse_steps(steps)[:, :, 0].tolist() == [[5, 4, 3, 2, 1], [3, 2, 1, 0, 0]]
    shuffled = shuffle_steps(steps, seed=0)[:, :, 0]
    assert sorted(shuffled[1, :3]) == [1, 2, 3] and shuffled[1, 3:].tolist() == [0, 0]
    assert sorted(shuffled[0]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(masked_mean(steps)[:, 0], [3.0, 2.0])


def test_metrics_on_reversal_pairs():
    names = ["sit_down", "stand_up", "wave"]
    pairs = pair_indices([("sit_down", "stand_up"), ("fall_down", "get_up")], names)
    assert pairs == [(0, 1)]  # the pair with classes the data lacks is left out
    metrics = classification_metrics([0, 1, 2, 2], [1, 1, 2, 0], names, pairs)
    assert metrics["accuracy"] == 0.5 and metrics["reversal_pairs_accuracy"] == 0.5
    assert metrics["per_class_accuracy"] == {"sit_down": 0.0, "stand_up": 1.0, "wave": 0.5}
    assert classification_metrics([2], [2], names, [])["reversal_pairs_accuracy"] is None


def test_order_blind_baseline_cannot_tell_a_sequence_from_its_reverse():
    # Class 0 ramps up, class 1 ramps down over the same values: identical means, opposite order.
    rng = np.random.default_rng(0)

    def split(n):
        ramps = np.linspace(1, 2, 6)[None, :, None] * rng.uniform(0.5, 1.5, (n, 1, 1))
        labels = np.arange(n) % 2
        return Split(np.where(labels[:, None, None] == 0, ramps, ramps[:, ::-1]).astype(np.float32), labels, [])

    data = VideoData(split(40), split(10), split(40), ["up", "down"], "ramps", "features")
    result = order_blind_baseline(lambda x: x, data, [(0, 1)], c=1.0, seed=0)
    assert 0.3 <= result["reversal_pairs_accuracy"] <= 0.7


def test_order_blind_baseline_gets_exactly_half_when_each_clip_comes_with_its_reversal():
    # How the built-in pairs are made: every clip of the second class is a clip of the first played backwards,
    # in the same split, so an order-blind model answers both alike and is right on exactly one of the two.
    rng = np.random.default_rng(1)

    def mirrored(n):
        clips = rng.normal(size=(n, 7, 3)).astype(np.float32)
        return Split(np.concatenate([clips, clips[:, ::-1]]), np.repeat([0, 1], n), [])

    data = VideoData(mirrored(30), mirrored(5), mirrored(20), ["forward", "backward"], "mirrored", "features")
    assert order_blind_baseline(lambda x: x, data, [(0, 1)], c=1.0, seed=0)["reversal_pairs_accuracy"] == 0.5


@pytest.mark.parametrize("override, message", [
    ("data.fps=0", "fps must be > 0"),
    ("data.builtin_frame_size=33", "builtin_frame_size must be even"),
    ("data.source=folder", "path must name the class folder root"),
    ("model.dropout=1.5", r"dropout must be in \[0, 1\)"),
    ("data.reversal_pairs=[[a, a]]", "reversal_pairs must pair two different classes"),
    ("data.colour=1", "unknown key 'data.colour'"),
])
def test_bad_config_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Config, None, [override])


def test_yaml_config_loads():
    config = load_config(Config, "configs/video_actions.yaml")
    assert config.data.source == "builtin" and config.data.num_frames == 30 and config.data.fps == 1.0
