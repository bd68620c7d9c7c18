"""`emorecog pipeline`: ExampleGen -> Trainer -> Evaluator -> Pusher, skipping unchanged components."""

import click

from emorecog.commands.shared_options import (
    model_options,
    preprocess_options,
    source_options,
    training_options,
)


@click.command(name="pipeline")
@source_options
@click.option(
    "--root",
    "pipeline_root",
    default="pipeline_root",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where examples/, runs/ and saved_models/ go: new, empty, or one emorecog made.",
)
@model_options
@training_options
@preprocess_options
@click.option(
    "--split",
    "split_mode",
    type=click.Choice(["trial", "subject"]),
    default="trial",
    show_default=True,
    help="trial: trial-disjoint within subject (5:1:1); subject: subject-disjoint.",
)
@click.option("--model-name", default="emorecog", show_default=True, help="Served model name.")
@click.option(
    "--serving-base",
    type=click.Path(file_okay=False),
    help="TF Serving model base folder [default: ROOT/saved_models].",
)
@click.option("--runner", default="DirectRunner", show_default=True, help="Beam runner of ExampleGen.")
@click.option("--workers", type=int, default=None, help="DirectRunner worker processes [default: CPU cores].")
@click.option(
    "--beam-option",
    "beam_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Beam pipeline option passed through to ExampleGen (repeatable).",
)
def command(
    source,
    pipeline_root,
    model_config,
    training_config,
    preprocess_config,
    split_mode,
    model_name,
    serving_base,
    runner,
    workers,
    beam_options,
):
    """Run the whole pipeline; a component whose inputs and parameters did not change is skipped.

    Reads a DEAP directory, a MAHNOB-HCI folder or a manifest of recordings. Writes ROOT/examples/
    (TFRecords), ROOT/runs/<ablation>-<target>/ (model, checkpoints, TensorBoard logs, evaluation/test/
    metrics and plots) and, if the Evaluator blesses the model, SERVING_BASE/MODEL_NAME/<version>/ (a
    SavedModel for TF Serving).
    """
    from emorecog import splits
    from emorecog.commands.ingest import BeamLog, ProgressDisplay
    from emorecog.pipelines.local_pipeline import run_local_pipeline

    try:
        split_config = splits.SplitConfig(mode=split_mode)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from error
    display = ProgressDisplay()
    source_format, source_path = source
    with BeamLog(None, "emorecog-pipeline-beam-") as log_file:
        result = run_local_pipeline(
            source_path,
            pipeline_root,
            model_config,
            training_config,
            preprocess_config=preprocess_config,
            split_config=split_config,
            model_name=model_name,
            serving_base=serving_base,
            runner=runner,
            num_workers=workers,
            beam_options=beam_options,
            progress=display.update,
            beam_log=log_file.path,
            log=click.echo,
            source_format=source_format,
        )
    if log_file.kept:
        click.echo(f"Beam log: {log_file.path}")
    click.echo("")
    for name, state, path in result.steps():
        click.echo(f"{name:<11} {state:<28} {path}")
