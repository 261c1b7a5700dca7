"""video_actions on feature sequences (data.source=features): scaling in the model, strided front ends,
masking, the training plan, the DTW baseline, the simulator, and a small end-to-end run."""
import json

import numpy as np
import pytest

from tasks.common.config import ConfigError, load_config
from tasks.common.task import train_task
from tasks.video_actions import simulate, train
from tasks.video_actions.train import VideoActions
from tasks.video_actions.config import Config, DataConfig, FeaturesConfig
from tasks.video_actions.data import Split, VideoData, load_features
from tasks.video_actions.evaluate import dtw_1nn_baseline
from tasks.video_actions.sequences import (MaskedMeanPool, MaskedTimePool, StrideMask, TimeMask, TimeWarp, build_sequence_model,
                                           cosine_learning_rate, front_end_stride, training_plan)

QUIET = dict(dropout=0.0, augment=0.0)


def raw_features(clips=4, steps=30, seed=0):
    """Channels on very different scales: around 300 (pixels) and around 0.01."""
    rng = np.random.default_rng(seed)
    return np.stack([300 + 40 * rng.normal(size=(clips, steps)), 0.01 + 0.001 * rng.normal(size=(clips, steps))],
                    axis=-1).astype(np.float32)


@pytest.mark.parametrize("front_end", ["conv", "pool", "none"])
def test_padding_is_masked_through_every_front_end(front_end):
    x = raw_features()
    model = build_sequence_model(FeaturesConfig(front_end=front_end, target_steps=10, **QUIET), 3, x)
    for length in (17, 18, 30):  # a multiple of the stride (3) and not
        padded = x[:1].copy()
        padded[0, length:] = 0
        np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(x[:1, :length], verbose=0),
                                   atol=1e-5)


@pytest.mark.parametrize("options", [dict(pooling="mean"), dict(pooling="max"), dict(bidirectional=True),
                                     dict(pooling="mean_max", conv_layers=2), dict(time_warp=0.2, time_crop=0.1),
                                     dict(time_mask=0.3, time_crop=0.0),
                                     dict(bidirectional=True, pooling="mean")])
def test_padding_is_masked_with_pooling_both_directions_and_members(options):
    x = raw_features()
    model = build_sequence_model(FeaturesConfig(target_steps=10, **QUIET, **options), 3, x)
    padded = x[:1].copy()
    padded[0, 17:] = 0
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(x[:1, :17], verbose=0), atol=1e-5)


def test_masked_time_pool_ignores_padded_steps():
    steps = np.array([[[1.0], [3.0], [100.0]]], np.float32)  # the 100 is padding
    real = np.array([[True, True, False]])
    np.testing.assert_allclose(np.asarray(MaskedTimePool("mean")(steps, real)), [[2.0]])
    np.testing.assert_allclose(np.asarray(MaskedTimePool("max")(steps, real)), [[3.0]])
    negative = -steps
    np.testing.assert_allclose(np.asarray(MaskedTimePool("max")(negative, real)), [[-1.0]])


@pytest.mark.parametrize("override, message", [
    ("features.ensemble=3", "key 'features.ensemble' was renamed to 'model.ensemble'"),
    ("data.on_bad_file=skip", "key 'data.on_bad_file' was renamed to 'data.on_bad_row'")])
def test_renamed_keys_name_their_new_name(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Config, None, [override])


def test_features_or_frames_is_decided_once():
    assert train.input_kind(load_config(Config, None, [])) == "frames"
    assert train.input_kind(load_config(Config, None, ["model.backbone=MobileNetV3Small"])) == "backbone"
    sequences = ["data.source=features", "data.path=x.npz"]
    assert train.input_kind(load_config(Config, None, sequences)) == "sequences"
    assert train.input_kind(load_config(Config, None, sequences + ["model.backbone=MobileNetV3Small"])) == "sequences"


def test_masked_time_pool_mean_max_concatenates_both():
    steps = np.array([[[1.0, -4.0], [3.0, -2.0], [100.0, 100.0]]], np.float32)  # the last step is padding
    real = np.array([[True, True, False]])
    np.testing.assert_allclose(np.asarray(MaskedTimePool("mean_max")(steps, real)), [[2.0, -3.0, 3.0, -2.0]])


def test_time_warp_resamples_real_steps_in_order_and_only_in_training():
    x = np.arange(1, 21, dtype=np.float32)[None, :, None].repeat(8, 0)  # a ramp 1..20
    real = np.ones((8, 20), bool)
    real[1, 12:], x[1, 12:] = False, 0  # a clip of 12 real steps
    layer = TimeWarp(warp=0.3, crop=0.1, seed=3)
    warped = np.asarray(layer(x, real, training=True))[..., 0]
    assert (np.diff(warped[0]) > 0).all() and (np.diff(warped[1, :12]) > 0).all()  # time still runs forwards
    assert (warped[1, 12:] == 0).all() and warped[1, :12].max() <= 12  # padding stays, no step read past the end
    assert not np.allclose(warped[0], x[0, :, 0])  # ... but at other moments
    assert warped[:, 0].max() <= 1 + 0.1 * 19 + 1e-4 and warped[0, -1] >= 20 - 0.1 * 19 - 1e-4  # crops <= 10%
    np.testing.assert_array_equal(np.asarray(layer(x, real, training=False)), x)


