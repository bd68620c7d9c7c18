"""`emorecog demo`: synthetic DEAP -> the whole pipeline -> a served-model check -> a results table."""

import json
import os
import subprocess
import time

import click

# The demo's choices (README, "The demo"), measured on a shared 2-core CPU:
# - data: 6 subjects x 20 trials of 30 s (84 train / 18 eval / 18 test trials, trial-disjoint 5:1:1) with a
#   clear planted signal (difficulty 0.1) in one event of 3-5 s per trial, placed at random in the trial, so
#   the model has to search for it (the event covers 10-17 % of a trial);
# - samples at 4 fps (T = 120 frames);
# - the default model (N_max 40, L 3, batch 12, dropout 0.6, Adam 1e-3, the skim-informed segment policy and
#   the learned stop), 20 epochs, the best epoch by eval macro F1.
DEMO_EPOCHS = 20
DEMO_TARGET = "valence"
DEMO_MODEL_NAME = "emorecog"
DEMO_SYNTH = {"trials": 20, "duration_s": 30, "difficulty": 0.1, "event_window_s": 3.0, "event_window_max_s": 5.0}
DEMO_FPS = 4


@click.command(name="demo")
@click.option(
    "--workdir",
    default="demo_workdir",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the synthetic data, TFRecords, run and saved_models/ go (reused by a rerun).",
)
@click.option("--epochs", type=int, default=DEMO_EPOCHS, show_default=True, help="Training epochs.")
@click.option("--target", type=click.Choice(["valence", "arousal"]), default=DEMO_TARGET, show_default=True)
def command(workdir, epochs, target):
    """Generate a synthetic DEAP set, ingest it, train, evaluate, export, and serve one trial.

    Writes WORKDIR/deap/ (synthetic DEAP with ground_truth.json), WORKDIR/examples/ (TFRecords),
    WORKDIR/runs/full-<target>/ (model, TensorBoard logs, evaluation with plots), WORKDIR/saved_models/
    (the SavedModel for TF Serving) and WORKDIR/demo_results.json. The exported model is then loaded in a
    fresh Python process in which emorecog cannot be imported, and predicts one test trial. A rerun reuses
    every step whose inputs did not change.
    """
    from emorecog.commands.ingest import ProgressDisplay
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
    from emorecog.models.model_config import ModelConfig
    from emorecog.output_folders import claim_folder
    from emorecog.pipelines.local_pipeline import run_local_pipeline
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from emorecog.training.training_config import TrainingConfig

    started = time.perf_counter()
    timings = {}
    workdir = os.path.abspath(workdir)
    claim_folder(workdir, "emorecog demo")
    deap_dir = os.path.join(workdir, "deap")
    synth_config = SynthConfig(**DEMO_SYNTH)

    step = time.perf_counter()
    if _synthetic_matches(deap_dir, synth_config):
        click.echo(f"synth: reusing {deap_dir}")
    else:
        click.echo(f"synth: writing a synthetic DEAP directory to {deap_dir}")
        write_synthetic_deap(deap_dir, synth_config, overwrite=True)
    timings["synth"] = time.perf_counter() - step

    step = time.perf_counter()
    beam_log = os.path.join(workdir, "beam.log")
    result = run_local_pipeline(
        deap_dir,
        workdir,
        ModelConfig.for_ablation("full"),
        TrainingConfig(target=target, epochs=epochs),
        preprocess_config=PreprocessConfig(fps=DEMO_FPS),
        model_name=DEMO_MODEL_NAME,
        beam_log=beam_log,
        log=click.echo,
        progress=ProgressDisplay().update,
    )
    timings["pipeline (ingest, train, evaluate, export)"] = time.perf_counter() - step
    for name, state, path in result.steps():
        click.echo(f"  {name:<11} {state:<28} {path}")

    pusher = result.pusher
    if pusher is None:
        from emorecog.components.pusher import push_run

        click.echo("WARNING: the model was not blessed; exporting it anyway (--force) so the demo can serve it")
        pusher = push_run(result.run_dir, os.path.join(workdir, "saved_models"), DEMO_MODEL_NAME, force=True)
    model_dir = os.path.dirname(pusher.output_dir)

    step = time.perf_counter()
    served = _predict_in_clean_process(model_dir, result.examples_dir)
    timings["served-model check (fresh process, no emorecog)"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started

    with open(os.path.join(result.evaluator.output_dir, "metrics.json")) as handle:
        metrics = json.load(handle)
    with open(os.path.join(result.run_dir, "model", "training_summary.json")) as handle:
        training = json.load(handle)
    from emorecog.evaluation.model_evaluation import comparison_row

    results = {
        "target": target,
        "epochs": epochs,
        "test": {key: metrics[key] for key in ("num_samples", "accuracy", "f1_macro", "balanced_accuracy")},
        "comparison": comparison_row(metrics),
        "majority_baseline": {key: metrics["majority_baseline"][key] for key in ("class_id", "accuracy", "f1_macro")},
        "classical_baseline": metrics.get("classical_baseline"),
        "uniform_k_baseline": metrics.get("uniform_k_baseline"),
        "glimpses": metrics.get("glimpses"),
        "planted_window": metrics.get("planted_window"),
        "blessed": result.blessed,
        "train_samples_per_second": training.get("train_samples_per_second"),
        "best_epoch": training.get("best_epoch"),
        "exported_model": pusher.output_dir,
        "served_prediction": served,
        "seconds": {name: round(value, 1) for name, value in timings.items()},
    }
    with open(os.path.join(workdir, "demo_results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    click.echo("")
    click.echo(_table(results, model_dir, result))


def _synthetic_matches(deap_dir, synth_config):
    import dataclasses

    path = os.path.join(deap_dir, "ground_truth.json")
    if not os.path.isfile(path):
        return False
    with open(path) as handle:
        return json.load(handle).get("config") == json.loads(json.dumps(dataclasses.asdict(synth_config)))


def _predict_in_clean_process(model_dir, examples_dir):
    """Load the export with TensorFlow alone in `python -I -S` (emorecog not importable) and predict."""
    from emorecog.datasets import tfrecord_reader
    from emorecog.testing.isolated_python import isolated_python_command

    record_file = tfrecord_reader.split_files(examples_dir, "test")[0]
    command = isolated_python_command(["--model", model_dir, "--tfrecord", record_file, "--index", "0"])
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(model_dir),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if completed.returncode != 0:
        raise click.ClickException(f"the exported model failed in a clean process:\n{completed.stderr[-3000:]}")
    served = json.loads(completed.stdout.strip().splitlines()[-1])
    served["command"] = " ".join(command[:4]) + " ..."
    served["record"] = f"{record_file} #0"
    return served


def _table(results, model_dir, pipeline):
    test, row = results["test"], results["comparison"]
    served = results["served_prediction"]
    planted = results["planted_window"] or {}

    def cell(value, form=".3f"):
        return f"{'-' if value is None else format(value, form):>11}"

    lines = [
        "=" * 82,
        f"emorecog demo: {results['target']} on the synthetic test split ({test['num_samples']} trials)",
        "=" * 82,
        f"{'':<22}{'model':>11}{'majority':>11}{'classical':>11}{'uniform-K':>11}",
    ]
    for label, key in (
        ("accuracy (CR)", "accuracy"),
        ("macro F1", "f1_macro"),
        ("balanced accuracy", "balanced_accuracy"),
    ):
        lines.append(
            f"{label:<22}{cell(row[key])}{cell(row[f'majority_baseline_{key}'])}"
            f"{cell(row[f'classical_baseline_{key}'])}{cell(row[f'uniform_k_{key}'])}"
        )
    lines += [
        f"{'frames read (mean)':<22}{cell(row['mean_glimpses'], '.1f')}{cell(0, 'd')}{cell(None)}"
        f"{cell(row['uniform_k_glimpses'], 'd')}",
        "  classical = band powers per electrode + logistic regression (fitted on train, C chosen on eval);",
        "  uniform-K = the same model reading K evenly spaced frames, K = its mean number of glimpses",
    ]
    if planted.get("glimpses_inside_fraction") is not None:
        lines += [
            f"{'glimpses in the event':<22}{planted['glimpses_inside_fraction']:>11.1%}"
            f"   (chance: {planted['chance_fraction']:.1%} of a trial's frames are inside its event)",
            f"{'trials glimpsed':<22}{planted['trials_glimpsed_fraction']:>11.1%}"
            "   (trials with at least one glimpse inside their event)",
        ]
    lines += [
        f"{'blessed (eval split)':<22}{str(results['blessed']):>11}",
        f"{'training samples / s':<22}{(results['train_samples_per_second'] or 0):>11.1f}",
        "-" * 82,
        f"exported model   {results['exported_model']}",
        f"served check     fresh `python -I -S` without emorecog: {served['signature']} on {served['record']}",
        f"                 -> class {served['class_id']}, p = {[round(p, 3) for p in served['probabilities']]}, "
        f"glimpses at frames {served['glimpse_frames'][:10]}{' ...' if len(served['glimpse_frames']) > 10 else ''}",
        f"plots            {os.path.join(pipeline.evaluator.output_dir, 'plots')}",
        f"TensorBoard      tensorboard --logdir {os.path.join(pipeline.run_dir, 'logs')}",
        "-" * 82,
        "serve it with TF Serving (REST on port 8501):",
        f"  docker run -p 8501:8501 -v {os.path.dirname(model_dir)}:/models -e MODEL_NAME="
        f"{os.path.basename(model_dir)} tensorflow/serving",
        f"  emorecog predict --model {model_dir} --tfrecord {served['record'].split(' #')[0]} --index 0 "
        "--request-json request.json --signature serve_examples",
        f"  curl -d @request.json http://localhost:8501/v1/models/{os.path.basename(model_dir)}:predict",
        "-" * 82,
        "wall time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results["seconds"].items()),
    ]
    return "\n".join(lines)
