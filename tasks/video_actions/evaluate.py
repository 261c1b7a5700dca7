"""The lesson's claim, measured: accuracy in order, with frames shuffled or reversed, and an order-blind baseline.

- `shuffle_steps` / `reverse_steps` permute the real (unmasked) steps of each clip and leave padding at the end.
- The order-blind baseline averages the trained model's per-frame features over the real frames and fits a
  logistic regression on the averages: the same features, with order thrown away.
- Accuracy on the reversal pairs (classes that are each other's reversal in time) is where order must matter:
  an order-blind model sits near 0.5 there (it finds the pair, not the direction); on the built-in clips,
  where every clip's reversal is in the same split, at most 0.5 exactly.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix

log = logging.getLogger(__name__)


def step_lengths(inputs: np.ndarray) -> np.ndarray:
    """Real steps per clip: steps are padding when all their values are zero (and come last)."""
    return (inputs.reshape(inputs.shape[:2] + (-1,)) != 0).any(axis=-1).sum(axis=1)


def shuffle_steps(inputs: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each clip's real steps in a random order; padding stays at the end."""
    rng = np.random.default_rng(seed)
    shuffled = inputs.copy()
    for i, length in enumerate(step_lengths(inputs)):
        shuffled[i, :length] = inputs[i, rng.permutation(length)]
    return shuffled


def reverse_steps(inputs: np.ndarray) -> np.ndarray:
    """Each clip played backwards; padding stays at the end."""
    reversed_ = inputs.copy()
    for i, length in enumerate(step_lengths(inputs)):
        reversed_[i, :length] = inputs[i, :length][::-1]
    return reversed_


def pair_indices(reversal_pairs, class_names) -> list[tuple[int, int]]:
    """Configured reversal pairs as class indices; pairs naming a class the data lacks are left out, with a warning."""
    pairs = []
    for first, second in reversal_pairs:
        missing = [c for c in (first, second) if c not in class_names]
        if missing:
            log.warning("reversal pair %s/%s ignored: no class %s in the data", first, second, missing)
            continue
        pairs.append((class_names.index(first), class_names.index(second)))
    return pairs


def classification_metrics(labels, predicted, class_names, pairs) -> dict:
    """accuracy, per-class accuracy and, when the data has reversal pairs, accuracy on their clips."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    metrics = {"accuracy": float(np.mean(labels == predicted)) if len(labels) else None,
               "per_class_accuracy": {name: float(np.mean(predicted[labels == i] == i)) if np.any(labels == i)
                                      else None for i, name in enumerate(class_names)}}
    in_pairs = np.isin(labels, [c for pair in pairs for c in pair])
    metrics["reversal_pairs_accuracy"] = float(np.mean(labels[in_pairs] == predicted[in_pairs])) \
        if in_pairs.any() else None
    return metrics


def predict_batches(model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """model(inputs) batch by batch; unlike model.predict it accepts an empty split and any steps_per_execution."""
    outputs = [np.asarray(model(inputs[start:start + batch_size], training=False))
               for start in range(0, len(inputs), batch_size)]
    if not outputs:
        return np.zeros((0,) + tuple(d or 0 for d in model.output_shape[1:]), np.float32)
    return np.concatenate(outputs)


def predict_classes(model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """Class indices of each clip."""
    return np.argmax(predict_batches(model, inputs, batch_size), axis=-1)


def evaluate_order(model, split, class_names, pairs, batch_size: int, seed: int) -> tuple[dict, np.ndarray]:
    """Test metrics of the RNN in order, on shuffled frames and on reversed frames; plus the confusion matrix."""
    predicted = predict_classes(model, split.inputs, batch_size)
    metrics = classification_metrics(split.labels, predicted, class_names, pairs)
    shuffled = classification_metrics(split.labels, predict_classes(model, shuffle_steps(split.inputs, seed),
                                                                     batch_size), class_names, pairs)
    metrics["shuffled_frames_accuracy"] = shuffled["accuracy"]
    metrics["shuffled_frames_reversal_pairs_accuracy"] = shuffled["reversal_pairs_accuracy"]
    if pairs:
        # Played backwards, a pair's clip should be read as its partner: how often does the RNN say so?
        partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
        in_pairs = np.isin(split.labels, list(partner))
        backwards = predict_classes(model, reverse_steps(split.inputs[in_pairs]), batch_size)
        expected = np.array([partner[label] for label in split.labels[in_pairs]])
        metrics["reversed_pairs_read_as_partner"] = float(np.mean(backwards == expected)) if len(expected) else None
    matrix = confusion_matrix(split.labels, predicted, labels=range(len(class_names)))
    return metrics, matrix


def masked_mean(features: np.ndarray) -> np.ndarray:
    """(clips, T, F) -> (clips, F): mean over real steps (all-zero rows are padding)."""
    lengths = np.maximum(step_lengths(features), 1)
    return features.sum(axis=1) / lengths[:, None]


def order_blind_baseline(features_of, data, pairs, c: float, seed: int) -> dict:
    """Mean of per-frame features -> logistic regression; `features_of(inputs)` gives (clips, T, F) features."""
    train_x = np.concatenate([masked_mean(features_of(data.train.inputs)), masked_mean(features_of(data.val.inputs))])
    train_y = np.concatenate([data.train.labels, data.val.labels])
    classifier = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    mean, scale = train_x.mean(0), train_x.std(0) + 1e-6  # standardize: features differ in scale
    classifier.fit((train_x - mean) / scale, train_y)
    predicted = classifier.predict((masked_mean(features_of(data.test.inputs)) - mean) / scale)
    return classification_metrics(data.test.labels, predicted, data.class_names, pairs)


def dtw_1nn_baseline(data, pairs) -> dict:
    """1-nearest-neighbour DTW (dtaidistance, C; no warping window) from the test clips to train + val clips.

    The classic baseline for feature sequences, on the features as given (no rescaling) and only their
    real steps, so clips of different lengths are compared as they are.
    """
    from dtaidistance import dtw_ndim

    reference = [data.train, data.val]
    series = [clip[:length].astype(np.float64) for split in [data.test] + reference
              for clip, length in zip(split.inputs, step_lengths(split.inputs))]
    tests = len(data.test)
    if not tests:
        return classification_metrics([], [], data.class_names, pairs)
    distances = dtw_ndim.distance_matrix_fast(series, block=((0, tests), (tests, len(series))), compact=False,
                                              parallel=False)[:tests, tests:]  # (test, train + val)
    labels = np.concatenate([split.labels for split in reference])
    return classification_metrics(data.test.labels, labels[np.argmin(distances, axis=1)], data.class_names, pairs)
