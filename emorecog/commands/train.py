"""`emorecog train`: the Trainer component from the command line."""

import json
import os

import click

from emorecog.commands.shared_options import model_options, training_options


@click.command(name="train")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="ExampleGen output of `emorecog ingest` (Split-*/ TFRecords, schema.json, stats.json).",
)
@model_options
@training_options
@click.option(
    "--out", "run_dir", type=click.Path(file_okay=False), help="Run directory [default: runs/<ablation>-<target>]."
)
@click.option("--restart", is_flag=True, help="Discard the run's checkpoints instead of resuming from them.")
def command(data_dir, model_config, training_config, run_dir, restart):
    """Train the model on Split-train, keep the best epoch by eval-split macro F1.

    Reads DATA (TFRecords through the schema module). Writes RUN_DIR/checkpoints/ (resumable: rerunning
    the same command after an interruption continues after the last finished epoch), RUN_DIR/logs/
    (TensorBoard: losses, reward, glimpses, learning rate, glimpsed EEG images and face crops) and
    RUN_DIR/model/ (model.keras of the best epoch, configs, history, training_summary.json).
    """
    from emorecog.components.trainer import run_trainer

    run_dir = run_dir or os.path.join("runs", f"{model_config.ablation}-{training_config.target}")
    run = run_trainer(data_dir, run_dir, model_config, training_config, restart=restart, log=click.echo)
    if run is None:
        click.echo("worker finished (only the chief writes the run directory)")
        return
    summary = run.metadata.get("summary", {})
    state = "unchanged, skipped" if run.skipped else "trained"
    click.echo(f"{state}: {run.artifact('model.keras')}")
    click.echo(json.dumps(summary, indent=2))
