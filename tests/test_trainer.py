"""Trainer: training loop, best-by-eval-F1 selection, TensorBoard logs, resume, configs, distribution roles.

The tiny run used here (and by test_evaluation, test_serving and test_demo: conftest's `tiny_run`) is
real end to end: synthetic DEAP -> ExampleGen (Beam, MediaPipe) -> Trainer with the real model, at a
small size. It is built once per session under pytest's base temp folder and reused (the component
runner skips unchanged steps).
"""

import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from emorecog.cli import main as cli
from emorecog.training import distribution, training_checkpoint
from emorecog.training.training_config import TrainingConfig
from tests.tiny_pipeline import (
    TINY_EPOCHS,
    TINY_MODEL,
    TINY_PREPROCESS,
    TINY_TRAINING_FLAGS,
    tiny_model_config,
    tiny_training_config,
)


@pytest.fixture(scope="session")
def tiny(tiny_run):
    return tiny_run


def _json(path):
    with open(path) as handle:
        return json.load(handle)


def test_training_writes_the_model_configs_history_and_summary(tiny):
    _, _, run_dir = tiny
    model_dir = os.path.join(run_dir, "model")
    for name in (
        "model.keras",
        "model_config.json",
        "training_config.json",
        "schema.json",
        "history.json",
        "training_summary.json",
        "eeg_normalisation.json",
        "preprocessing.json",
    ):
        assert os.path.isfile(os.path.join(model_dir, name)), name
    history = _json(os.path.join(model_dir, "history.json"))
    assert [entry["epoch"] for entry in history] == list(range(1, TINY_EPOCHS + 1))
    for key in (
        "loss",
        "classification_loss",
        "penalty",
        "reinforce_loss",
        "baseline_loss",
        "reward",
        "glimpses",
        "accuracy",
        "val_f1_macro",
        "val_accuracy",
        "val_balanced_accuracy",
        "train_samples_per_second",
    ):
        assert key in history[0], key
    summary = _json(os.path.join(model_dir, "training_summary.json"))
    assert summary["num_train_samples"] == 15 and summary["num_eval_samples"] == 3
    assert summary["train_samples_per_second"] > 0
    assert _json(os.path.join(model_dir, "preprocessing.json"))["preprocess_config"]["fps"] == 4


def test_best_epoch_is_the_highest_eval_macro_f1_and_is_the_saved_model(tiny):
    import keras

    from emorecog import features
    from emorecog.models.builder import build_model
    from emorecog.models.model_config import ModelConfig
    from emorecog.training.trained_model import load_trained_model

    _, _, run_dir = tiny
    history = _json(os.path.join(run_dir, "model", "history.json"))
    summary = _json(os.path.join(run_dir, "model", "training_summary.json"))
    scores = [entry["val_f1_macro"] for entry in history]
    assert summary["best_epoch"] == int(np.argmax(scores)) + 1  # first epoch wins a tie
    assert summary["best_eval_f1_macro"] == pytest.approx(max(scores))
    assert "test" not in json.dumps(history)  # the test split never enters selection

    model, _ = load_trained_model(os.path.join(run_dir, "model"))
    config = ModelConfig.from_dict(_json(os.path.join(run_dir, "model", "model_config.json")))
    shape = features.SampleShape.from_schema(_json(os.path.join(run_dir, "model", "schema.json")))
    best = build_model(config, shape)
    best.optimizer.build(best.trainable_variables)
    best.load_weights(os.path.join(run_dir, "checkpoints", training_checkpoint.BEST_WEIGHTS))
    for saved, reference in zip(model.weights, best.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(reference))


