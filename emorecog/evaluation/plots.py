"""PNG plots of what a model did, for people who would rather look than read.

Each function draws on its own `matplotlib.figure.Figure` (no pyplot global state, no display needed) and
writes one PNG; the band-image functions (`draw_band_image`, `plot_band_images`) draw on a given axis or
return the figure, for `emorecog show-images` and TensorBoard alike. Inputs are the model's outputs as NumPy
arrays (see the model contract):

    glimpse_frames  int   [n, N_max]        frame index of each glimpse, -1 after the sample ended
    glimpse_count   int   [n]
    band_weights    float [n, N_max, 3]     band attention (theta, alpha, beta) per glimpse, eq. 1-2
    layer_weights   float [n, N_max, 2, L]  inter-layer attention over hidden (0) and cell (1) states, eq. 3-7
"""

import numpy as np

from emorecog import features

BAND_COLOURS = ("tab:purple", "tab:green", "tab:orange")


def plot_glimpse_timeline(path, glimpse_frames, num_frames, titles, fps=None, planted_windows=None):
    """One panel per trial: the frame of each glimpse (x: time in the trial, y: glimpse number, top down).

    The connected path shows how the temporal attention moved; a frame looked at twice shows twice.

    Args:
        path: PNG to write.
        glimpse_frames: int [n, N_max] (-1 = no glimpse).
        num_frames: T, frames per sample (the x axis spans 0..T-1).
        titles: n strings, e.g. "s01 trial 5: true high, predicted high".
        fps: frames per second; when given the x axis is in seconds.
        planted_windows: optional n entries, each None or a list of (first_frame, last_frame) pairs
            shaded as the planted signal (synthetic data's ground truth).
    """
    from matplotlib.ticker import MaxNLocator

    glimpse_frames = np.asarray(glimpse_frames)
    rows = glimpse_frames.shape[0]
    scale = 1.0 / fps if fps else 1.0
    figure = _figure(width=10, height=1.8 * rows + 0.8)
    axes = figure.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    for row, axis in enumerate(axes):
        windows = planted_windows[row] if planted_windows is not None else None
        for first, last in windows or ():
            axis.axvspan(first * scale, (last + 1) * scale, color="tab:red", alpha=0.2, lw=0, label="planted signal")
        frames = glimpse_frames[row]
        frames = frames[frames >= 0]
        order = np.arange(1, frames.size + 1)
        axis.plot(frames * scale, order, color="0.6", lw=0.8, zorder=1)
        points = axis.scatter(
            frames * scale,
            order,
            c=order,
            cmap="viridis",
            s=22,
            zorder=2,
            vmin=1,
            vmax=max(int((glimpse_frames >= 0).sum(axis=1).max()), 2),
        )
        axis.set_xlim(0, num_frames * scale)
        axis.set_ylim(max(frames.size, 1) + 0.5, 0.5)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        axis.set_ylabel("glimpse", fontsize=7)
        axis.set_title(f"{titles[row]} ({frames.size} glimpses)", fontsize=8, loc="left")
        if windows:
            axis.legend(loc="lower right", fontsize=6)
    axes[-1].set_xlabel("time in the trial (s)" if fps else "frame")
    if rows and glimpse_frames.size:
        figure.colorbar(points, ax=list(axes), label="glimpse order", fraction=0.03, pad=0.01)
    figure.suptitle("Where the model looked (temporal hard attention)")
    figure.savefig(path, dpi=100)


