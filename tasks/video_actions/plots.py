"""Figures: the frames a clip was sampled into, for TensorBoard and the notebook."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no screen on training machines; notebooks display the returned figure anyway
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def sampled_frames_figure(split, class_names, clips: int = 4, max_frames: int = 15, seed: int = 0):
    """One row per clip (random clips of the split): its sampled frames in order, padding left blank."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(split), size=min(clips, len(split)), replace=False)
    columns = min(max_frames, split.inputs.shape[1])
    figure, axes = plt.subplots(len(chosen), columns, figsize=(columns * 0.9, len(chosen) * 1.1), squeeze=False)
    for row, index in enumerate(chosen):
        length = int((split.inputs[index].reshape(split.inputs.shape[1], -1) != 0).any(axis=1).sum())
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            if column < length:
                axis.imshow(split.inputs[index, column])
                axis.set_title(f"{column}s", fontsize=6)
        axes[row, 0].text(-0.1, 0.5, class_names[split.labels[index]], transform=axes[row, 0].transAxes,
                          ha="right", va="center", fontsize=8)
    figure.suptitle(f"frames sampled at 1 per step (first {columns} of {split.inputs.shape[1]})", fontsize=9)
    return figure


def vanishing_gradient_figure(path_npz: str, out_png: str, seed: int = 0, trained_weights: str | None = None):
    """||dL/ds_t|| at initialization on a features .npz's training clips, for the plain vanilla RNN (before:
    tanh, orthogonal W, every frame, softmax on s_T) and the cures (IRNN; IRNN + one strided Conv1D; the
    defaults: IRNN behind a full-resolution and a strided Conv1D, softmax on the mean and max of every s_t);
    with `trained_weights` (a default-settings run's checkpoints/best.weights.h5 on the same .npz) also the
    defaults after training. Returns each curve's first step. The docs' picture: `python -c "from
    tasks.video_actions.plots import vanishing_gradient_figure as f; print(f('sim.npz',
    'docs/images/video_actions_vanishing.png', trained_weights='run/checkpoints/best.weights.h5'))"`."""
    import keras

    from rnn_layers.vanishing import plot_norms_over_time, state_gradient_norms
    from tasks.video_actions.config import DataConfig, FeaturesConfig
    from tasks.video_actions.data import load_features
    from tasks.video_actions.sequences import build_sequence_model

    data = load_features(DataConfig(source="features", path=path_npz, split_seed=seed))
    inputs, labels = data.train.inputs, data.train.labels
    last = dict(pooling="last")  # the lesson's many to one: only s_T reaches the softmax
    variants = {"before: tanh, orthogonal W, every frame": dict(activation="tanh", recurrent_initializer="orthogonal",
                                                                front_end="none", **last),
                "IRNN (ReLU, W = I), every frame": dict(front_end="none", **last),
                "IRNN + one strided Conv1D": dict(conv_layers=1, **last),
                "defaults: IRNN + 2 Conv1D (strided), mean and max of s_t": {}}
    curves = {}
    for name, options in variants.items():
        keras.utils.set_random_seed(seed)
        model = build_sequence_model(FeaturesConfig(dropout=0.0, augment=0.0, **options), len(data.class_names),
                                     inputs)
        model.compile(loss="sparse_categorical_crossentropy")
        norms = state_gradient_norms(model, inputs, labels)
        curves[name] = norms / norms[-1]  # relative to the last step: how much reaches step t
    if trained_weights:
        model = build_sequence_model(FeaturesConfig(), len(data.class_names), inputs)  # as trained: the defaults
        model.load_weights(trained_weights)
        model.compile(loss="sparse_categorical_crossentropy")
        norms = state_gradient_norms(model, inputs, labels)
        curves["defaults after training (3000 updates)"] = norms / norms[-1]
    title = "||dL/ds_t|| / ||dL/ds_T|| at initialization" + (" and after training" if trained_weights else "")
    figure = plot_norms_over_time(curves, title, "relative gradient norm")
    figure.axes[0].set_xlabel(f"RNN step t (the strided models see about {FeaturesConfig().target_steps} steps)")
    figure.axes[0].legend(loc="lower right", fontsize=7)  # below the plain RNN's rising curve, clear of the lines
    figure.savefig(out_png, dpi=90)
    return {name: float(c[0]) for name, c in curves.items()}
