"""The local pipeline (ExampleGen -> Trainer -> Evaluator -> Pusher, skipping unchanged steps) and
`emorecog demo` (slow end to end; its pieces run at small size in the default suite)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run


def _pipeline(deap_dir, root, epochs, serving_base, **kwargs):
    from emorecog.pipelines.local_pipeline import run_local_pipeline
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from tests.tiny_pipeline import TINY_PREPROCESS, tiny_model_config, tiny_training_config

    return run_local_pipeline(
        deap_dir,
        root,
        tiny_model_config(),
        tiny_training_config(epochs=epochs),
        preprocess_config=PreprocessConfig(**TINY_PREPROCESS),
        num_workers=1,
        serving_base=serving_base,
        log=lambda line: None,
        **kwargs,
    )


def test_pipeline_skips_unchanged_components_and_redoes_what_a_change_affects(tiny, tmp_path):
    from tests.tiny_pipeline import TINY_EPOCHS

    deap_dir, examples_dir, run_dir = tiny
    root = shutil.copytree(
        os.path.dirname(os.path.dirname(run_dir)), tmp_path / "pipeline", ignore=shutil.ignore_patterns("evaluation")
    )
    serving = str(tmp_path / "saved_models")
    first = _pipeline(deap_dir, root, TINY_EPOCHS, serving)
    states = dict((name, state) for name, state, _ in first.steps())
    assert states["ExampleGen"].startswith("skipped") and states["Trainer"].startswith("skipped")
    assert states["Evaluator"] == "ran"
    assert (first.pusher is not None) == first.blessed
    assert os.path.isfile(os.path.join(first.evaluator.output_dir, "metrics.json"))

    again = _pipeline(deap_dir, root, TINY_EPOCHS, serving)
    assert all(state.startswith(("skipped", "not run")) for _, state, _ in again.steps())

    longer = _pipeline(deap_dir, root, TINY_EPOCHS + 1, serving)
    states = dict((name, state) for name, state, _ in longer.steps())
    assert states["ExampleGen"].startswith("skipped")
    assert states["Trainer"] == "ran" and states["Evaluator"] == "ran"
    with open(os.path.join(longer.run_dir, "model", "history.json")) as handle:
        assert len(json.load(handle)) == TINY_EPOCHS + 1


def test_demo_loads_the_export_in_a_process_without_emorecog(tiny, tmp_path):
    from emorecog.commands.demo import _predict_in_clean_process
    from emorecog.components.pusher import push_run

    _, examples_dir, run_dir = tiny
    version = push_run(run_dir, str(tmp_path), "demo", force=True)
    served = _predict_in_clean_process(os.path.dirname(version.output_dir), examples_dir)
    assert served["emorecog_importable"] is False and served["signature"] == "serve_examples"
    assert served["export_dir"] == version.output_dir
    assert len(served["probabilities"]) == 2 and sum(served["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert 1 <= served["glimpse_count"] <= 4 and len(served["glimpse_frames"]) == served["glimpse_count"]
    assert "-I -S" in served["command"]


def test_demo_table_shows_metrics_baselines_search_and_serving():
    from emorecog.commands.demo import _table

    class Evaluated:
        output_dir = "/w/runs/full-valence/evaluation/test"

    class Pipeline:
        evaluator = Evaluated()
        run_dir = "/w/runs/full-valence"

    comparison = {
        "accuracy": 0.9,
        "f1_macro": 0.88,
        "balanced_accuracy": 0.9,
        "mean_glimpses": 3.5,
        "majority_baseline_accuracy": 0.5,
        "majority_baseline_f1_macro": 0.33,
        "majority_baseline_balanced_accuracy": 0.5,
        "classical_baseline_accuracy": 0.81,
        "classical_baseline_f1_macro": 0.8,
        "classical_baseline_balanced_accuracy": 0.82,
        "uniform_k_accuracy": 0.6,
        "uniform_k_f1_macro": 0.55,
        "uniform_k_balanced_accuracy": 0.61,
        "uniform_k_glimpses": 4,
    }
    results = {
        "target": "valence",
        "test": {"num_samples": 12, "accuracy": 0.9, "f1_macro": 0.88, "balanced_accuracy": 0.9},
        "comparison": comparison,
        "planted_window": {"glimpses_inside_fraction": 0.4, "chance_fraction": 0.15, "trials_glimpsed_fraction": 0.95},
        "blessed": True,
        "train_samples_per_second": 20.0,
        "exported_model": "/w/saved_models/emorecog/1",
        "served_prediction": {
            "signature": "serve_examples",
            "record": "/w/x.gz #0",
            "class_id": 1,
            "probabilities": [0.1, 0.9],
            "glimpse_frames": [3, 4, 5],
        },
        "seconds": {"total": 300.0},
    }
    table = _table(results, "/w/saved_models/emorecog", Pipeline())
    for text in (
        "accuracy (CR)",
        "0.900",
        "0.500",
        "0.810",
        "0.600",
        "macro F1",
        "majority",
        "classical",
        "uniform-K",
        "frames read (mean)",
        "3.5",
        "glimpses in the event",
        "40.0%",
        "chance: 15.0%",
        "trials glimpsed",
        "95.0%",
        "/w/saved_models/emorecog/1",
        "docker run -p 8501:8501",
        "MODEL_NAME=emorecog",
        "v1/models/emorecog:predict",
        "tensorboard --logdir",
        "total 300 s",
    ):
        assert text in table, text
    # A baseline that does not apply (e.g. uniform-K for a full-sequence model) shows as "-".
    results["comparison"] = {**comparison, "uniform_k_accuracy": None, "uniform_k_glimpses": None}
    assert " -" in _table(results, "/w/saved_models/emorecog", Pipeline())


def test_demo_and_pipeline_help_say_what_they_write():
    for name, expected in (("demo", "saved_models"), ("pipeline", "examples/"), ("cv", "cv_results.json")):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and expected in result.output, (name, result.output)


@pytest.mark.slow
def test_pipeline_cli_on_a_fresh_dataset_passes_beam_options_through(tmp_path):
    from emorecog.artifact_metadata import read_metadata
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    deap_dir = str(tmp_path / "deap")
    write_synthetic_deap(
        deap_dir, SynthConfig(subjects=3, trials=7, duration_s=5, width=96, height=80, event_window_s=2.0)
    )
    config = tmp_path / "model.json"
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS

    config.write_text(json.dumps(TINY_MODEL))
    root = str(tmp_path / "root")
    command = [
        sys.executable,
        "-m",
        "emorecog.cli",
        "pipeline",
        "--deap",
        deap_dir,
        "--root",
        root,
        "--epochs",
        "1",
        "--config",
        str(config),
        *TINY_TRAINING_FLAGS,
        "--fps",
        "4",
        "--image-size",
        "8",
        "--face-size",
        "16",
        "--workers",
        "1",
        "--beam-option",
        "direct_running_mode=in_memory",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    flags = read_metadata(os.path.join(root, "examples"))["beam_flags"]
    assert "--direct_running_mode=in_memory" in flags
    assert os.path.isfile(os.path.join(root, "runs", "full-valence", "evaluation", "test", "metrics.json"))
    assert "Evaluator" in completed.stdout and "Pusher" in completed.stdout


@pytest.mark.slow
def test_demo_end_to_end_beats_the_majority_baseline(tmp_path):
    workdir = tmp_path / "demo"
    completed = subprocess.run(
        [sys.executable, "-m", "emorecog.cli", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert "emorecog demo: valence on the synthetic test split" in completed.stdout
    with open(workdir / "demo_results.json") as handle:
        results = json.load(handle)
    row = results["comparison"]
    assert row["accuracy"] >= 0.85 and row["accuracy"] >= row["majority_baseline_accuracy"] + 0.2, row
    assert row["accuracy"] >= row["classical_baseline_accuracy"] - 0.05, row
    assert row["accuracy"] > row["uniform_k_accuracy"], row
    planted = results["planted_window"]
    assert planted["glimpses_inside_fraction"] >= 2 * planted["chance_fraction"], planted
    assert results["served_prediction"]["emorecog_importable"] is False
    assert os.path.isfile(os.path.join(results["exported_model"], "saved_model.pb"))


def test_command_help_answers_without_importing_tensorflow():
    probe = (
        "import sys\nfrom click.testing import CliRunner\nfrom emorecog.cli import main\n"
        "for name in ('train', 'evaluate', 'export', 'predict', 'cv', 'pipeline', 'demo'):\n"
        "    assert CliRunner().invoke(main, [name, '--help']).exit_code == 0, name\n"
        "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]"