def test_time_mask_draws_a_line_over_one_span_of_real_steps_only_in_training():
    x = (np.arange(1, 21, dtype=np.float32) ** 2)[None, :, None].repeat(16, 0)  # a parabola: a line differs from it
    real = np.ones((16, 20), bool)
    real[1, 12:], x[1, 12:] = False, 0  # a clip of 12 real steps
    layer = TimeMask(span=0.4, seed=3)
    masked = np.asarray(layer(x, real, training=True))[..., 0]
    changed = masked != x[..., 0]
    assert changed.any() and not changed[1, 12:].any()  # some spans drawn, padding untouched
    for row, clip in zip(changed, masked):
        steps = np.flatnonzero(row)
        if len(steps):  # one contiguous span, at most 40% of the clip, a straight line between its ends
            assert steps[-1] - steps[0] + 1 == len(steps) and len(steps) + 1 <= 0.4 * 20
            line = clip[steps[0] - 1:steps[-1] + 2]
            np.testing.assert_allclose(np.diff(line, 2), 0, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(layer(x, real, training=False)), x)


def test_train_on_val_needs_train_loss_selection():
    with pytest.raises(ConfigError, match="train_on_val needs selection train_loss"):
        load_config(Config, None, ["features.train_on_val=true", "features.selection=val_loss"])


def test_kept_epoch_counts_from_the_first_epoch_of_a_resumed_run(tmp_path):
    # A first process logged epochs 0-3 (best loss at epoch 1), was killed during epoch 4, and a second
    # process redid epoch 3 and ran 4-6; fit() of the second process saw only epochs 3-6.
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_loss\n0,0.9,0.8\n1,0.2,0.7\n2,0.5,0.6\n3,0.6,0.5\n"
                       "3,0.4,0.9\n4,0.3,0.4\n5,0.25,0.45\n6,0.35,0.5\n")
    assert train.kept_epoch(history, "loss") == 2  # 1-based, from the whole run
    assert train.kept_epoch(history, "val_loss") == 5
    assert train.kept_epoch(tmp_path / "missing.csv", "loss") is None


def test_scaling_is_fitted_on_real_training_steps_inside_the_model():
    x = raw_features(clips=8)
    x[:4, 20:] = 0  # padding must not pull the mean towards 0
    model = build_sequence_model(FeaturesConfig(**QUIET), 2, x)
    scaling = model.get_layer("scaling")
    real = np.concatenate([x[:4, :20], x[4:]], axis=1).reshape(-1, 2)
    np.testing.assert_allclose(np.ravel(scaling.mean), real.mean(0), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.ravel(scaling.variance)), real.std(0), rtol=1e-3)


def test_stride_follows_the_training_length_and_the_rnn_is_an_irnn():
    assert front_end_stride(FeaturesConfig(), np.ones((2, 150, 1))) == 3  # the default: ~50 RNN steps
    assert front_end_stride(FeaturesConfig(), np.ones((2, 100, 1))) == 2
    assert front_end_stride(FeaturesConfig(), np.ones((2, 50, 1))) == 2  # every 3rd frame given: min_stride
    assert front_end_stride(FeaturesConfig(target_steps=25), np.ones((2, 150, 1))) == 6
    assert front_end_stride(FeaturesConfig(min_stride=1), np.ones((2, 50, 1))) == 1
    config = FeaturesConfig(target_steps=50, **QUIET)
    assert front_end_stride(config, np.ones((2, 150, 1))) == 3
    assert front_end_stride(FeaturesConfig(front_end="none"), np.ones((2, 150, 1))) == 1
    model = build_sequence_model(config, 2, np.ones((2, 150, 1), np.float32))
    assert model.get_layer("front_end").strides == (3,)
    rnn = model.get_layer("rnn")
    np.testing.assert_allclose(rnn.get_weights()[1], np.eye(64))  # W = I, ReLU: Le et al.'s IRNN
    assert rnn.activation == "relu"


def test_strided_mask_and_mean_pool_use_causal_windows():
    steps = np.arange(1, 8, dtype=np.float32)[None, :, None]  # 1..7
    real = np.array([[True] * 5 + [False] * 2])
    np.testing.assert_array_equal(StrideMask(3)(real), [[True, True, False]])  # windows end at steps 0, 3, 6
    # windows {1}, {2, 3, 4}, {5, (6), (7)}: padded steps do not count
    np.testing.assert_allclose(np.asarray(MaskedMeanPool(3)(steps, real))[0, :, 0], [1.0, 3.0, 5.0])


