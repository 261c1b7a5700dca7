"""Images for TensorBoard: matplotlib figures written as image summaries, and a confusion matrix."""
from __future__ import annotations

import io

import keras
import matplotlib

matplotlib.use("Agg")  # no screen on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def figure_to_image(figure) -> tf.Tensor:
    """A matplotlib figure as a (1, H, W, 4) uint8 tensor; closes the figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return tf.expand_dims(tf.image.decode_png(buffer.getvalue(), channels=4), 0)


def confusion_matrix_figure(matrix, class_names, title: str = "confusion matrix"):
    """Counts with row-normalized colours (rows = true class), so rare classes stay readable."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.55 * len(class_names)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set(xticks=range(len(class_names)), yticks=range(len(class_names)), xlabel="predicted", ylabel="true",
             title=title)
    axes.set_xticklabels(class_names, rotation=45, ha="right")
    axes.set_yticklabels(class_names)
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black",
                  fontsize=8)
    figure.colorbar(image, ax=axes, fraction=0.046)
    return figure


class ImageLogger(keras.callbacks.Callback):
    """Every `every` epochs, calls `make_figures(epoch)` -> {name: figure} and logs them under run's TensorBoard dir."""

    def __init__(self, log_dir, make_figures, every: int = 1):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir) + "/images")
        self.make_figures, self.every = make_figures, every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        with self.writer.as_default(step=epoch):
            for name, figure in self.make_figures(epoch).items():
                tf.summary.image(name, figure_to_image(figure))
        self.writer.flush()


def log_figures(log_dir, figures: dict, step: int = 0) -> None:
    """Writes figures once (e.g. final test-set plots) under the run's TensorBoard dir."""
    writer = tf.summary.create_file_writer(str(log_dir) + "/images")
    with writer.as_default(step=step):
        for name, figure in figures.items():
            tf.summary.image(name, figure_to_image(figure))
    writer.flush()
