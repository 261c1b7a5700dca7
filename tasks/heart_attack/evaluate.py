"""Risk metrics, the two logistic-regression baselines, and the ROC and calibration figures.

Both baselines get the model's preprocessing, fitted on the training split only: the same imputation
(carry the patient's previous value forward, else the training mean), a missing flag per value, then
standardization. `last_visit_logistic` sees each patient's latest
present visit; `all_visits_logistic` sees all K visits flattened into one row (K x F columns, aligned on
the latest visit), so it could in principle weigh changes between visits, but only linearly and
position by position.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no screen on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss, roc_auc_score,  # noqa: E402
                             roc_curve)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tasks.heart_attack.model import carry_forward  # noqa: E402


def risk_metrics(labels: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score and log loss of predicted risks."""
    risk = np.clip(np.asarray(risk, dtype=np.float64), 0.0, 1.0)
    return {"roc_auc": float(roc_auc_score(labels, risk)),
            "pr_auc": float(average_precision_score(labels, risk)),
            "brier": float(brier_score_loss(labels, risk)),
            "log_loss": float(log_loss(labels, risk, labels=[0, 1])),
            "positive_rate": float(np.mean(labels)),
            "patients": int(len(labels))}


def last_present_visit_index(exams: np.ndarray, presence_features: int | None = None) -> np.ndarray:
    """(N,) index of each patient's latest visit with any measurement (the last index if there is none)."""
    present = (~np.isnan(exams[..., :presence_features or exams.shape[-1]])).any(axis=-1)  # (N, T)
    return exams.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)


def flatten_visits(exams: np.ndarray) -> np.ndarray:
    """(N, T * F): the visits side by side, oldest first."""
    return exams.reshape(len(exams), -1)


BASELINES = ("last_visit_logistic", "all_visits_logistic")


def baseline_rows(exams: np.ndarray, imputation: str = "carry_forward",
                  presence_features: int | None = None) -> dict[str, np.ndarray]:
    """{baseline name: the one row per patient it sees}: values imputed as the model does (once for
    both), then the missing flags. Values with no earlier measurement stay NaN, for the mean imputer."""
    missing = np.isnan(exams)
    values = np.asarray(carry_forward(exams, missing)) if imputation == "carry_forward" else exams
    last, rows = last_present_visit_index(exams, presence_features), np.arange(len(exams))
    return {"last_visit_logistic": np.concatenate([values[rows, last], missing[rows, last]], axis=-1),
            "all_visits_logistic": np.concatenate([flatten_visits(values), flatten_visits(missing)], axis=-1)}


def fit_baselines(train, test, c: float = 1.0, imputation: str = "carry_forward",
                  presence_features: int | None = None, seed: int = 0):
    """Fits both baselines on `train` (a Cohort) -> ({name: metrics on test}, {name: risks on test})."""
    metrics, risks = {}, {}
    train_rows = baseline_rows(train.exams, imputation, presence_features)
    test_rows = baseline_rows(test.exams, imputation, presence_features)
    for name in BASELINES:
        pipeline = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                                 LogisticRegression(C=c, max_iter=5000, random_state=seed))
        pipeline.fit(train_rows[name], train.labels)
        risks[name] = pipeline.predict_proba(test_rows[name])[:, 1]
        metrics[name] = risk_metrics(test.labels, risks[name])
    return metrics, risks


def roc_figure(labels: np.ndarray, risks: dict[str, np.ndarray], title: str = "ROC curve"):
    """ROC curves of several risk predictions on the same patients, AUC in the legend."""
    figure, axes = plt.subplots(figsize=(5, 5))
    for name, risk in risks.items():
        false_positive, true_positive, _ = roc_curve(labels, risk)
        axes.plot(false_positive, true_positive, label=f"{name} (AUC {roc_auc_score(labels, risk):.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right", fontsize=8)
    return figure


def calibration_figure(labels: np.ndarray, risks: dict[str, np.ndarray], bins: int = 10,
                       title: str = "calibration"):
    """Observed rate against mean predicted risk in quantile bins: on the diagonal = calibrated."""
    figure, axes = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, risk in risks.items():
        observed, predicted = calibration_curve(labels, np.clip(risk, 0, 1), n_bins=bins, strategy="quantile")
        axes.plot(predicted, observed, marker="o", markersize=3,
                  label=f"{name} (Brier {brier_score_loss(labels, np.clip(risk, 0, 1)):.4f})")
        top = max(top, predicted.max(), observed.max())
    top = min(1.0, top * 1.05 + 0.01)
    axes.plot([0, top], [0, top], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="mean predicted risk", ylabel="observed heart-attack rate", title=title,
             xlim=(0, top), ylim=(0, top))
    axes.legend(loc="upper left", fontsize=8)
    return figure


def figures(labels: np.ndarray, risks: dict[str, np.ndarray], split: str) -> dict:
    """{"<split>/roc": figure, "<split>/calibration": figure} for TensorBoard."""
    return {f"{split}/roc": roc_figure(labels, risks, f"ROC curve ({split})"),
            f"{split}/calibration": calibration_figure(labels, risks, title=f"calibration ({split})")}