def test_training_plan_scales_epochs_to_the_data():
    config = FeaturesConfig(updates=1500, batch_size=8, max_epochs=400, min_batches_per_epoch=25)
    assert training_plan(config, 40) == {"batch_size": 8, "repeats": 5, "epochs": 60, "updates": 1500,
                                         "selection": "train_loss"}  # 5 passes of 5 batches per epoch
    assert training_plan(config, 4000) == {"batch_size": 8, "repeats": 1, "epochs": 3, "updates": 1500,
                                           "selection": "train_loss"}  # big sets: few epochs, no repeats
    tiny = training_plan(FeaturesConfig(updates=1500, max_epochs=40), 3)
    assert (tiny["batch_size"], tiny["repeats"], tiny["epochs"], tiny["updates"]) == (3, 25, 40, 1000)  # capped
    lr = cosine_learning_rate(1e-3, 100)
    assert lr(0) == pytest.approx(1e-3) and lr(50) == pytest.approx(5e-4) and lr(99) < 1e-6


@pytest.mark.parametrize("override, message", [("features.target_steps=0", "target_steps must be >= 1"),
                                               ("features.min_stride=0", "min_stride must be >= 1"),
                                               ("features.augment=-1", "augment must be >= 0"),
                                               ("features.front_end=lstm", "must be one of")])
def test_bad_features_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Config, None, [override])


def test_dtw_baseline_matches_warped_shapes_that_euclid_would_confuse():
    # Class 0: one bump early or late (time-shifted); class 1: a dip. 1-NN DTW aligns the shifts.
    t = np.linspace(0, 1, 40)

    def clip(label, shift):
        return ((1 if label == 0 else -1) * np.exp(-((t - 0.3 - shift) ** 2) / 0.005))[:, None]

    def split(shifts):
        labels = np.arange(len(shifts)) % 2
        return Split(np.stack([clip(y, s) for y, s in zip(labels, shifts)]).astype(np.float32), labels, [])

    data = VideoData(split([0.0, 0.0]), split([0.4, 0.4]), split([0.2, 0.25, 0.1, 0.35]), ["bump", "dip"], "x",
                     "features")
    assert dtw_1nn_baseline(data, [])["accuracy"] == 1.0


def test_simulated_set_is_order_dependent_and_loads(tmp_path):
    path = simulate.write_npz(tmp_path / "sim.npz", train=8, val=2, test=4, steps=60, channels=3, stride=3)
    data = load_features(DataConfig(source="features", path=str(path)))
    assert data.train.inputs.shape == (8, 20, 3) and (len(data.val), len(data.test)) == (2, 4)
    assert data.class_names == ["draw", "point"]
    features, labels = simulate.simulate_features(200, steps=150, seed=1)
    draw, point = features[labels == "draw", :, 0], features[labels == "point", :, 0]
    assert abs(draw.mean() - point.mean()) < 0.1  # the mean level does not tell them apart...
    assert draw.min(axis=1).mean() < point.min(axis=1).mean() - 0.05  # ...the dips below rest do


