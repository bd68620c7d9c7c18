"""The classical baseline every evaluation reports: per-trial band powers + logistic regression.

    features of a trial = [mean_t v_t ; max_t v_t],   v_t = the band energies of frame t per electrode
                                                            and band (the records' `eeg_band_energy`)
    model               = StandardScaler -> LogisticRegression(C), fitted on the TRAIN split,
                          C chosen by macro F1 on the EVAL split (ties -> the smaller C), test never seen

Tensors without electrodes (the planted benchmark tasks) use the mean band energy of a grid of scalp
regions of the band images instead (`region_values`).

A deep model that does not beat this baseline has not earned its cost.
"""

import numpy as np

REGULARISATION_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def region_values(images, grid_size=4):
    """Mean of band images [N, T, H, W, B] over a grid_size x grid_size grid of regions -> [N, T, grid^2, B]."""
    images = np.asarray(images, np.float32)
    count, frames, height, width, bands = images.shape
    rows = np.minimum(np.arange(height) * grid_size // height, grid_size - 1)
    columns = np.minimum(np.arange(width) * grid_size // width, grid_size - 1)
    region = (rows[:, None] * grid_size + columns[None, :]).reshape(-1)
    averaging = np.zeros((height * width, grid_size * grid_size), np.float32)
    averaging[np.arange(height * width), region] = 1.0
    averaging /= averaging.sum(axis=0, keepdims=True)
    return np.einsum("nthb,hr->ntrb", images.reshape(count, frames, height * width, bands), averaging)


def trial_features(values):
    """Per-trial band-power features.

    Args:
        values: float [N, T, P, B], the band energy of each frame, place (electrode or region) and band.

    Returns:
        float32 [N, 2 * P * B]: the mean over time, then the max over time, of every (place, band).
    """
    values = np.asarray(values, np.float32)
    count = values.shape[0]
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
        pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=regularisation, max_iter=5000, random_state=seed)
        )
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
