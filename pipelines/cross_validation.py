"""The cross-validation pipeline: for every fold, FoldExamples -> Trainer -> Evaluator (test), wired only.

Layout under `out_dir`:

    fold-<k>/examples/   FoldExamples output (fold_index.json, stats.json: an index of the pooled records)
    fold-<k>/run/        Trainer (model/, checkpoints/, logs/) and Evaluator (evaluation/test/)
    cv_results.json      per fold (k = 1..K) and mean / std / min / max of the scores and the baselines
    cv_summary.png       the same as a picture

Each component skips itself when its inputs and parameters are unchanged, so a rerun only does what is new.
"""

import json
import os

from emorecog.evaluation.cross_validation import REPORTED_METRICS, fold_folder_name

RESULTS_FILE = "cv_results.json"
SUMMARY_PLOT_FILE = "cv_summary.png"


def run_cross_validation(data_dir, out_dir, folds, mode, model_config, training_config, seed=0, log=print):
    """Train and evaluate every fold of the ExampleGen output `data_dir`; returns the cv_results dict.

    Args:
        data_dir: the pooled ExampleGen output.
        out_dir: where the folds and results go (new, empty or emorecog's).
        folds: "loso" or K >= 3; mode: "subject" or "trial".
        model_config, training_config: the Trainer's configs (the same for every fold).
        seed: seed of the fold assignment.
        log: a function taking one line of progress text.
    """
    from emorecog.components.evaluator import run_evaluator
    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.components.trainer import run_trainer
    from emorecog.evaluation import cross_validation
    from emorecog.evaluation.plots import plot_cross_validation_summary
    from emorecog.output_folders import claim_folder, write_file_atomically, write_json_atomically
    from emorecog.user_errors import warning_line

    claim_folder(out_dir, "emorecog cv")  # each fold's outputs are checked against their own inputs
    count = cross_validation.fold_count(data_dir, folds, mode)
    rows = []
    for fold in range(count):
        number = fold + 1
        fold_dir = os.path.join(out_dir, fold_folder_name(number))
        log(f"fold {number}/{count}")
        examples = run_fold_examples(
            data_dir, fold, folds, mode=mode, seed=seed, output_dir=os.path.join(fold_dir, "examples")
        )
        for message in examples.metadata.get("split_warnings", ()):
            log(warning_line(message))
        run_dir = os.path.join(fold_dir, "run")
        run_trainer(examples.output_dir, run_dir, model_config, training_config, log=log)
        evaluation = run_evaluator(run_dir, examples.output_dir, split="test")
        with open(evaluation.artifact("metrics.json")) as handle:
            report = json.load(handle)
        with open(os.path.join(examples.output_dir, "stats.json")) as handle:
            test_subjects = json.load(handle)["splits"]["test"]["subjects"]
        rows.append(cross_validation.fold_result_row(number, report, test_subjects))
        log(
            f"fold {number}/{count}: test subjects {', '.join(test_subjects)}: "
            + "  ".join(f"{key} {report[key]:.3f}" for key in REPORTED_METRICS)
        )
    results = {
        "folds": folds,
        "mode": mode,
        "target": training_config.target,
        "data_dir": os.path.abspath(data_dir),
        "model_config": model_config.to_dict(),
        "training_config": training_config.to_dict(),
        "per_fold": rows,
        "summary": cross_validation.cross_validation_summary(rows),
    }
    write_file_atomically(
        os.path.join(out_dir, SUMMARY_PLOT_FILE), lambda path: plot_cross_validation_summary(path, results)
    )
    write_json_atomically(os.path.join(out_dir, RESULTS_FILE), results)
    return results