def _event_tags(directory):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(directory, size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"]) | set(accumulator.Tags()["images"]), accumulator


def test_tensorboard_has_losses_reward_glimpses_learning_rate_and_glimpse_images(tiny):
    _, _, run_dir = tiny
    logs = os.path.join(run_dir, "logs")
    train_tags, _ = _event_tags(os.path.join(logs, "train"))
    for tag in (
        "epoch_loss",
        "epoch_classification_loss",
        "epoch_reward",
        "epoch_glimpses",
        "epoch_learning_rate",
        "epoch_train_samples_per_second",
    ):
        assert tag in train_tags, (tag, sorted(train_tags))
    validation_tags, _ = _event_tags(os.path.join(logs, "validation"))
    assert {"epoch_f1_macro", "epoch_accuracy", "epoch_glimpses"} <= validation_tags
    image_tags, accumulator = _event_tags(os.path.join(logs, "images"))
    eeg_tags = [tag for tag in image_tags if tag.startswith("glimpses/eeg_bands/")]
    face_tags = [tag for tag in image_tags if tag.startswith("glimpses/face/")]
    assert eeg_tags and face_tags
    events = accumulator.Tensors(eeg_tags[0])
    assert [event.step for event in events] == list(range(TINY_EPOCHS))
    # an image summary tensor holds [width, height, encoded PNG...]; the EEG image is the rendered head figure
    width, height, png = events[0].tensor_proto.string_val[:3]
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (int(width), int(height)) and int(width) > int(height) > 100
    width, height = (int(value) for value in accumulator.Tensors(face_tags[0])[0].tensor_proto.string_val[:2])
    assert height == TINY_PREPROCESS["face_size"] and width % height == 0


def test_glimpse_band_image_figure_shows_the_mean_of_the_glimpsed_frames():
    from emorecog.datasets.deap import EEG_CHANNELS
    from emorecog.evaluation.band_image_layout import BandImageLayout
    from emorecog.preprocessing.eeg_images import InterpolationOperator
    from emorecog.training.glimpse_image_summary import glimpse_band_images_png

    operator = InterpolationOperator(EEG_CHANNELS, 8)
    layout = BandImageLayout.from_operator(operator, "relative_db")
    eeg = operator(np.random.default_rng(1).normal(size=(5, len(EEG_CHANNELS), 3)))
    png = glimpse_band_images_png(eeg, np.array([4, 0]), layout, "s01-trial01, epoch 1")
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.size[0] > picture.size[1]


def test_face_strip_places_frames_side_by_side():
    from emorecog.training.glimpse_image_summary import face_strip

    face = np.arange(5 * 6 * 6 * 3).reshape(5, 6, 6, 3).astype(np.uint8)
    strip = face_strip(face, np.array([4, 0, 4]))
    assert strip.shape == (6, 18, 3)
    np.testing.assert_array_equal(strip[:, :6], face[4])
    np.testing.assert_array_equal(strip[:, 12:], face[4])  # frame 4 twice


def test_rerun_with_the_same_configs_is_skipped(tiny):
    from emorecog.components.trainer import run_trainer

    _, examples_dir, run_dir = tiny
    run = run_trainer(examples_dir, run_dir, tiny_model_config(), tiny_training_config())
    assert run.skipped


def test_more_epochs_continue_from_the_last_checkpoint(tiny, tmp_path):
    from emorecog.components.trainer import run_trainer

    _, examples_dir, run_dir = tiny
    copy = shutil.copytree(run_dir, tmp_path / "run")
    lines = []
    run = run_trainer(
        examples_dir, copy, tiny_model_config(), tiny_training_config(epochs=TINY_EPOCHS + 1), log=lines.append
    )
    assert not run.skipped
    assert any(f"resuming {copy} after epoch {TINY_EPOCHS}" in line for line in lines), lines
    trained = [line for line in lines if line.startswith("epoch ")]
    assert trained == [line for line in trained if line.startswith(f"epoch {TINY_EPOCHS + 1}/")] and trained
    history = _json(os.path.join(copy, "model", "history.json"))
    assert [entry["epoch"] for entry in history] == list(range(1, TINY_EPOCHS + 2))
    state = _json(os.path.join(copy, "checkpoints", training_checkpoint.STATE_FILE))
    assert state["epochs_done"] == TINY_EPOCHS + 1
    assert sorted(os.listdir(os.path.join(copy, "checkpoints"))) == [
        "best.weights.h5",
        f"epoch-{TINY_EPOCHS + 1:04d}.weights.h5",
        "training_state.json",
    ]


def test_checkpoints_of_another_configuration_are_refused(tiny, tmp_path):
    from emorecog.components.trainer import run_trainer

    _, examples_dir, run_dir = tiny
    copy = shutil.copytree(run_dir, tmp_path / "run")
    with pytest.raises(ValueError, match=r"different training set-up \(differs in \['model_config'\]\).*--restart"):
        run_trainer(examples_dir, copy, tiny_model_config(dropout=0.5), tiny_training_config(epochs=TINY_EPOCHS + 1))


def test_load_state_names_the_differences(tmp_path):
    fingerprint = {"model_config": {"a": 1}, "training_config": {"b": 2}, "data": "x"}
    assert training_checkpoint.load_state(tmp_path, fingerprint) is None
    with open(tmp_path / training_checkpoint.STATE_FILE, "w") as handle:
        json.dump({"fingerprint": {**fingerprint, "data": "y"}, "epochs_done": 1}, handle)
    with pytest.raises(ValueError, match=r"differs in \['data'\]"):
        training_checkpoint.load_state(tmp_path, fingerprint)


def test_training_config_validation_and_round_trip():
    config = TrainingConfig(target="arousal", epochs=3, strategy="mirrored")
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown target"):
        TrainingConfig(target="dominance")
    with pytest.raises(ValueError, match="unknown strategy"):
        TrainingConfig(strategy="tpu")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainingConfig(epochs=0)
    with pytest.raises(ValueError, match="unknown TrainingConfig fields"):
        TrainingConfig.from_dict({"epochz": 3})


def test_worker_role_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.worker_role() == (None, 0, True)
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribution.worker_role() == ("worker", 1, False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert distribution.worker_role() == ("worker", 0, True)
    with_chief = {**cluster, "chief": ["localhost:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert distribution.worker_role()[2] is False


def test_strategies(monkeypatch):
    import tensorflow as tf

    assert distribution.distribution_strategy("default") is tf.distribute.get_strategy()
    assert distribution.distribution_strategy("mirrored").num_replicas_in_sync >= 1
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribution.distribution_strategy("multiworker")


def test_train_cli_help_says_what_it_reads_and_writes():
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert result.exit_code == 0
    for text in ("--data", "--ablation", "--strategy", "checkpoints", "TensorBoard", "eval-split macro F1"):
        assert text in result.output, text


def test_train_cli_rejects_a_bad_config_file(tiny, tmp_path):
    _, examples_dir, _ = tiny
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"core_layerz": 2}))
    result = CliRunner().invoke(
        cli, ["train", "--data", examples_dir, "--config", str(bad), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2 and "core_layerz" in result.output
    bad.write_text("[1, 2]")
    result = CliRunner().invoke(cli, ["train", "--data", examples_dir, "--config", str(bad)])
    assert result.exit_code == 2 and "JSON object" in result.output


def _train_command(examples_dir, run_dir, epochs, config_file):
    return [
        sys.executable,
        "-m",
        "emorecog.cli",
        "train",
        "--data",
        examples_dir,
        "--out",
        run_dir,
        "--epochs",
        str(epochs),
        "--config",
        config_file,
        *TINY_TRAINING_FLAGS,
    ]


@pytest.mark.slow
def test_a_killed_training_process_resumes_after_its_last_finished_epoch(tiny, tmp_path):
    _, examples_dir, _ = tiny
    config_file = tmp_path / "model.json"
    config_file.write_text(json.dumps(TINY_MODEL))
    run_dir = str(tmp_path / "run")
    state_file = os.path.join(run_dir, "checkpoints", training_checkpoint.STATE_FILE)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        _train_command(examples_dir, run_dir, 4, str(config_file)),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while not os.path.isfile(state_file):
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_after = _json(state_file)["epochs_done"]
    assert 1 <= killed_after < 4
    assert not os.path.isdir(os.path.join(run_dir, "model"))  # the Trainer output appears only when finished

    resumed = subprocess.run(
        _train_command(examples_dir, run_dir, 4, str(config_file)), env=environment, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"after epoch {killed_after}" in resumed.stdout
    assert "epoch 1/4" not in resumed.stdout
    history = _json(os.path.join(run_dir, "model", "history.json"))
    assert [entry["epoch"] for entry in history] == [1, 2, 3, 4]
    assert not glob.glob(os.path.join(run_dir, ".model.partial-*"))
