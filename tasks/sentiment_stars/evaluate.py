"""Test metrics for star predictions, the bag-of-words baseline and the TensorBoard confusion matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from tasks.common.tensorboard import confusion_matrix_figure
from tasks.common.text import standardized
from tasks.sentiment_stars.decision import decide

STARS = [1, 2, 3, 4, 5]


def star_metrics(true_stars, predicted_stars, order_dependent) -> dict:
    """accuracy, macro_f1, mae_stars overall; order_dependent_accuracy on the marked rows (None if there are none)."""
    true_stars, predicted_stars = np.asarray(true_stars), np.asarray(predicted_stars)
    subset = np.asarray(order_dependent, dtype=bool)
    return {
        "accuracy": accuracy_score(true_stars, predicted_stars),
        "macro_f1": f1_score(true_stars, predicted_stars, labels=STARS, average="macro", zero_division=0),
        "mae_stars": float(np.mean(np.abs(true_stars - predicted_stars))),
        "order_dependent_accuracy": (accuracy_score(true_stars[subset], predicted_stars[subset])
                                     if subset.any() else None),
    }


def predict_stars(model, texts, decision: str = "argmax", batch_size: int = 256) -> np.ndarray:
    """Stars 1..5 for raw texts, by the same decision as the export."""
    probabilities = model.predict(tf.constant(list(texts)), batch_size=batch_size, verbose=0)
    return decide(probabilities, decision).numpy()


def bag_of_words_baseline(train: pd.DataFrame, test: pd.DataFrame, seed: int, class_weighting: bool) -> dict:
    """TF-IDF unigrams + logistic regression: sees which words occur, not their order."""
    vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, sublinear_tf=True)
    features = vectorizer.fit_transform(standardized(train.text.tolist()))
    classifier = LogisticRegression(max_iter=2000, C=10.0, random_state=seed,
                                    class_weight="balanced" if class_weighting else None)
    classifier.fit(features, train.stars)
    predicted = classifier.predict(vectorizer.transform(standardized(test.text.tolist())))
    return star_metrics(test.stars, predicted, test.order_dependent)


def confusion_figure(true_stars, predicted_stars, title: str):
    matrix = confusion_matrix(true_stars, predicted_stars, labels=STARS)
    return confusion_matrix_figure(matrix, [f"{s}★" for s in STARS], title=title)


def tfidf_logistic_baseline(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    """What a user of real reviews tries first: TF-IDF word 1-2-grams (min_df 2, sublinear tf) + LogisticRegression(C=4).

    scikit-learn's own lowercasing and tokenizer, as a user would call it; no class weights.
    """
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)
    features = vectorizer.fit_transform(train.text.tolist())
    classifier = LogisticRegression(C=4.0, max_iter=3000, random_state=seed).fit(features, train.stars)
    predicted = classifier.predict(vectorizer.transform(test.text.tolist()))
    return star_metrics(test.stars, predicted, test.order_dependent)
