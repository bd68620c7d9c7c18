"""`emorecog cv`: cross-validation folds (leave-one-subject-out or K folds), mean and spread of the metrics."""

import os

import click

from emorecog.commands.shared_options import model_options, training_options


@click.command(name="cv")
@click.option(
    "--deap",
    "deap_dir",
    type=click.Path(exists=True, file_okay=False),
    help="DEAP directory: ingested once into OUT/examples, then split into folds.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    help="An existing ExampleGen output (instead of --deap); its splits are pooled.",
)
@click.option("--folds", default="loso", show_default=True, help="'loso' (one fold per subject) or a number K >= 3.")
@click.option(
    "--mode",
    type=click.Choice(["subject", "trial"]),
    default="subject",
    show_default=True,
    help="Folds of whole subjects, or of each subject's trials (K folds only).",
)
@click.option(
    "--out",
    "out_dir",
    default=os.path.join("runs", "cv"),
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the folds and cv_results.json go: new, empty, or one emorecog made.",
)
@model_options
@training_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@click.option("--workers", type=int, default=None, help="Beam DirectRunner workers for --deap.")
def command(deap_dir, data_dir, folds, mode, out_dir, model_config, training_config, seed, workers):
    """Cross-validate: for each fold, train (eval fold selects the epoch) and score the held-out test fold.

    Test = fold k, eval = fold k+1, train = the rest; no trial is ever cut across splits and the EEG
    normalisation of each fold comes from its own train split. Folds are numbered 1..K. A fold copies no
    record: OUT/fold-<k>/examples/ holds an index of the pooled records (fold_index.json) and the fold's
    stats.json. Writes OUT/fold-<k>/{examples,run}/, OUT/cv_results.json (per fold and mean / std / min /
    max of CR, macro F1, balanced accuracy and the majority and classical baselines) and OUT/cv_summary.png.
    """
    from emorecog.pipelines.cross_validation import run_cross_validation

    if (deap_dir is None) == (data_dir is None):
        raise click.UsageError("give either --deap DIR or --data DIR")
    if folds != "loso":
        try:
            folds = int(folds)
        except ValueError:
            raise click.BadParameter(f"must be 'loso' or a number >= 3, got {folds!r}", param_hint="--folds") from None
    from emorecog.output_folders import claim_folder

    claim_folder(out_dir, "emorecog cv", inputs={"deap": deap_dir})  # before ExampleGen writes OUT/examples
    if deap_dir is not None:
        from emorecog.components.example_gen import run_example_gen

        data_dir = os.path.join(out_dir, "examples")
        click.echo(f"ExampleGen: {deap_dir} -> {data_dir}")
        run_example_gen(deap_dir, data_dir, num_workers=workers)
    summary = run_cross_validation(
        data_dir, out_dir, folds, mode, model_config, training_config, seed=seed, log=click.echo
    )
    click.echo("")
    click.echo(
        f"{'fold':<6}{'test subjects':<22}{'CR':>8}{'macro F1':>10}{'bal. acc':>10}{'majority CR':>13}"
        f"{'classical CR':>14}"
    )
    for row in summary["per_fold"]:
        classical = row["classical_baseline_accuracy"]
        click.echo(
            f"{row['fold']:<6}{','.join(row['test_subjects'])[:21]:<22}{row['accuracy']:>8.3f}"
            f"{row['f1_macro']:>10.3f}{row['balanced_accuracy']:>10.3f}{row['majority_baseline_accuracy']:>13.3f}"
            f"{'n/a' if classical is None else format(classical, '.3f'):>14}"
        )
    spread = summary["summary"]
    click.echo(
        "mean +- std  "
        + "  ".join(
            f"{name} {spread[name]['mean']:.3f} +- {spread[name]['std']:.3f}"
            for name in (
                "accuracy",
                "f1_macro",
                "balanced_accuracy",
                "majority_baseline_accuracy",
                "classical_baseline_accuracy",
            )
            if spread[name]["mean"] is not None
        )
    )
    click.echo(f"wrote {os.path.join(out_dir, 'cv_results.json')} and {os.path.join(out_dir, 'cv_summary.png')}")
