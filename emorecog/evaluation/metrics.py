"""Classification metrics reported side by side with the majority-class baseline.

Every figure is a plain function of label arrays, computed by scikit-learn (`sklearn.metrics`) and checked
against hand-computed values:

    CR (classification rate, paper eq. 12) = accuracy = correct / all
    F1 (macro)          = mean over the two classes of 2 * precision * recall / (precision + recall)
                          (a class never present and never predicted scores 0: zero_division=0)
    balanced accuracy   = mean over the classes present in the labels of their recall

The majority-class baseline always predicts the most frequent class of the TRAIN split (ties go to class 0)
and is scored on the evaluated split, which is what a trivial model trained on the same data would do.
"""

import warnings

import numpy as np
from sklearn import metrics as sklearn_metrics

CLASS_IDS = (0, 1)


def majority_class(train_labels):
    """The most frequent label of the training split (ties -> the smaller class id).

    Args:
        train_labels: int array [N] of 0/1 labels.

    Returns:
        int, 0 or 1.
    """
    train_labels = _as_labels(train_labels, "train_labels")
    if train_labels.size == 0:
        raise ValueError("cannot choose a majority class from an empty training split")
    return int(np.argmax(np.bincount(train_labels, minlength=len(CLASS_IDS))))


def confusion_matrix(labels, predictions):
    """Counts [2, 2]: row = true class, column = predicted class."""
    labels = _as_labels(labels, "labels")
    predictions = _as_labels(predictions, "predictions")
    if labels.size == 0:
        return np.zeros((len(CLASS_IDS), len(CLASS_IDS)), dtype=np.int64)
    return sklearn_metrics.confusion_matrix(labels, predictions, labels=list(CLASS_IDS)).astype(np.int64)


def classification_scores(labels, predictions):
    """CR (accuracy), macro F1, balanced accuracy and per-class F1 of binary predictions.

    Args:
        labels: int array [N], true classes (0/1).
        predictions: int array [N], predicted classes (0/1).

    Returns:
        A JSON-ready dict: num_samples, accuracy, f1_macro, balanced_accuracy, f1_per_class [2],
        confusion_matrix [[2], [2]] (row = true class), class_counts [2].
        With N = 0 the scores are None.
    """
    labels = _as_labels(labels, "labels")
    predictions = _as_labels(predictions, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in length")
    matrix = confusion_matrix(labels, predictions)
    total = int(labels.size)
    class_counts = matrix.sum(axis=1)
    if total == 0:
        return {
            "num_samples": 0,
            "accuracy": None,
            "f1_macro": None,
            "balanced_accuracy": None,
            "f1_per_class": [None, None],
            "confusion_matrix": matrix.tolist(),
            "class_counts": class_counts.tolist(),
        }
    f1_per_class = sklearn_metrics.f1_score(labels, predictions, labels=list(CLASS_IDS), average=None, zero_division=0)
    with warnings.catch_warnings():
        # One class only in the labels: sklearn warns, and averages the recall of the classes present, as meant.
        warnings.simplefilter("ignore", UserWarning)
        balanced_accuracy = sklearn_metrics.balanced_accuracy_score(labels, predictions)
    return {
        "num_samples": total,
        "accuracy": float(sklearn_metrics.accuracy_score(labels, predictions)),
        "f1_macro": float(np.mean(f1_per_class)),
        "balanced_accuracy": float(balanced_accuracy),
        "f1_per_class": [float(value) for value in f1_per_class],
        "confusion_matrix": matrix.tolist(),
        "class_counts": class_counts.tolist(),
    }


def majority_baseline_scores(labels, baseline_class):
    """The scores of always predicting `baseline_class` on `labels` (see `classification_scores`)."""
    labels = _as_labels(labels, "labels")
    scores = classification_scores(labels, np.full_like(labels, baseline_class))
    return {"class_id": int(baseline_class), "source": "train split", **scores}


def evaluation_report(labels, predictions, subjects, baseline_class, glimpse_counts=None):
    """Overall and per-subject scores of a model next to the majority-class baseline.

    Args:
        labels: int [N] true classes.
        predictions: int [N] model classes.
        subjects: str [N] subject id of each sample (e.g. "s01").
        baseline_class: the TRAIN split's majority class (`majority_class`).
        glimpse_counts: optional int [N], glimpses the model used per sample.

    Returns:
        A JSON-ready dict: the overall `classification_scores`, `majority_baseline` (its scores on the same
        labels), `glimpses` (mean/min/max when given) and `per_subject` {subject: scores + baseline}.
    """
    labels = _as_labels(labels, "labels")
    predictions = _as_labels(predictions, "predictions")
    subjects = np.asarray([str(subject) for subject in subjects])
    if subjects.shape != labels.shape:
        raise ValueError(f"subjects {subjects.shape} and labels {labels.shape} differ in length")
    report = classification_scores(labels, predictions)
    report["majority_baseline"] = majority_baseline_scores(labels, baseline_class)
    if glimpse_counts is not None:
        counts = np.asarray(glimpse_counts, dtype=np.float64).reshape(-1)
        report["glimpses"] = _summary(counts)
    per_subject = {}
    for subject in sorted(set(subjects.tolist())):
        chosen = subjects == subject
        scores = classification_scores(labels[chosen], predictions[chosen])
        baseline = majority_baseline_scores(labels[chosen], baseline_class)
        scores["majority_baseline_accuracy"] = baseline["accuracy"]
        scores["majority_baseline_f1_macro"] = baseline["f1_macro"]
        per_subject[subject] = scores
    report["per_subject"] = per_subject
    return report


def mean_and_spread(values):
    """Mean, standard deviation (ddof=0), min and max of a list of numbers (None entries skipped)."""
    kept = np.asarray([value for value in values if value is not None], dtype=np.float64)
    if kept.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "count": 0}
    return {
        "mean": float(kept.mean()),
        "std": float(kept.std()),
        "min": float(kept.min()),
        "max": float(kept.max()),
        "count": int(kept.size),
    }


def _summary(values):
    if values.size == 0:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def _as_labels(values, name):
    array = np.asarray(values).reshape(-1)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"{name} must hold class ids 0 or 1, got non-integer values")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must hold class ids 0 or 1, got values in [{array.min()}, {array.max()}]")
    return array
