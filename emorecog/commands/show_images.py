"""`emorecog show-images`: look at what ExampleGen wrote, by label, inside vs outside the event window."""

import json
import os

import click

FACE_COLUMNS = 6
ROW_TITLES = ("low, in window", "high, in window", "high - low, in window", "high - low, outside window")


@click.command(name="show-images")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="ExampleGen output of `emorecog ingest` (Split-*/, schema.json).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the PNGs: new, empty, or one emorecog made (never an input folder).",
)
@click.option(
    "--ground-truth",
    type=click.Path(exists=True, dir_okay=False),
    help="ground_truth.json of a synthetic DEAP (`emorecog synth`): its event windows split each "
    "trial into inside / outside. Without it the whole trial counts as 'inside'.",
)
@click.option(
    "--split",
    "split_names",
    multiple=True,
    type=click.Choice(["train", "eval", "test"]),
    help="Splits to read, repeatable [default: all three].",
)
@click.option("--max-trials", type=int, default=400, show_default=True, help="Read at most this many trials.")
def command(data_dir, out_dir, ground_truth, split_names, max_trials):
    """Write PNGs of mean EEG band images and face crops per label, in the event window vs outside it.

    Reads DATA's TFRecords (and GROUND_TRUTH's event windows). Writes OUT/eeg_valence.png,
    OUT/eeg_arousal.png (rows: low and high label in the window, their difference in the window and
    outside it; columns: theta, alpha, beta; each image on a head outline with the electrodes and their
    names, pixels outside the electrodes' hull masked, a colourbar in the unit of the ingest's baseline
    normalisation, e.g. dB relative to the trial's baseline), OUT/faces_valence.png, OUT/faces_arousal.png (crops from
    the middle of the window, low row above high row) and OUT/summary.json (trial counts and the size of
    the high - low difference inside and outside the window).
    """
    from emorecog.evaluation.band_image_layout import BandImageLayout
    from emorecog.output_folders import claim_folder

    layout = BandImageLayout.read(data_dir)
    windows = _event_windows(ground_truth) if ground_truth else None
    accumulator = _accumulate(data_dir, split_names or ("train", "eval", "test"), windows, max_trials)
    claim_folder(out_dir, "emorecog show-images", inputs={"data": data_dir, "ground truth": ground_truth})
    summary = {
        "data": os.path.abspath(data_dir),
        "event_window": "ground truth" if windows else "whole trial (no --ground-truth)",
        "trials_read": accumulator["trials"],
    }
    from emorecog import features

    for target in features.TARGETS:
        summary[target] = _plot_target(accumulator, layout, target, out_dir)
    with open(os.path.join(out_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    click.echo(f"read {accumulator['trials']} trials; wrote PNGs and summary.json to {out_dir}")
    for target in features.TARGETS:
        inside, outside = (summary[target][f"high_minus_low_{where}"] for where in ("inside", "outside"))
        click.echo(
            f"{target}: RMS of mean(high) - mean(low) EEG image: in window {_number(inside)}, "
            f"outside {_number(outside)}"
        )


def _number(value):
    return "n/a" if value is None else f"{value:.3f}"


def _event_windows(path):
    """{(subject, trial): (start_s, end_s)} from a synthetic DEAP's ground_truth.json."""
    with open(path) as handle:
        truth = json.load(handle)
    try:
        return {
            (subject, int(trial["trial"])): tuple(trial["event_window_s"])
            for subject, info in truth["subjects"].items()
            for trial in info["trials"]
        }
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a synthetic DEAP ground_truth.json: missing {error}") from error


def _accumulate(data_dir, split_names, windows, max_trials):
    """Sums of EEG frames per (target, label, inside/outside) and a few face crops per (target, label)."""
    import numpy as np

    from emorecog import features
    from emorecog.datasets import tfrecord_reader

    sums = {}
    counts = {}
    trials = {target: {0: 0, 1: 0} for target in features.TARGETS}
    faces = {target: {0: [], 1: []} for target in features.TARGETS}
    read = 0
    for split in split_names:
        dataset = tfrecord_reader.make_dataset(data_dir, split, batch_size=4, with_context=True, verify="size")
        for inputs, _, context in dataset:
            eeg, face, present = (inputs[key].numpy() for key in ("eeg", "face", "face_present"))
            for row in range(eeg.shape[0]):
                if read >= max_trials:
                    break
                read += 1
                subject = context["subject"][row].numpy().decode()
                trial = int(context["trial"][row])
                fps = int(context["fps"][row])
                frames = eeg.shape[1]
                inside = np.ones(frames, bool)
                if windows is not None:
                    if (subject, trial) not in windows:
                        raise ValueError(f"the ground truth has no event window for {subject} trial {trial}")
                    start, end = windows[(subject, trial)]
                    centres = (np.arange(frames) + 0.5) / fps
                    inside = (centres >= start) & (centres < end)
                middle = int(np.flatnonzero(inside)[len(np.flatnonzero(inside)) // 2]) if inside.any() else 0
                for target in features.TARGETS:
                    label = int(context[features.label_key(target)][row])
                    trials[target][label] += 1
                    for where, mask in (("inside", inside), ("outside", ~inside)):
                        if mask.any():
                            key = (target, label, where)
                            sums[key] = sums.get(key, 0.0) + eeg[row][mask].astype(np.float64).sum(axis=0)
                            counts[key] = counts.get(key, 0) + int(mask.sum())
                    if present[row][middle] > 0 and len(faces[target][label]) < FACE_COLUMNS:
                        faces[target][label].append((face[row][middle], f"{subject} t{trial}"))
    if read == 0:
        raise ValueError(f"{data_dir}: the splits {', '.join(split_names)} hold no records")
    means = {key: value / counts[key] for key, value in sums.items()}
    return {"means": means, "trials_per_label": trials, "faces": faces, "trials": read}


def _fill_description(layout):
    return "zeros" if layout.outside_hull_fill == "zero" else f"the {layout.outside_hull_fill} electrode's value"


def _plot_target(accumulator, layout, target, out_dir):
    import numpy as np
    from matplotlib.figure import Figure

    from emorecog import features
    from emorecog.evaluation import plots

    means = accumulator["means"]

    def mean(label, where):
        return means.get((target, label, where))

    rows = [mean(0, "inside"), mean(1, "inside")]
    inside_difference = None if rows[0] is None or rows[1] is None else rows[1] - rows[0]
    outside_low, outside_high = mean(0, "outside"), mean(1, "outside")
    outside_difference = None if outside_low is None or outside_high is None else outside_high - outside_low
    rows += [inside_difference, outside_difference]

    figure = Figure(figsize=(3.2 * len(features.EEG_BANDS), 2.7 * len(rows) + 0.6), layout="constrained")
    axes = figure.subplots(len(rows), len(features.EEG_BANDS), squeeze=False)
    for band_index, band in enumerate(features.EEG_BANDS):
        # One colour range per band for the two label rows and one symmetric range for the two differences,
        # over the pixels inside the hull only (the rest is masked), so rows of a column compare.
        level_pixels = [image[..., band_index][layout.inside_hull] for image in rows[:2] if image is not None]
        level_range = (
            (min(float(i.min()) for i in level_pixels), max(float(i.max()) for i in level_pixels))
            if level_pixels
            else (0.0, 1.0)
        )
        difference_pixels = [image[..., band_index][layout.inside_hull] for image in rows[2:] if image is not None]
        bound = max([float(np.abs(i).max()) for i in difference_pixels] + [1e-9])
        for row_index, image in enumerate(rows):
            axis = axes[row_index][band_index]
            axis.set_title(f"{plots.band_name_with_edges(layout, band)}\n{ROW_TITLES[row_index]}", fontsize=8)
            if image is None:
                axis.axis("off")
                axis.text(0.5, 0.5, "no frames", ha="center", va="center", transform=axis.transAxes)
                continue
            if row_index < 2:
                plots.draw_band_image(
                    figure,
                    axis,
                    image[..., band_index],
                    layout,
                    layout.value_unit,
                    cmap="viridis",
                    vmin=level_range[0],
                    vmax=level_range[1],
                )
            else:
                plots.draw_band_image(
                    figure,
                    axis,
                    image[..., band_index],
                    layout,
                    f"high - low: {layout.value_unit}",
                    cmap="RdBu_r",
                    vmin=-bound,
                    vmax=bound,
                )
    figure.suptitle(
        f"EEG band images by {target} label (mean over frames; nose at the top)\npixels outside the "
        f"electrodes' hull are not drawn (the model sees {_fill_description(layout)} there)",
        fontsize=9,
    )
    figure.savefig(os.path.join(out_dir, f"eeg_{target}.png"), dpi=100)

    faces = accumulator["faces"][target]
    figure = Figure(figsize=(1.6 * FACE_COLUMNS, 3.6), layout="constrained")
    axes = figure.subplots(2, FACE_COLUMNS, squeeze=False)
    for label in (0, 1):
        for column in range(FACE_COLUMNS):
            axis = axes[label][column]
            axis.axis("off")
            if column < len(faces[label]):
                crop, name = faces[label][column]
                axis.imshow(crop)
                axis.set_title(f"{'high' if label else 'low'} {name}", fontsize=7)
    figure.suptitle(f"face crops at the middle of the event window, by {target} label (top: low, bottom: high)")
    figure.savefig(os.path.join(out_dir, f"faces_{target}.png"), dpi=80)

    def rms(image):
        return None if image is None else float(np.sqrt(np.mean(np.square(image))))

    return {
        "trials": {str(label): count for label, count in accumulator["trials_per_label"][target].items()},
        "high_minus_low_inside": rms(inside_difference),
        "high_minus_low_outside": rms(outside_difference),
        "high_minus_low_inside_per_band": None
        if inside_difference is None
        else {band: rms(inside_difference[..., i]) for i, band in enumerate(features.EEG_BANDS)},
        "high_minus_low_outside_per_band": None
        if outside_difference is None
        else {band: rms(outside_difference[..., i]) for i, band in enumerate(features.EEG_BANDS)},
    }
