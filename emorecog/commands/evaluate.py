"""`emorecog evaluate`: the Evaluator component from the command line."""

import json

import click

from emorecog.components.evaluator import DEFAULT_BATCH_SIZE, run_evaluator


@click.command(name="evaluate")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Run directory of `emorecog train` (reads RUN/model/).",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="ExampleGen output the run was trained on.",
)
@click.option(
    "--split",
    type=click.Choice(["train", "eval", "test"]),
    default="test",
    show_default=True,
    help="Split to report on (the blessing always reads the eval split).",
)
@click.option(
    "--ground-truth",
    type=click.Path(exists=True, dir_okay=False),
    help="Synthetic data's ground_truth.json [default: found next to the ingested DEAP directory].",
)
@click.option(
    "--min-margin",
    type=float,
    default=0.0,
    show_default=True,
    help="Blessing: how much the eval macro F1 and balanced accuracy must beat the majority baseline.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Samples per inference batch. About three batches are in memory at once (a decoded 60 s trial "
    "is ~12 MB); the scores do not depend on it.",
)
@click.option("--plot-trials", type=int, default=4, show_default=True, help="Trials drawn in the plots.")
@click.option("--force", is_flag=True, help="Evaluate again even if nothing changed.")
def command(run_dir, data_dir, split, ground_truth, min_margin, batch_size, plot_trials, force):
    """Score a trained run next to the majority-class baseline and decide its blessing.

    Writes RUN/evaluation/SPLIT/: metrics.json (CR = accuracy, macro F1, balanced accuracy, confusion
    matrix, majority baseline from the TRAIN labels, glimpses, per subject), predictions.csv,
    blessing.json (eval macro F1 and balanced accuracy must beat the baseline's) and plots/*.png
    (glimpse timeline with the planted window on synthetic data, band and layer attention, confusion matrix).
    """
    from emorecog.evaluation.blessing_rule import BlessingRule

    run = run_evaluator(
        run_dir,
        data_dir,
        split=split,
        blessing_rule=BlessingRule(min_margin=min_margin),
        batch_size=batch_size,
        plot_trials=plot_trials,
        ground_truth=ground_truth,
        force=force,
    )
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)
    baseline = report["majority_baseline"]
    click.echo(f"{'unchanged, skipped' if run.skipped else 'evaluated'}: {run.output_dir}")
    click.echo(
        f"{split} ({report['num_samples']} samples, target {report['target']}): "
        f"CR {report['accuracy']:.4f}  macro F1 {report['f1_macro']:.4f}  "
        f"balanced accuracy {report['balanced_accuracy']:.4f}"
    )
    click.echo(
        f"majority baseline (class {baseline['class_id']} from train): CR {baseline['accuracy']:.4f}  "
        f"macro F1 {baseline['f1_macro']:.4f}"
    )
    blessing = report["blessing"]
    click.echo(f"blessed: {blessing['blessed']} ({'; '.join(blessing['reasons'])})")
