"""Evaluate a trained model on a split: metrics.json, predictions.csv, plots/, blessing.json.

The library side of the Evaluator component (`emorecog.components.evaluator`).
"""

import csv
import json
import os

import numpy as np

from emorecog import features
from emorecog.evaluation import (
    classical_baseline,
    html_report,
    metrics,
    model_outputs,
    planted_signal,
    plots,
    split_labels,
)

CLASS_NAMES = ("low", "high")
PLOTS_DIR = "plots"


def evaluate_model(
    model,
    data_dir,
    split,
    target,
    output_dir,
    blessing_rule,
    batch_size,
    plot_trials=4,
    ground_truth_path=None,
    training_history=None,
    best_epoch=None,
):
    """Score `model` on `split` next to its baselines, draw plots, and decide the blessing.

    The baselines, computed on the same splits: the majority class of the train split; the classical
    baseline (per-trial band powers + logistic regression, `classical_baseline`); for glimpse models the
    uniform-K baseline, the same trained model reading K evenly spaced frames with K = its mean number of
    glimpses on `split` (what the search adds over looking at as many frames without choosing them).

    Args:
        model: the trained Keras model.
        data_dir: ExampleGen output.
        split: the split to report ("train", "eval" or "test").
        target: the label the model was trained for ("valence" or "arousal").
        output_dir: where metrics.json, predictions.csv, blessing.json and plots/*.png are written.
        blessing_rule: an `emorecog.evaluation.blessing_rule.BlessingRule`; it reads its own split
            (eval), evaluated here as well when `split` is another one.
        batch_size: inference batch size.
        plot_trials: how many trials the timeline and band-attention plots show.
        ground_truth_path: synthetic data's ground_truth.json (planted windows are drawn), or None.
        training_history: the Trainer's history.json rows (drawn as training curves), or None.
        best_epoch: the epoch the Trainer kept (marked on the curves), or None.

    Writes report.html (`html_report`) last, showing the metrics and every plot.

    Returns:
        The metrics dict written to metrics.json (with the blessing decision under "blessing").
    """
    from emorecog.datasets import tfrecord_reader

    baseline_class = metrics.majority_class(split_labels.split_labels(data_dir, "train", target))
    predict = model_outputs.inference_function(model)
    outputs = model_outputs.collect_model_outputs(
        model,
        tfrecord_reader.make_dataset(data_dir, split, batch_size, target=target, with_context=True),
        predict=predict,
    )
    report = _report(outputs, split, target, baseline_class)
    report["data_dir"] = os.path.abspath(data_dir)
    report["classical_baseline"] = classical_baseline_report(data_dir, split, target, batch_size)
    report["uniform_k_baseline"] = uniform_k_report(
        model, data_dir, split, target, batch_size, report.get("glimpses", {}).get("mean")
    )

    if blessing_rule.split == split:
        blessing_report = report
    else:
        blessing_outputs = model_outputs.collect_model_outputs(
            model,
            tfrecord_reader.make_dataset(data_dir, blessing_rule.split, batch_size, target=target, with_context=True),
            predict=predict,
        )
        blessing_report = _report(blessing_outputs, blessing_rule.split, target, baseline_class)
    blessing = {"split": blessing_rule.split, **blessing_rule.decide(blessing_report)}
    report["blessing"] = blessing

    os.makedirs(os.path.join(output_dir, PLOTS_DIR), exist_ok=True)
    _write_json(os.path.join(output_dir, "blessing.json"), blessing)
    ground_truth = planted_signal.load_ground_truth(ground_truth_path) if ground_truth_path else None
    if ground_truth:
        report["planted_window"] = _planted_window_hits(
            outputs, ground_truth, target, tfrecord_reader.read_sample_shape(data_dir).num_frames
        )
    _write_json(os.path.join(output_dir, "metrics.json"), report)
    _write_predictions(os.path.join(output_dir, "predictions.csv"), outputs)
    plots_dir = os.path.join(output_dir, PLOTS_DIR)
    _draw_plots(
        plots_dir,
        outputs,
        report,
        split,
        target,
        plot_trials,
        ground_truth,
        tfrecord_reader.read_sample_shape(data_dir),
    )
    classical = report["classical_baseline"]
    plots.plot_per_subject(
        os.path.join(plots_dir, "per_subject.png"),
        report["per_subject"],
        classical_accuracy=classical.get("accuracy") if classical.get("available", True) else None,
    )
    if training_history:
        plots.plot_training_curves(os.path.join(plots_dir, "training_curves.png"), training_history, best_epoch)
    html_report.write_report(output_dir, report, PLOTS_DIR)
    return report