def plot_band_attention(path, band_weights, glimpse_counts, titles):
    """Band-attention weights (theta, alpha, beta) over the glimpses of each trial, plus their mean.

    Args:
        path: PNG to write.
        band_weights: float [n, N_max, 3].
        glimpse_counts: int [n]; steps past a trial's count are not drawn.
        titles: n strings.
    """
    from matplotlib.ticker import MaxNLocator

    band_weights = np.asarray(band_weights, dtype=np.float64)
    counts = np.asarray(glimpse_counts).astype(int)
    rows = band_weights.shape[0]
    figure = _figure(width=10, height=1.6 * (rows + 1) + 0.6)
    axes = figure.subplots(rows + 1, 1, squeeze=False)[:, 0]
    mean, valid = _masked_mean_over_trials(band_weights, counts)
    curves = [(axes[0], mean[: valid.sum()] if valid.any() else mean[:0], "mean over these trials")]
    curves += [(axes[row + 1], band_weights[row, : counts[row]], titles[row]) for row in range(rows)]
    for axis, weights, title in curves:
        steps = np.arange(1, weights.shape[0] + 1)
        for band, colour in enumerate(BAND_COLOURS):
            axis.plot(steps, weights[:, band], marker=".", color=colour, label=features.EEG_BANDS[band])
        axis.axhline(
            1.0 / len(features.EEG_BANDS),
            color="0.4",
            lw=0.8,
            ls="--",
            label=f"chance (1/{len(features.EEG_BANDS)}: equal weights)",
        )
        axis.set_ylim(0, 1)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("weight", fontsize=7)
        axis.set_title(title, fontsize=8, loc="left")
    axes[0].legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel("glimpse number")
    figure.suptitle("Band attention over glimpses (softmax(W_h h_{n-1} + b), eq. 1-2)")
    figure.savefig(path, dpi=100)


def plot_layer_attention(path, layer_weights, glimpse_counts):
    """Inter-layer attention: mean weight of each LSTM layer for hidden and cell states, and per glimpse.

    Args:
        path: PNG to write.
        layer_weights: float [n, N_max, 2, L].
        glimpse_counts: int [n].
    """
    from matplotlib.ticker import MaxNLocator

    layer_weights = np.asarray(layer_weights, dtype=np.float64)
    counts = np.asarray(glimpse_counts).astype(int)
    num_layers = layer_weights.shape[-1]
    figure = _figure(width=10, height=4.2)
    bar_axis, hidden_axis, cell_axis = figure.subplots(1, 3)
    mean_per_step, valid = _masked_mean_over_trials(layer_weights, counts)
    step_mask = np.arange(layer_weights.shape[1])[None, :] < counts[:, None]
    overall = (layer_weights * step_mask[..., None, None]).sum(axis=(0, 1)) / max(step_mask.sum(), 1)
    positions = np.arange(1, num_layers + 1)
    bar_axis.bar(positions - 0.2, overall[0], width=0.4, label="hidden H")
    bar_axis.bar(positions + 0.2, overall[1], width=0.4, label="cell C")
    bar_axis.set_xticks(positions)
    bar_axis.set_xlabel("LSTM layer")
    bar_axis.set_ylabel("mean attention weight")
    bar_axis.legend(fontsize=7)
    steps_shown = max(int(valid.sum()), 1)
    for axis, state, name in ((hidden_axis, 0, "hidden states"), (cell_axis, 1, "cell states")):
        image = axis.imshow(
            mean_per_step[:steps_shown, state, :].T,
            aspect="auto",
            vmin=0,
            vmax=1,
            cmap="magma",
            origin="lower",
            extent=(0.5, steps_shown + 0.5, 0.5, num_layers + 0.5),
        )
        axis.set_yticks(positions)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("glimpse number")
        axis.set_ylabel("LSTM layer")
        axis.set_title(name, fontsize=9)
    figure.colorbar(image, ax=[hidden_axis, cell_axis], fraction=0.03)
    figure.suptitle("Inter-layer self-attention a = softmax(v^T tanh(W_s X + b)) (eq. 3-7)")
    figure.savefig(path, dpi=100)


