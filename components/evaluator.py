"""Evaluator component: a trained model + an ExampleGen output -> metrics, plots and the blessing.

Spec:
    parameters  split, blessing_rule (BlessingRule fields), batch_size, plot_trials, ground_truth (path|None)
    inputs      model: the Trainer output (<run_dir>/model), examples: the ExampleGen output
    outputs     metrics.json, blessing.json, predictions.csv, plots/, report.html
                (in <run_dir>/evaluation/<split>/; report.html shows the metrics and every plot)

metrics.json holds CR (accuracy), macro F1, balanced accuracy, the confusion matrix, the majority-class
baseline (majority of the TRAIN labels, scored on the evaluated split), the classical baseline (band powers
+ logistic regression fitted on train, C chosen on eval), the uniform-K baseline of glimpse models, glimpse
counts and per-subject figures. blessing.json is the `BlessingRule` decision, always read on the EVAL split.
"""

import json
import os

from emorecog.components import component

EVALUATION_SUBDIR = "evaluation"
# Samples per inference batch unless the caller says otherwise (the CLI's default too).
DEFAULT_BATCH_SIZE = 8

SPEC = component.ComponentSpec(
    name="Evaluator",
    parameters=("split", "blessing_rule", "batch_size", "plot_trials", "ground_truth"),
    inputs=("model", "examples"),
    outputs=("metrics.json", "blessing.json", "predictions.csv", "plots", "report.html"),
)


def executor(parameters, inputs, output_dir):
    from emorecog.evaluation.blessing_rule import BlessingRule
    from emorecog.evaluation.model_evaluation import evaluate_model
    from emorecog.training.trained_model import load_trained_model

    model, training_config = load_trained_model(inputs["model"])
    history, best_epoch = _training_history(inputs["model"])
    report = evaluate_model(
        model,
        inputs["examples"],
        parameters["split"],
        training_config["target"],
        output_dir,
        BlessingRule(**parameters["blessing_rule"]),
        batch_size=parameters["batch_size"],
        plot_trials=parameters["plot_trials"],
        ground_truth_path=parameters["ground_truth"],
        training_history=history,
        best_epoch=best_epoch,
    )
    from emorecog.evaluation.model_evaluation import comparison_row

    summary = {key: report[key] for key in ("split", "target", "num_samples")}
    summary.update(comparison_row(report))
    summary["blessed"] = report["blessing"]["blessed"]
    return {"summary": summary}


def _training_history(model_dir):
    """(history.json rows, kept epoch) of a Trainer output; (None, None) where the files are absent."""
    try:
        with open(os.path.join(model_dir, "history.json")) as handle:
            history = json.load(handle)
    except FileNotFoundError:
        return None, None
    try:
        with open(os.path.join(model_dir, "training_summary.json")) as handle:
            best_epoch = json.load(handle).get("best_epoch")
    except FileNotFoundError:
        best_epoch = None
    return history, best_epoch


def run_evaluator(
    run_dir,
    data_dir,
    split="test",
    blessing_rule=None,
    batch_size=DEFAULT_BATCH_SIZE,
    plot_trials=4,
    ground_truth=None,
    force=False,
):
    """Evaluate the Trainer output of `run_dir` on `split` into <run_dir>/evaluation/<split>/.

    Args:
        ground_truth: path of a synthetic dataset's ground_truth.json; when None, it is looked up next to
            the DEAP directory the ExampleGen output was made from (its metadata records that input).

    Returns:
        The `ComponentRun`.
    """
    import dataclasses

    from emorecog.evaluation.blessing_rule import BlessingRule

    rule = blessing_rule or BlessingRule()
    if ground_truth is None:
        ground_truth = find_ground_truth(data_dir)
    parameters = {
        "split": split,
        "blessing_rule": dataclasses.asdict(rule),
        "batch_size": batch_size,
        "plot_trials": plot_trials,
        "ground_truth": os.path.abspath(ground_truth) if ground_truth else None,
    }
    inputs = {"model": os.path.join(run_dir, "model"), "examples": data_dir}
    if not os.path.isdir(inputs["model"]):
        raise FileNotFoundError(f"{inputs['model']} not found: train first (`emorecog train --out {run_dir}`)")
    from emorecog.datasets import tfrecord_reader

    tfrecord_reader.read_record_schema(data_dir)  # a wrong --data fails here, before anything is written
    tfrecord_reader.read_stats(data_dir)
    return component.run_component(
        SPEC, executor, parameters, inputs, os.path.join(run_dir, EVALUATION_SUBDIR, split), force=force
    )


def find_ground_truth(data_dir):
    """ground_truth.json of the DEAP directory an ExampleGen output (or a fold's pooled one) came from, or None."""
    from emorecog.datasets.tfrecord_reader import records_directory

    metadata = component.read_metadata(records_directory(data_dir)) or {}
    for path in (metadata.get("inputs") or {}).values():
        candidate = os.path.join(str(path), "ground_truth.json")
        if os.path.isfile(candidate):
            return candidate
    return None