def comparison_row(report):
    """The model's scores next to every baseline's, flat (for summaries, CV tables and the demo table).

    Keys: accuracy, f1_macro, balanced_accuracy, mean_glimpses, then majority_baseline_*, classical_baseline_*
    and uniform_k_* (accuracy, f1_macro, balanced_accuracy; None where a baseline does not apply) and
    uniform_k_glimpses.
    """
    row = {key: report.get(key) for key in ("accuracy", "f1_macro", "balanced_accuracy")}
    row["mean_glimpses"] = (report.get("glimpses") or {}).get("mean")
    baselines = {
        "majority_baseline": report.get("majority_baseline"),
        "classical_baseline": report.get("classical_baseline"),
        "uniform_k": report.get("uniform_k_baseline"),
    }
    for name, scores in baselines.items():
        usable = scores if scores and scores.get("available", True) else {}
        for key in ("accuracy", "f1_macro", "balanced_accuracy"):
            row[f"{name}_{key}"] = usable.get(key)
    row["uniform_k_glimpses"] = (report.get("uniform_k_baseline") or {}).get("glimpses")
    return row


def _report(outputs, split, target, baseline_class):
    report = metrics.evaluation_report(
        outputs["label"],
        outputs["class_id"],
        outputs[features.SUBJECT_KEY],
        baseline_class,
        glimpse_counts=outputs["glimpse_count"],
    )
    return {"split": split, "target": target, "class_names": list(CLASS_NAMES), **report}


def classical_baseline_report(data_dir, split, target, batch_size):
    """The classical baseline's scores on `split` (fitted on train, C chosen on eval), as in metrics.json."""
    from emorecog.datasets import tfrecord_reader

    def split_features(name):
        rows, labels = [], []
        for energy, batch_labels in tfrecord_reader.band_energy_batches(data_dir, name, 4 * batch_size, target):
            rows.append(classical_baseline.trial_features(energy))
            labels.append(batch_labels)
        return np.concatenate(rows), np.concatenate(labels)

    selection = split_features("eval")
    evaluated = selection if split == "eval" else split_features(split)
    result = classical_baseline.fit_and_score(split_features("train"), selection, evaluated)
    result["features"] = "mean and max over time of the band energy of each electrode and band (theta, alpha, beta)"
    return result


def uniform_k_report(model, data_dir, split, target, batch_size, mean_glimpses):
    """Scores of `model` reading K evenly spaced frames instead of where its policy looks (glimpse models
    only; K = round(mean_glimpses), at least 1), or None for models without a glimpse policy."""
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader
    from emorecog.models.glimpse_model import GlimpseModel

    if not isinstance(model, GlimpseModel) or mean_glimpses is None:
        return None
    glimpses = int(min(max(round(mean_glimpses), 1), model.max_glimpses))
    predict = tf.function(
        lambda inputs: model.forward(inputs, training=False, with_losses=False, uniform_glimpses=glimpses)[0],
        autograph=False,
        reduce_retracing=True,
    )
    outputs = model_outputs.collect_model_outputs(
        model,
        tfrecord_reader.make_dataset(data_dir, split, batch_size, target=target, with_context=True),
        predict=predict,
    )
    scores = metrics.classification_scores(outputs["label"], outputs["class_id"])
    return {"glimpses": glimpses, **{key: scores[key] for key in ("accuracy", "f1_macro", "balanced_accuracy")}}


