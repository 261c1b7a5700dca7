"""The linear model the heart_attack network starts from: which inputs and which L2 strength.

On a cohort explained by the latest exam, a regression on the latest visit is the model to beat; on one
where the history matters (pbcseq, the built-in cohort), adding the mean of the patient's visits gives the
regression most of what the trajectory holds, at the cost of 2F more weights. Which one a cohort needs, and
how strongly to shrink it, is chosen by 5-fold cross-validated ROC-AUC on the training patients only (the
validation patients stay for early stopping), among `model.linear_inputs` x `model.linear_c`.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from tasks.heart_attack.model import LINEAR_INPUTS, linear_block_model

log = logging.getLogger(__name__)

FOLDS = 5


@dataclasses.dataclass(frozen=True)
class LinearStart:
    """The chosen linear path: its inputs (a key of LINEAR_INPUTS), C, and each candidate's CV ROC-AUC."""

    inputs: str
    c: float
    cv_roc_auc: dict[str, float]  # "<inputs> C=<c>" -> mean ROC-AUC over the folds; empty when nothing was chosen

    def report(self) -> dict:
        return {"inputs": self.inputs, "c": self.c, "cv_roc_auc": self.cv_roc_auc}


def candidates(model_config) -> list[tuple[str, float]]:
    """(inputs, C) pairs to try, simplest first: fewer inputs, then stronger shrinkage wins a tie."""
    inputs = list(LINEAR_INPUTS) if model_config.linear_inputs == "auto" else [model_config.linear_inputs]
    return [(name, c) for name in inputs for c in sorted(model_config.linear_c)]


def cv_roc_auc(features: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, c: float, folds: int,
               seed: int = 0) -> float:
    """Mean held-out ROC-AUC of the weighted logistic regression over stratified folds of the patients."""
    scores = []
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        regression = LogisticRegression(C=c, max_iter=5000)
        regression.fit(features[fit], labels[fit], sample_weight=None if weights is None else weights[fit])
        scores.append(roc_auc_score(labels[held], regression.decision_function(features[held])))
    return float(np.mean(scores))


def choose_linear_start(model_config, n_features: int, mean, std, presence_features, exams: np.ndarray,
                        labels: np.ndarray, class_weight: dict | None, log_floor=None) -> LinearStart:
    """The (inputs, C) with the best cross-validated ROC-AUC on the training patients (`exams`, `labels`),
    on the model's own linear-path features and weighted like the network's loss. With one candidate, or
    fewer than 2 patients of a label per fold, the first (simplest) candidate, unscored."""
    options = candidates(model_config)
    folds = min(FOLDS, int(np.bincount(labels, minlength=2).min()))
    if len(options) == 1 or folds < 2:
        if len(options) > 1:
            log.warning("too few patients of each label to cross-validate the linear start; using %s, C=%g",
                        *options[0])
        return LinearStart(*options[0], {})
    blocks = linear_block_model(model_config, n_features, mean, std, presence_features, log_floor).predict(
        exams, batch_size=1024, verbose=0)
    weights = None if class_weight is None else np.where(labels == 1, class_weight[1], class_weight[0])
    scores = {}
    for inputs, c in options:
        features = np.concatenate([blocks[block] for block in LINEAR_INPUTS[inputs]], axis=-1)
        scores[f"{inputs} C={c:g}"] = cv_roc_auc(features, labels, weights, c, folds)
    best = max(range(len(options)), key=lambda i: (scores[f"{options[i][0]} C={options[i][1]:g}"], -i))
    chosen = LinearStart(*options[best], scores)
    log.info("linear start: %s, C=%g (%d-fold CV ROC-AUC on the training patients: %s)", chosen.inputs, chosen.c, folds,
             ", ".join(f"{name} {score:.4f}" for name, score in scores.items()))
    return chosen