def plot_confusion_matrix(path, matrix, class_names, title):
    """A 2 x 2 confusion matrix (row = true class) with counts and row percentages."""
    matrix = np.asarray(matrix)
    figure = _figure(width=4.6, height=4.0)
    axis = figure.subplots()
    row_totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axis.imshow(matrix / row_totals, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        share = 100.0 * count / row_totals[row, 0]
        axis.text(
            column, row, f"{count}\n{share:.0f}%", ha="center", va="center", color="white" if share > 50 else "black"
        )
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.savefig(path, dpi=100)


def _masked_mean_over_trials(values, counts):
    """Mean over trials of values[:, step] using only trials that reached `step`; and which steps any did."""
    steps = values.shape[1]
    mask = (np.arange(steps)[None, :] < counts[:, None]).astype(np.float64)
    expanded = mask.reshape(mask.shape + (1,) * (values.ndim - 2))
    totals = expanded.sum(axis=0)
    mean = (values * expanded).sum(axis=0) / np.maximum(totals, 1)
    return mean, mask.sum(axis=0) > 0


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


SCORE_SERIES = (
    ("model", "", "tab:blue"),
    ("majority baseline", "majority_baseline_", "0.6"),
    ("classical baseline", "classical_baseline_", "tab:orange"),
)
SCORE_NAMES = (("accuracy", "CR (accuracy)"), ("f1_macro", "macro F1"), ("balanced_accuracy", "balanced accuracy"))


def plot_cross_validation_summary(path, results):
    """Per fold and mean +- standard deviation over the folds: the model's scores next to the majority and
    classical baselines', one panel per score (CR, macro F1, balanced accuracy).

    Args:
        path: PNG to write.
        results: the cv_results.json dict (`per_fold` rows with `fold` numbered from 1, and `summary`).
    """
    rows = results["per_fold"]
    figure = _figure(width=max(7.0, 1.1 * len(rows) + 4.0), height=7.5)
    axes = figure.subplots(len(SCORE_NAMES), 1, sharex=True)
    positions = np.arange(len(rows) + 1, dtype=np.float64)
    positions[-1] += 0.5  # a gap before the mean
    width = 0.8 / len(SCORE_SERIES)
    for axis, (score, score_label) in zip(axes, SCORE_NAMES):
        for index, (name, prefix, colour) in enumerate(SCORE_SERIES):
            values = np.array([np.nan if row.get(prefix + score) is None else row[prefix + score] for row in rows])
            spread = results["summary"].get(prefix + score) or {}
            mean = np.nan if spread.get("mean") is None else spread["mean"]
            std = 0.0 if spread.get("std") is None else spread["std"]
            offset = (index - (len(SCORE_SERIES) - 1) / 2) * width
            axis.bar(
                positions + offset,
                np.append(values, mean),
                width=width,
                color=colour,
                label=name,
                yerr=np.append(np.zeros_like(values), std),
                capsize=3,
                error_kw={"lw": 1},
            )
        axis.set_ylim(0, 1.05)
        axis.set_ylabel(score_label)
        axis.axhline(0.5, color="0.3", lw=0.8, ls=":")
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=7, ncol=len(SCORE_SERIES))
    axes[-1].set_xticks(
        positions,
        [f"fold {row['fold']}\n{','.join(row['test_subjects'])[:12]}" for row in rows] + ["mean\n+- std"],
        fontsize=7,
    )
    figure.suptitle(
        f"Cross-validation ({results['folds']} {results['mode']} folds, target {results['target']}): "
        "test scores per fold"
    )
    figure.savefig(path, dpi=100)


# history.json keys drawn by `plot_training_curves`: (panel title, [(key, label)]); absent keys are skipped.
TRAINING_CURVE_PANELS = (
    (
        "loss terms (train)",
        (
            ("loss", "total loss"),
            ("classification_loss", "classification"),
            ("reinforce_loss", "REINFORCE"),
            ("baseline_loss", "reward baseline"),
            ("penalty", "glimpse penalty"),
            ("val_classification_loss", "eval classification"),
        ),
    ),
    ("reward (train)", (("reward", "mean reward"),)),
    ("glimpses per trial", (("glimpses", "train"), ("val_glimpses", "eval"))),
    (
        "eval scores (epoch selection)",
        (
            ("val_f1_macro", "eval macro F1"),
            ("val_balanced_accuracy", "eval balanced accuracy"),
            ("val_accuracy", "eval CR"),
            ("accuracy", "train CR"),
        ),
    ),
)