def test_calibrated_variant_is_z_normalized_per_clip_and_unknown_variants_fail(tmp_path):
    features, _ = simulate.simulate_features(6, steps=90, seed=2, variant="calibrated")
    np.testing.assert_allclose(features[..., 0].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(features[..., 0].std(axis=1), 1, atol=1e-4)
    hard, _ = simulate.simulate_features(6, steps=90, seed=2)
    assert np.abs(hard[..., 0].mean(axis=1)).max() > 0.1
    with pytest.raises(ValueError, match="variant must be one of"):
        simulate.simulate_features(6, variant="easy")


def test_the_split_follows_split_seed_only(tmp_path):
    path = tmp_path / "all.npz"
    np.savez(path, features=raw_features(clips=30), labels=np.arange(30) % 2)
    names = lambda **kw: [load_features(DataConfig(source="features", path=str(path), **kw)).test.names]  # noqa: E731
    assert names(split_seed=3) == names(split_seed=3) != names(split_seed=4)


def test_aligned_variant_differs_in_timing_as_well_as_in_the_dips():
    features, labels = simulate.simulate_features(200, steps=150, seed=3, variant="aligned")
    np.testing.assert_allclose(features[..., 0].std(axis=1), 1, atol=1e-4)
    crossing = (features[..., 0] > 0).argmax(axis=1)  # the step where the clip first rises above its mean
    assert crossing[labels == "draw"].mean() > crossing[labels == "point"].mean() + 1  # drawing starts later
    assert np.ptp(crossing) < 0.25 * 150  # clips are roughly aligned: onsets within a quarter of the clip


def test_a_file_without_val_gets_one_held_out_from_train(tmp_path):
    path = tmp_path / "uea.npz"
    np.savez(path, features=raw_features(clips=20), labels=np.arange(20) % 2, split=["train"] * 14 + ["test"] * 6)
    data = load_features(DataConfig(source="features", path=str(path), val_fraction=0.15))
    assert (len(data.train), len(data.val), len(data.test)) == (12, 2, 6)


@pytest.mark.slow
@pytest.mark.parametrize("members, train_on_val", [(1, True), (2, False)])
def test_features_run_reports_plan_baselines_and_gradients(tmp_path, members, train_on_val):
    path = simulate.write_npz(tmp_path / "sim.npz", train=16, val=4, test=8, steps=60)
    overrides = [f"data.path={path}", "data.source=features", "data.reversal_pairs=[]", "features.updates=20",
                 "features.min_batches_per_epoch=1", f"model.ensemble={members}",
                 "features.rnn_units=8", f"train.runs_dir={tmp_path / 'runs'}", f"train.export_dir={tmp_path / 'ex'}",
                 "train.histogram_freq=0", "train.steps_per_execution=1", f"features.train_on_val={train_on_val}"]
    result = train_task(VideoActions(), ["--run-dir", str(tmp_path / "run")] + [a for o in overrides for a in ("--set", o)])
    metrics = result.metrics
    assert set(metrics["baselines"]) == {"order_blind", "dtw_1nn"} and metrics["ensemble_members"] == members
    plan, fitted = metrics["training"], 20 if train_on_val else 16  # 16 train clips, + 4 val clips
    epochs = -(-20 // -(-fitted // 8))  # 20 updates in batches of 8
    assert metrics["split_sizes"] == {"train": 16, "val": 4, "test": 8} and result.loaded.num_train == fitted
    assert plan["epochs"] == epochs and plan["batch_size"] == 8 and plan["front_end_stride"] == 2
    assert [m["seed"] for m in plan["members"]] == [42 + k for k in range(members)]
    for member in plan["members"]:
        assert member["epochs_run"] == epochs and 1 <= member["kept_epoch"] <= epochs
    assert plan["selection"] == "train_loss"
    assert plan["vanishing_gradient"]["at_start"]["steps"] == 30 and plan["vanishing_gradient"]["at_end"]["last_step"] > 0
    if members > 1:  # each member in its own members/<k>/, the model the mean of their probabilities
        assert all((result.run.run_dir / "members" / str(k) / "history.csv").exists() for k in range(members))
        x = np.load(path)["features"][:3]
        np.testing.assert_allclose(result.model.predict(x, verbose=0),
                                   np.mean([m.predict(x, verbose=0) for m in result.trained.members], axis=0), atol=1e-6)
    # The export takes raw, unscaled features and gives what the model gives.
    import tensorflow as tf

    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    raw = np.load(path)["features"][:2]
    np.testing.assert_allclose(served(features=tf.constant(raw))["probabilities"].numpy(),
                               result.model.predict(raw, verbose=0), atol=1e-5)


def test_vanishing_picture_reads_trained_weights_of_the_defaults(tmp_path):
    from rnn_layers.vanishing import state_gradient_norms
    from tasks.video_actions.plots import vanishing_gradient_figure

    path = simulate.write_npz(tmp_path / "sim.npz", train=8, val=2, test=2, steps=60)
    inputs = load_features(DataConfig(source="features", path=str(path))).train
    trained = build_sequence_model(FeaturesConfig(), 2, inputs.inputs)
    trained.get_layer(index=-1).set_weights([w + 0.5 for w in trained.get_layer(index=-1).get_weights()])
    trained.save_weights(tmp_path / "best.weights.h5")
    trained.compile(loss="sparse_categorical_crossentropy")
    norms = state_gradient_norms(trained, inputs.inputs, inputs.labels)
    firsts = vanishing_gradient_figure(str(path), str(tmp_path / "v.png"), trained_weights=str(tmp_path / "best.weights.h5"))
    assert (tmp_path / "v.png").stat().st_size > 0
    assert firsts["defaults after training (3000 updates)"] == pytest.approx(norms[0] / norms[-1], rel=1e-5)
    assert firsts["before: tanh, orthogonal W, every frame"] < firsts["IRNN (ReLU, W = I), every frame"]
    with pytest.raises(ValueError):  # weights of another model are refused, not silently half-loaded
        other = build_sequence_model(FeaturesConfig(rnn_units=8), 2, inputs.inputs)
        other.save_weights(tmp_path / "other.weights.h5")
        vanishing_gradient_figure(str(path), str(tmp_path / "w.png"), trained_weights=str(tmp_path / "other.weights.h5"))
