"""The classical baseline every evaluation reports: per-trial band powers + logistic regression.

    features of a trial = [mean_t v_t ; max_t v_t],   v_t = the band energies of frame t per electrode
                                                            (or per scalp region) and band
    model               = StandardScaler -> LogisticRegression(C), fitted on the TRAIN split,
                          C chosen by macro F1 on the EVAL split (ties -> the smaller C), test never seen

The records hold EEG band images, not electrode values. Each image is a fixed linear map M [H*W, C] of the
frame's C electrode values (the Clough-Tocher operator of ExampleGen), so the electrode values are
recovered exactly by least squares: v = pinv(M) image. When the records' electrode layout is unknown
(e.g. planted test tensors) the projection averages the image over a grid of scalp regions instead.

A deep model that does not beat this baseline has not earned its cost.
"""

import numpy as np

REGULARISATION_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def region_projection(height, width, grid_size=4):
    """[H*W, grid_size^2] averaging matrix: column r averages the pixels of scalp region r."""
    rows = np.minimum(np.arange(height) * grid_size // height, grid_size - 1)
    columns = np.minimum(np.arange(width) * grid_size // width, grid_size - 1)
    region = (rows[:, None] * grid_size + columns[None, :]).reshape(-1)
    projection = np.zeros((height * width, grid_size * grid_size), np.float32)
    projection[np.arange(height * width), region] = 1.0
    return projection / projection.sum(axis=0, keepdims=True)


def electrode_projection(interpolation_matrix):
    """[H*W, C] least-squares inverse of the image operator M [H*W, C]: electrode values = image @ it."""
    return np.linalg.pinv(np.asarray(interpolation_matrix, np.float64)).T.astype(np.float32)


def trial_features(eeg, projection):
    """Per-trial band-power features.

    Args:
        eeg: float [N, T, H, W, B] band images.
        projection: float [H*W, P] (electrodes or regions).

    Returns:
        float32 [N, 2 * P * B]: the mean over time, then the max over time, of every (electrode, band).
    """
    eeg = np.asarray(eeg, np.float32)
    count, frames, height, width, bands = eeg.shape
    values = np.einsum("nthb,hp->ntpb", eeg.reshape(count, frames, height * width, bands), projection)
    return np.concatenate([values.mean(axis=1).reshape(count, -1), values.max(axis=1).reshape(count, -1)], axis=1)


def fit_and_score(train, selection, evaluated, grid=REGULARISATION_GRID, seed=0):
    """Fit the baseline on `train`, choose C on `selection`, score it on `evaluated`.

    Args:
        train, selection, evaluated: (features [N, F], labels [N]) pairs.
        grid: candidate values of C (inverse regularisation strength).
        seed: the solver's random state.

    Returns:
        A JSON-ready dict: accuracy, f1_macro, balanced_accuracy (on `evaluated`), regularisation_c,
        selection_f1_macro, num_features; or {"available": False, "reason": ...} when the train split holds
        a single class (logistic regression needs both).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features, train_labels = (np.asarray(part) for part in train)
    if np.unique(train_labels).size < 2:
        return {"available": False, "reason": "the train split holds a single class"}

    def fitted(regularisation):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=5000,
                                                                      random_state=seed))
        return pipeline.fit(train_features, train_labels)

    def macro_f1(model, part):
        features, labels = part
        return f1_score(labels, model.predict(features), average="macro", labels=[0, 1], zero_division=0)

    candidates = [(macro_f1(fitted(value), selection), -value, value) for value in grid]
    best_f1, _, best_c = max(candidates)
    model = fitted(best_c)
    features, labels = evaluated
    predictions = model.predict(features)
    return {
        "available": True,
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1_macro": float(f1_score(labels, predictions, average="macro", labels=[0, 1], zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "regularisation_c": float(best_c),
        "selection_f1_macro": float(best_f1),
        "num_features": int(train_features.shape[1]),
    }