def plot_training_curves(path, history, best_epoch=None):
    """Training curves per epoch from the Trainer's history.json: loss terms, reward, glimpses, eval scores.

    Args:
        path: PNG to write.
        history: list of per-epoch dicts (`epoch` from 1, then the logged values).
        best_epoch: the epoch the Trainer kept (marked on every panel), or None.
    """
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    panels = [
        (title, [(key, label) for key, label in series if any(key in row for row in history)])
        for title, series in TRAINING_CURVE_PANELS
    ]
    panels = [(title, series) for title, series in panels if series]
    figure = _figure(width=10, height=2.3 * max(len(panels), 1) + 0.6)
    axes = figure.subplots(max(len(panels), 1), 1, squeeze=False, sharex=True)[:, 0]
    for axis, (title, series) in zip(axes, panels):
        for key, label in series:
            values = [row.get(key, np.nan) for row in history]
            axis.plot(epochs, values, marker="." if len(epochs) < 40 else None, label=label)
        if best_epoch is not None:
            axis.axvline(best_epoch, color="tab:red", lw=0.8, ls="--", label=f"kept epoch {best_epoch}")
        axis.set_title(title, fontsize=9, loc="left")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves, never on them
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("epoch")
    figure.suptitle("Training curves (history.json of the Trainer)")
    figure.savefig(path, dpi=100)


def plot_per_subject(path, per_subject, classical_accuracy=None, score="accuracy"):
    """Per-subject bars: the model's score next to the majority baseline's on the same subject's trials.

    Args:
        path: PNG to write.
        per_subject: metrics.json's per_subject {subject: {accuracy, f1_macro, majority_baseline_accuracy,
            majority_baseline_f1_macro, num_samples, ...}}.
        classical_accuracy: the classical baseline's score over all subjects of the split (drawn as a line:
            it is fitted and scored per split, not per subject), or None.
        score: "accuracy" (CR) or "f1_macro".
    """
    subjects = sorted(per_subject)
    model = [per_subject[subject].get(score) for subject in subjects]
    majority = [per_subject[subject].get(f"majority_baseline_{score}") for subject in subjects]
    figure = _figure(width=max(7.5, 0.55 * len(subjects) + 4.5), height=3.6)
    axis = figure.subplots()
    positions = np.arange(len(subjects))
    as_array = lambda values: np.array([np.nan if value is None else value for value in values])  # noqa: E731
    axis.bar(positions - 0.2, as_array(model), width=0.4, color="tab:blue", label="model")
    axis.bar(positions + 0.2, as_array(majority), width=0.4, color="0.6", label="majority baseline")
    if classical_accuracy is not None:
        axis.axhline(
            classical_accuracy,
            color="tab:orange",
            lw=1.2,
            ls="--",
            label=f"classical baseline, all subjects ({classical_accuracy:.2f})",
        )
    counts = [per_subject[subject].get("num_samples") for subject in subjects]
    axis.set_xticks(
        positions,
        [f"{subject}\nn={count}" if count is not None else subject for subject, count in zip(subjects, counts)],
        fontsize=7,
    )
    axis.set_ylim(0, 1.05)
    axis.set_ylabel({"accuracy": "CR (accuracy)", "f1_macro": "macro F1"}.get(score, score))
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    axis.set_title("Per subject: model vs majority baseline on the same trials", fontsize=9)
    figure.savefig(path, dpi=100)


