"""ROC and precision-recall points computed with scikit-learn's own functions."""

from __future__ import annotations

import numpy as np


def _binary_scores(y_true, y_score, classes, pos_label):
    """(y_true == pos_label, score of pos_label) for binary or one-vs-rest."""
    if y_score is None or classes is None:
        return None
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if pos_label is None:
        pos_label = classes[-1]
    index = list(classes).index(pos_label)
    if y_score.ndim == 2:
        column = y_score[:, index]
    elif len(classes) == 2:
        column = y_score if index == 1 else -y_score
    else:
        return None
    return (y_true == pos_label).astype(int), column, pos_label


def roc_points(y_true, y_score, classes, pos_label=None) -> dict | None:
    from sklearn.metrics import auc, roc_curve

    got = _binary_scores(y_true, y_score, classes, pos_label)
    if got is None:
        return None
    truth, score, label = got
    fpr, tpr, thresholds = roc_curve(truth, score)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": float(auc(fpr, tpr)), "pos_label": label}


def pr_points(y_true, y_score, classes, pos_label=None) -> dict | None:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    got = _binary_scores(y_true, y_score, classes, pos_label)
    if got is None:
        return None
    truth, score, label = got
    precision, recall, thresholds = precision_recall_curve(truth, score)
    return {
        "precision": precision,
        "recall": recall,
        "thresholds": thresholds,
        "average_precision": float(average_precision_score(truth, score)),
        "pos_label": label,
    }