def _planted_window_hits(outputs, ground_truth, target, num_frames):
    """Share of glimpses inside the planted window (against the share a uniform glimpse would get) and share
    of trials with at least one glimpse inside it."""
    inside, total, window_frames, trials, trials_hit = 0, 0, 0, 0, 0
    for row in range(outputs["label"].size):
        windows = planted_signal.planted_frame_windows(
            ground_truth,
            str(outputs[features.SUBJECT_KEY][row]),
            int(outputs[features.TRIAL_KEY][row]),
            target,
            int(outputs[features.FPS_KEY][row]),
        )
        if not windows:
            continue
        frames = outputs["glimpse_frames"][row][: int(outputs["glimpse_count"][row])]
        hits = planted_signal.glimpses_inside_window(frames, windows)
        inside += hits
        trials_hit += int(hits > 0)
        total += int((frames >= 0).sum())
        window_frames += sum(min(last, num_frames - 1) - max(first, 0) + 1 for first, last in windows)
        trials += 1
    return {
        "trials": trials,
        "glimpses_inside_fraction": inside / total if total else None,
        "chance_fraction": window_frames / (trials * num_frames) if trials else None,
        "trials_glimpsed_fraction": trials_hit / trials if trials else None,
        "note": "share of all glimpses that landed in the planted event window, and share of trials with at least "
        "one glimpse in it (synthetic data only)",
    }


def _draw_plots(plots_dir, outputs, report, split, target, plot_trials, ground_truth, sample_shape):
    count = min(plot_trials, outputs["label"].size)
    # Show trials of both classes when the split has them: alternate high and low, in record order.
    high = np.flatnonzero(outputs["label"] == 1).tolist()
    low = np.flatnonzero(outputs["label"] == 0).tolist()
    alternating = [index for pair in zip(high, low) for index in pair]
    alternating += high[len(low) :] + low[len(high) :]
    chosen = np.sort(np.asarray(alternating[:count], dtype=int))
    titles, windows = [], []
    for index in chosen:
        subject, trial = str(outputs[features.SUBJECT_KEY][index]), int(outputs[features.TRIAL_KEY][index])
        titles.append(
            f"{subject} trial {trial}: true {CLASS_NAMES[int(outputs['label'][index])]}, "
            f"predicted {CLASS_NAMES[int(outputs['class_id'][index])]}"
        )
        windows.append(
            planted_signal.planted_frame_windows(
                ground_truth, subject, trial, target, int(outputs[features.FPS_KEY][index])
            )
            if ground_truth
            else None
        )
    fps = int(outputs[features.FPS_KEY][chosen[0]]) if count else None
    plots.plot_glimpse_timeline(
        os.path.join(plots_dir, "glimpse_timeline.png"),
        outputs["glimpse_frames"][chosen],
        sample_shape.num_frames,
        titles,
        fps=fps,
        planted_windows=windows if ground_truth else None,
    )
    plots.plot_band_attention(
        os.path.join(plots_dir, "band_attention.png"),
        outputs["band_weights"][chosen],
        outputs["glimpse_count"][chosen],
        titles,
    )
    plots.plot_layer_attention(
        os.path.join(plots_dir, "layer_attention.png"), outputs["layer_weights"], outputs["glimpse_count"]
    )
    plots.plot_confusion_matrix(
        os.path.join(plots_dir, "confusion_matrix.png"),
        report["confusion_matrix"],
        [f"{target} {name}" for name in CLASS_NAMES],
        f"{split} split: CR {report['accuracy']:.3f}, macro F1 {report['f1_macro']:.3f}\n"
        f"majority baseline CR {report['majority_baseline']['accuracy']:.3f}",
    )


def _write_predictions(path, outputs):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["subject", "trial", "label", "class_id", "probability_high", "glimpse_count", "glimpse_frames"]
        )
        for row in range(outputs["label"].size):
            frames = outputs["glimpse_frames"][row][: int(outputs["glimpse_count"][row])]
            writer.writerow(
                [
                    outputs[features.SUBJECT_KEY][row],
                    int(outputs[features.TRIAL_KEY][row]),
                    int(outputs["label"][row]),
                    int(outputs["class_id"][row]),
                    f"{float(outputs['probabilities'][row, 1]):.6f}",
                    int(outputs["glimpse_count"][row]),
                    " ".join(str(int(frame)) for frame in frames),
                ]
            )


def _write_json(path, value):
    with open(path, "w") as handle:
        json.dump(value, handle, indent=2)