def draw_band_image(figure, axis, image, layout, colourbar_label, cmap="viridis", vmin=None, vmax=None):
    """One EEG band image on a head: outline with nose and ears, electrodes with their names, the pixels
    outside the electrodes' hull masked (transparent), and a colourbar.

    Args:
        figure: the `Figure` of `axis` (for the colourbar).
        axis: where to draw.
        image: float [H, W], one band of a band image (row 0 = front of the head).
        layout: the `BandImageLayout` of the images.
        colourbar_label: the unit of the values, e.g. `layout.value_unit`.
        cmap, vmin, vmax: colour map and its range (default: the range of the pixels inside the hull).

    Returns:
        The `AxesImage`.
    """
    from matplotlib import patheffects

    radius = layout.head_radius
    shown = axis.imshow(
        layout.masked(image),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=layout.extent,
        origin="upper",
        interpolation="nearest",
    )
    angle = np.linspace(0.0, 2.0 * np.pi, 181)
    outline = {"color": "0.15", "lw": 1.0}
    axis.plot(radius * np.cos(angle), radius * np.sin(angle), **outline)
    nose_half_angle = np.deg2rad(10.0)
    axis.plot(
        [-radius * np.sin(nose_half_angle), 0.0, radius * np.sin(nose_half_angle)],
        [radius * np.cos(nose_half_angle), 1.12 * radius, radius * np.cos(nose_half_angle)],
        **outline,
    )
    ear = np.linspace(-np.pi / 2, np.pi / 2, 41)
    for side in (-1.0, 1.0):
        axis.plot(side * radius * (1.0 + 0.07 * np.cos(ear)), 0.16 * radius * np.sin(ear), **outline)
    points = layout.electrode_points
    axis.scatter(points[:, 0], points[:, 1], s=4, color="black", zorder=3)
    # A light halo keeps the names readable on dark and light colours alike.
    halo = [patheffects.withStroke(linewidth=1.2, foreground="white")]
    for name, (u, v) in zip(layout.electrodes, points):
        axis.text(u, v + 0.03 * radius, name, fontsize=5.5, ha="center", va="bottom", zorder=4, path_effects=halo)
    axis.set_xlim(-1.2 * radius, 1.2 * radius)
    axis.set_ylim(-1.1 * radius, 1.18 * radius)
    axis.set_aspect("equal")
    axis.axis("off")
    figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.02).set_label(colourbar_label, fontsize=7)
    return shown


def plot_band_images(images, layout, row_titles, title, cmap="viridis", symmetric=False):
    """Rows of band images, one panel per band (theta, alpha, beta) with its name, each on a head.

    Every band has one colour range over all rows, so rows compare.

    Args:
        images: float [rows, H, W, 3].
        layout: the `BandImageLayout` of the images.
        row_titles: one title per row.
        title: the figure's title.
        cmap: colour map.
        symmetric: a range symmetric around 0 (for differences).

    Returns:
        The `Figure`.
    """
    from matplotlib.figure import Figure

    images = np.asarray(images, dtype=np.float64)
    rows = len(images)
    # A fixed grid instead of the constrained layout `_figure` uses: the geometry is known, and the layout
    # engine would triple the time to render (these figures are drawn every epoch for TensorBoard).
    figure = Figure(figsize=(3.4 * len(features.EEG_BANDS), 2.8 * rows + 0.5))
    figure.subplots_adjust(
        left=0.01, right=0.95, bottom=0.02, top=1.0 - 0.55 / (2.8 * rows + 0.5), wspace=0.25, hspace=0.35
    )
    axes = figure.subplots(rows, len(features.EEG_BANDS), squeeze=False)
    for band_index, band in enumerate(features.EEG_BANDS):
        inside = images[..., band_index][:, layout.inside_hull]
        low, high = float(inside.min()), float(inside.max())
        if symmetric:
            low, high = -max(abs(low), abs(high), 1e-9), max(abs(low), abs(high), 1e-9)
        for row, image in enumerate(images):
            axis = axes[row][band_index]
            draw_band_image(
                figure, axis, image[..., band_index], layout, layout.value_unit, cmap=cmap, vmin=low, vmax=high
            )
            axis.set_title(f"{band_name_with_edges(layout, band)}\n{row_titles[row]}", fontsize=8)
    figure.suptitle(title, fontsize=9)
    return figure


def figure_png(figure, dpi=80):
    """The PNG bytes of a figure."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def band_name_with_edges(layout, band):
    """e.g. "theta (4-8 Hz)"."""
    low, high = layout.band_edges_hz[band]
    return f"{band} ({low:g}-{high:g} Hz)"
