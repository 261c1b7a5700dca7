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
