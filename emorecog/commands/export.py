"""`emorecog export`: the Pusher component from the command line."""

import os

import click


@click.command(name="export")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Run directory (reads RUN/model/ and the blessing in RUN/evaluation/*/).",
)
@click.option(
    "--model-name",
    default="emorecog",
    show_default=True,
    help="Served model name: TF Serving's --model_name and the REST path /v1/models/<name>.",
)
@click.option(
    "--base",
    "base_dir",
    default="saved_models",
    show_default=True,
    type=click.Path(file_okay=False),
    help="TF Serving model base folder; the version goes to BASE/MODEL_NAME/<version>/.",
)
@click.option("--force", is_flag=True, help="Export although the run is not blessed.")
def command(run_dir, model_name, base_dir, force):
    """Write a blessed run as the next SavedModel version for TF Serving (atomically).

    The SavedModel has `serving_default` (eeg float32 [B,T,H,W,3], face uint8 [B,T,S,S,3], face_present
    float32 [B,T] -> probabilities, class_id, glimpse_frames, glimpse_count, band_weights, layer_weights)
    and `serve_examples` (serialized tf.Example strings -> the same outputs). It loads with
    `tf.saved_model.load` without emorecog installed.
    """
    from emorecog.components.pusher import push_run

    run = push_run(run_dir, base_dir, model_name, force=force)
    state = "already exported, skipped" if run.skipped else "exported"
    click.echo(f"{state}: {run.output_dir}")
    click.echo(
        f"serve it: docker run -p 8501:8501 -v {os.path.abspath(base_dir)}:/models "
        f"-e MODEL_NAME={model_name} tensorflow/serving"
    )
