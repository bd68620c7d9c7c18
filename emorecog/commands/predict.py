"""`emorecog predict`: preprocessing + an exported SavedModel on one trial, or the TF Serving REST body."""

import os

import click


@click.command(name="predict")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="saved_models/<name> (the version TF Serving would serve: the highest number, which must "
    "be complete) or one version folder (never a hidden .N.partial-* staging folder).",
)
@click.option(
    "--deap",
    "deap_dir",
    type=click.Path(exists=True, file_okay=False),
    help="A DEAP directory: the trial is preprocessed as the model's training data was.",
)
@click.option("--subject", help="Subject of --deap, e.g. s01.")
@click.option("--trial", type=int, help="DEAP video id (Experiment_id) of --deap, 1..40.")
@click.option(
    "--tfrecord",
    type=click.Path(exists=True, dir_okay=False),
    help="A GZIP TFRecord file of `emorecog ingest` (instead of --deap).",
)
@click.option("--index", type=int, default=0, show_default=True, help="Record index in --tfrecord.")
@click.option(
    "--request-json",
    type=click.Path(dir_okay=False),
    help="Write the TF Serving REST request body for this trial here instead of predicting (a new "
    "file, or one written so before).",
)
@click.option(
    "--format",
    "request_format",
    type=click.Choice(["instances", "inputs"]),
    default="instances",
    show_default=True,
    help="REST body form: row (instances) or columnar (inputs).",
)
@click.option(
    "--signature",
    type=click.Choice(["serve_compact", "serving_default", "serve_examples"]),
    default="serve_compact",
    show_default=True,
    help="Signature the REST body is for: serve_compact (band energies + JPEG crops, ~1 MB for a 60 s "
    "trial), serving_default (dense tensors, ~50 MB), or serve_examples (the base64 tf.Example).",
)
def command(model_path, deap_dir, subject, trial, tfrecord, index, request_json, request_format, signature):
    """Predict one trial with an exported SavedModel and show where the model looked.

    With --deap the trial runs through the same preprocessing (EEG band images, MediaPipe face crops) as
    the model's training data, whose settings the export recorded. The model is loaded with
    tf.saved_model.load (no Keras, no emorecog layers), as TF Serving would.
    """
    from emorecog.serving import trial_request

    if (deap_dir is None) == (tfrecord is None):
        raise click.UsageError("give either --deap DIR --subject S --trial N, or --tfrecord FILE [--index I]")
    if deap_dir is not None:
        if not subject or trial is None:
            raise click.UsageError("--deap needs --subject and --trial")
        record = trial_request.record_from_deap(model_path, deap_dir, subject, trial)
        where = f"{deap_dir} subject {subject} trial {trial}"
    else:
        record = trial_request.record_from_tfrecord(tfrecord, index)
        where = f"{tfrecord}, record {index}"
    if request_json:
        body = trial_request.request_body(model_path, record, signature, request_format, where)
        trial_request.write_request_body(
            request_json, body, inputs={"model": model_path, "deap": deap_dir, "tfrecord": tfrecord}
        )
        click.echo(
            f"wrote {request_json} ({os.path.getsize(request_json) / 1e6:.1f} MB), "
            f"signature {signature}, '{request_format}' form; send it with:\n"
            f"  curl -X POST http://localhost:8501/v1/models/<model_name>:predict "
            f"-H 'Content-Type: application/json' -d @{request_json}"
        )
        return
    click.echo(trial_request.describe_prediction(trial_request.predict_record(model_path, record, where)))
