"""Serving: the Pusher's atomic versions, the SavedModel signatures, a clean-process load, op list,
saved_model_cli, input validation, REST bodies and `emorecog predict` -- all on a real (tiny) trained run."""

import base64
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog import features
from emorecog.cli import main as cli
from emorecog.serving import saved_model, signatures, trial_request
from emorecog.testing.isolated_python import isolated_python_command

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_run):
    """(deap_dir, examples_dir, run_dir, model_dir, version_dir) of the tiny run pushed to a fresh base."""
    from emorecog.components.pusher import push_run

    deap_dir, examples_dir, run_dir = tiny_run
    base = tmp_path_factory.mktemp("saved_models")
    run = push_run(run_dir, str(base), "tiny", force=True)  # two epochs on 15 trials: not blessed, forced
    return deap_dir, examples_dir, run_dir, os.path.join(str(base), "tiny"), run.output_dir


@pytest.fixture(scope="module")
def test_batch(exported):
    """Model inputs and context of the whole tiny test split (3 trials), decoded with the schema module."""
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, _, _ = exported
    inputs, labels, context = next(iter(tfrecord_reader.make_dataset(examples_dir, "test", 8, with_context=True)))
    return {key: value.numpy() for key, value in inputs.items()}, labels.numpy(), context


@pytest.fixture(scope="module")
def keras_model(exported):
    from emorecog.training.trained_model import load_trained_model

    return load_trained_model(os.path.join(exported[2], "model"))[0]


def _test_record(examples_dir, index=0):
    from emorecog.datasets import tfrecord_reader
    from emorecog.serving.trial_request import record_from_tfrecord

    return record_from_tfrecord(tfrecord_reader.split_files(examples_dir, "test")[0], index)


def test_pusher_writes_version_1_with_model_info(exported):
    _, _, run_dir, model_dir, version_dir = exported
    assert version_dir == os.path.join(os.path.abspath(model_dir), "1")
    assert saved_model.version_numbers(model_dir) == [1]
    assert not [name for name in os.listdir(model_dir) if name.startswith(".")]
    with open(os.path.join(version_dir, "assets.extra", "emorecog_model.json")) as handle:
        info = json.load(handle)
    assert info["target"] == "valence" and info["class_names"] == ["low", "high"]
    assert info["sample_shape"] == {"num_frames": 24, "image_size": 8, "face_size": 16}
    assert info["blessing"]["forced"] is True
    assert info["preprocessing"]["preprocess_config"]["fps"] == 4


def test_pushing_the_same_model_again_is_skipped(exported):
    from emorecog.components.pusher import push_run

    _, _, run_dir, model_dir, version_dir = exported
    again = push_run(run_dir, os.path.dirname(model_dir), "tiny", force=True)
    assert again.skipped and again.output_dir == version_dir
    assert saved_model.version_numbers(model_dir) == [1]


def test_an_unblessed_or_unevaluated_run_is_not_pushed(exported, tmp_path):
    import shutil

    from emorecog.components.evaluator import run_evaluator
    from emorecog.components.pusher import NotBlessedError, push_run

    _, examples_dir, run_dir, _, _ = exported
    copy = shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("evaluation"))
    with pytest.raises(NotBlessedError, match="no evaluation of its current model"):
        push_run(copy, str(tmp_path / "saved"), "tiny")
    # A rule no model can pass on three eval trials: the run is evaluated and refused.
    from emorecog.evaluation.blessing_rule import BlessingRule

    run_evaluator(copy, examples_dir, split="eval", blessing_rule=BlessingRule(min_samples=100))
    with pytest.raises(NotBlessedError, match="not blessed .*min_samples"):
        push_run(copy, str(tmp_path / "saved"), "tiny")
    assert not os.path.exists(tmp_path / "saved" / "tiny" / "1")


def test_a_crash_during_export_leaves_no_version_tf_serving_would_load(exported, tmp_path, monkeypatch):
    from emorecog.components.pusher import push_run

    _, _, run_dir, _, _ = exported
    real_export = saved_model.export_saved_model

    def export_then_crash(model, shape, export_dir):
        real_export(model, shape, export_dir)  # a complete SavedModel in the staging folder...
        raise RuntimeError("simulated crash before the version is published")

    monkeypatch.setattr(saved_model, "export_saved_model", export_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        push_run(run_dir, str(tmp_path), "tiny", force=True)
    model_dir = tmp_path / "tiny"
    assert saved_model.version_numbers(model_dir) == []
    assert not [name for name in os.listdir(model_dir) if name.isdigit()]
    monkeypatch.setattr(saved_model, "export_saved_model", real_export)
    assert push_run(run_dir, str(tmp_path), "tiny", force=True).output_dir.endswith(os.sep + "1")


def test_next_version_and_resolving_a_model_folder(tmp_path):
    assert saved_model.next_version(tmp_path / "missing") == 1
    (tmp_path / "3").mkdir()
    (tmp_path / ".4.partial-abc").mkdir()
    assert saved_model.next_version(tmp_path) == 4
    assert saved_model.version_numbers(tmp_path) == []  # 3 has no saved_model.pb: not complete
    with pytest.raises(FileNotFoundError, match="TF Serving would serve version 3.*holds no saved_model.pb"):
        saved_model.resolve_saved_model_dir(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="neither a SavedModel"):
        saved_model.resolve_saved_model_dir(str(tmp_path / ".4.partial-abc" / ".." / "missing"))


def test_clean_process_without_emorecog_matches_the_keras_model(exported, test_batch, keras_model, tmp_path):
    _, _, _, model_dir, _ = exported
    inputs, _, _ = test_batch
    np.savez(tmp_path / "inputs.npz", **inputs)
    command = isolated_python_command(
        ["--model", model_dir, "--inputs-npz", str(tmp_path / "inputs.npz"), "--out-npz", str(tmp_path / "outputs.npz")]
    )
    completed = subprocess.run(command, capture_output=True, text=True, cwd=str(tmp_path), env=QUIET)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["emorecog_importable"] is False and report["signature"] == "serving_default"
    served = np.load(tmp_path / "outputs.npz")
    expected = {key: np.asarray(value) for key, value in keras_model(inputs, training=False).items()}
    np.testing.assert_allclose(served["probabilities"], expected["probabilities"], atol=1e-5)
    for key in ("class_id", "glimpse_frames", "glimpse_count"):
        np.testing.assert_array_equal(served[key], expected[key])
    for key in ("band_weights", "layer_weights"):
        np.testing.assert_allclose(served[key], expected[key], atol=1e-5)


def test_the_clean_interpreter_really_cannot_import_emorecog(tmp_path):
    command = isolated_python_command([])
    probe = (
        "import sys; sys.path.extend(sys.argv[1:]); import importlib.util; "
        "print(importlib.util.find_spec('emorecog') is None); import tensorflow"
    )
    site_packages = [argument for flag, argument in zip(command, command[1:]) if flag == "--site-packages"]
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, *site_packages],
        capture_output=True,
        text=True,
        cwd="/work/main" if os.path.isdir("/work/main") else str(tmp_path),
        env=QUIET,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "True"


def test_serve_examples_equals_serving_default_on_the_same_record(exported):
    from emorecog.serving.saved_model import SavedModelClient

    _, examples_dir, _, model_dir, _ = exported
    record = _test_record(examples_dir)
    decoded = features.decode_examples([record], trial_request.record_schema(model_dir))
    client = SavedModelClient(model_dir)
    dense = client.predict({key: decoded[key].numpy() for key in features.MODEL_INPUT_KEYS})
    from_examples = client.predict_examples([record])
    assert sorted(dense) == sorted(signatures.OUTPUT_KEYS) == sorted(from_examples)
    for key in signatures.OUTPUT_KEYS:
        np.testing.assert_allclose(dense[key], from_examples[key], atol=1e-6)


def test_saved_model_cli_shows_the_documented_signatures(exported):
    _, _, _, _, version_dir = exported
    shown = subprocess.run(
        [SAVED_MODEL_CLI, "show", "--dir", version_dir, "--all"], capture_output=True, text=True, env=QUIET
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    serving_default = text[text.index("signature_def['serving_default']") :]
    serve_compact = text[text.index("signature_def['serve_compact']") : text.index("signature_def['serve_examples']")]
    serve_examples = text[
        text.index("signature_def['serve_examples']") : text.index("signature_def['serving_default']")
    ]
    for name, dtype, shape in (
        ("eeg_band_energy", "DT_FLOAT", "(-1, 24, 32, 3)"),
        ("face_jpeg", "DT_STRING", "(-1, 24)"),
        ("face_present", "DT_FLOAT", "(-1, 24)"),
    ):
        block = serve_compact[serve_compact.index(f"inputs['{name}']") :]
        assert f"dtype: {dtype}" in block.splitlines()[1] and f"shape: {shape}" in block.splitlines()[2], block[:200]
    for name, dtype, shape in (
        ("eeg", "DT_FLOAT", "(-1, 24, 8, 8, 3)"),
        ("face", "DT_UINT8", "(-1, 24, 16, 16, 3)"),
        ("face_present", "DT_FLOAT", "(-1, 24)"),
    ):
        block = serving_default[serving_default.index(f"inputs['{name}']") :]
        assert f"dtype: {dtype}" in block.splitlines()[1] and f"shape: {shape}" in block.splitlines()[2], block[:200]
    assert "inputs['examples']" in serve_examples and "DT_STRING" in serve_examples
    for output in signatures.OUTPUT_KEYS:
        assert f"outputs['{output}']" in serving_default and f"outputs['{output}']" in serve_examples
    block = serving_default[serving_default.index("outputs['layer_weights']") :]
    assert "shape: (-1, 4, 2, 2)" in block.splitlines()[2]
    assert "tensorflow/serving/predict" in serving_default


def test_saved_model_cli_run_with_npy_inputs_returns_probabilities(exported, test_batch, tmp_path):
    _, _, _, _, version_dir = exported
    inputs, _, _ = test_batch
    paths = []
    for key in features.MODEL_INPUT_KEYS:
        np.save(tmp_path / f"{key}.npy", inputs[key][:1])
        paths.append(f"{key}={tmp_path / (key + '.npy')}")
    completed = subprocess.run(
        [
            SAVED_MODEL_CLI,
            "run",
            "--dir",
            version_dir,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            ";".join(paths),
        ],
        capture_output=True,
        text=True,
        env=QUIET,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = completed.stdout
    assert "probabilities" in text and "class_id" in text and "glimpse_frames" in text


def test_graph_holds_only_standard_tensorflow_ops(exported):
    _, _, _, _, version_dir = exported
    op_types = saved_model.saved_model_op_types(version_dir)
    assert {"ParseExampleV2", "DecodeJpeg", "Softmax"} <= set(op_types)
    assert saved_model.forbidden_op_types(op_types) == []
    assert saved_model.unregistered_op_types(op_types) == []
    assert not [op for op in op_types if "Random" in op or op.startswith("IO>") or "Cudnn" in op]


def test_forbidden_op_detection():
    assert saved_model.forbidden_op_types(
        ["MatMul", "RandomStandardNormal", "IO>AudioDecodeWAV", "CudnnRNNV3", "StatelessWhile"]
    ) == ["CudnnRNNV3", "IO>AudioDecodeWAV", "RandomStandardNormal"]
    assert saved_model.unregistered_op_types(["MatMul", "NoSuchOpAnywhere"]) == ["NoSuchOpAnywhere"]


def test_wrong_shapes_and_dtypes_are_rejected(exported, test_batch):
    import tensorflow as tf

    _, _, _, _, version_dir = exported
    inputs, _, _ = test_batch
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    good = {key: tf.constant(value[:1]) for key, value in inputs.items()}
    assert signature(**good)["probabilities"].shape == (1, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"eeg(.|\n)*not compatible with expected shape"):
        signature(**{**good, "eeg": tf.constant(inputs["eeg"][:1, :12])})  # 12 frames instead of 24
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        signature(**{**good, "face": tf.cast(good["face"], tf.float32)})  # float face crops
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        signature(**{**good, "face_present": tf.constant(inputs["face_present"][:1, :, None])})
    examples = tf.saved_model.load(version_dir).signatures["serve_examples"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        examples(examples=tf.constant([b"not a tf.Example"]))


def test_rest_bodies_in_both_forms_carry_the_trial(exported, test_batch):
    _, examples_dir, _, _, _ = exported
    inputs, _, _ = test_batch
    one = {key: value[:1] for key, value in inputs.items()}
    rows = json.loads(json.dumps(trial_request.dense_request_body(one, "instances")))
    assert rows["signature_name"] == "serving_default" and len(rows["instances"]) == 1
    np.testing.assert_array_equal(np.asarray(rows["instances"][0]["eeg"], np.float32), one["eeg"][0])
    np.testing.assert_array_equal(np.asarray(rows["instances"][0]["face"], np.uint8), one["face"][0])
    columns = json.loads(json.dumps(trial_request.dense_request_body(one, "inputs")))
    np.testing.assert_array_equal(np.asarray(columns["inputs"]["face_present"], np.float32), one["face_present"])
    record = _test_record(examples_dir)
    body = trial_request.examples_request_body([record], "instances")
    assert body["signature_name"] == "serve_examples"
    assert base64.b64decode(body["instances"][0]["examples"]["b64"]) == record
    with pytest.raises(ValueError, match="unknown REST request format"):
        trial_request.dense_request_body(one, "rows")


def test_predict_cli_from_a_tfrecord(exported):
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, model_dir, _ = exported
    record_file = tfrecord_reader.split_files(examples_dir, "test")[0]
    result = CliRunner().invoke(cli, ["predict", "--model", model_dir, "--tfrecord", record_file, "--index", "1"])
    assert result.exit_code == 0, result.output
    assert "valence" in result.output and "glimpses" in result.output and "predicted" in result.output
    result = CliRunner().invoke(cli, ["predict", "--model", model_dir, "--tfrecord", record_file, "--index", "99"])
    assert result.exit_code == 1 and "no record at index 99" in result.output


def test_predict_cli_writes_rest_bodies(exported, tmp_path):
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, model_dir, _ = exported
    record_file = tfrecord_reader.split_files(examples_dir, "test")[0]
    for request_format, signature in (
        ("instances", "serving_default"),
        ("inputs", "serve_examples"),
        ("inputs", "serve_compact"),
    ):
        path = tmp_path / f"{request_format}-{signature}.json"
        result = CliRunner().invoke(
            cli,
            [
                "predict",
                "--model",
                model_dir,
                "--tfrecord",
                record_file,
                "--request-json",
                str(path),
                "--format",
                request_format,
                "--signature",
                signature,
            ],
        )
        assert result.exit_code == 0, result.output
        body = json.loads(path.read_text())
        assert body["signature_name"] == signature and request_format in body


def test_compact_request_runs_in_a_clean_process_and_agrees_with_the_keras_model(exported, keras_model, tmp_path):
    """`predict --request-json` (default: serve_compact) -> the body decoded as TF Serving's REST API does, in
    a process without emorecog -> the same outputs as the in-process Keras model on the record's inputs."""
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, model_dir, _ = exported
    record_file = tfrecord_reader.split_files(examples_dir, "test")[0]
    path = tmp_path / "body.json"
    result = CliRunner().invoke(
        cli, ["predict", "--model", model_dir, "--tfrecord", record_file, "--index", "1", "--request-json", str(path)]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(path.read_text())
    assert body["signature_name"] == "serve_compact"
    instance = body["instances"][0]
    assert np.asarray(instance["eeg_band_energy"]).shape == (24, 32, 3)
    assert all(set(jpeg) == {"b64"} for jpeg in instance["face_jpeg"])
    assert b" " not in path.read_bytes()[:200]  # compact JSON

    command = isolated_python_command(
        ["--model", model_dir, "--request-json", str(path), "--out-npz", str(tmp_path / "outputs.npz")]
    )
    completed = subprocess.run(command, capture_output=True, text=True, cwd=str(tmp_path), env=QUIET)
    assert completed.returncode == 0, completed.stderr[-3000:]
    served = np.load(tmp_path / "outputs.npz")
    record = trial_request.record_from_tfrecord(record_file, 1)
    decoded = features.decode_examples([record], trial_request.record_schema(model_dir))
    expected = keras_model(features.model_inputs(decoded), training=False)
    np.testing.assert_allclose(served["probabilities"], np.asarray(expected["probabilities"]), atol=1e-5)
    for key in ("class_id", "glimpse_frames", "glimpse_count"):
        np.testing.assert_array_equal(served[key], np.asarray(expected[key]))


def test_compact_signature_builds_the_readers_images_and_rejects_bad_inputs(exported):
    """In the graph: the constant operator turns energies into the reader's images (to 1e-5), and an empty
    JPEG string is a black frame; non-finite energies and wrong shapes are refused."""
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, model_dir, version_dir = exported
    record = _test_record(examples_dir)
    schema = trial_request.record_schema(model_dir)
    assert schema.matrix_sha256() == tfrecord_reader.read_record_schema(examples_dir).matrix_sha256()
    compact = trial_request.compact_inputs(record, schema)
    loaded = tf.saved_model.load(version_dir)
    decoded = features.decode_examples([record], schema)
    dense = loaded.signatures["serving_default"](**{key: decoded[key] for key in features.MODEL_INPUT_KEYS})
    tensors = {
        "eeg_band_energy": tf.constant(compact["eeg_band_energy"]),
        "face_jpeg": tf.constant(compact["face_jpeg"], tf.string),
        "face_present": tf.constant(compact["face_present"]),
    }
    served = loaded.signatures["serve_compact"](**tensors)
    for key in signatures.OUTPUT_KEYS:
        np.testing.assert_allclose(served[key], dense[key], atol=1e-5)
    bad = compact["eeg_band_energy"].copy()
    bad[0, 3, 5, 1] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg_band_energy.*NaN"):
        loaded.signatures["serve_compact"](**{**tensors, "eeg_band_energy": tf.constant(bad)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg_band_energy"):
        loaded.signatures["serve_compact"](**{**tensors, "eeg_band_energy": tf.constant(bad[:, :12])})


def test_predict_from_a_deap_trial_preprocesses_like_the_training_data(exported):
    deap_dir, examples_dir, _, model_dir, _ = exported
    record = _test_record(examples_dir)
    decoded = trial_request.dense_inputs(model_dir, record, "test record")
    subject, trial = decoded["subject"][0].decode(), int(decoded["trial"][0])
    from_deap = trial_request.predict_record(
        model_dir, trial_request.record_from_deap(model_dir, deap_dir, subject, trial), "deap trial"
    )
    from_record = trial_request.predict_record(model_dir, record, "test record")
    assert from_deap["subject"] == subject and from_deap["trial"] == trial
    assert from_deap["glimpse_frames"] == from_record["glimpse_frames"]
    assert from_deap["probabilities"] == pytest.approx(from_record["probabilities"], abs=1e-4)
    result = CliRunner().invoke(
        cli, ["predict", "--model", model_dir, "--deap", deap_dir, "--subject", "s09", "--trial", "1"]
    )
    assert result.exit_code == 1 and "no subject 's09'" in result.output
    result = CliRunner().invoke(cli, ["predict", "--model", model_dir, "--deap", deap_dir])
    assert result.exit_code == 2 and "--subject and --trial" in result.output


def test_export_cli_refuses_an_unblessed_run_and_forces(exported, tmp_path):
    import shutil

    _, _, run_dir, _, _ = exported
    copy = shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("evaluation"))
    result = CliRunner().invoke(cli, ["export", "--run", str(copy), "--base", str(tmp_path / "saved")])
    assert result.exit_code == 1 and "emorecog evaluate --run" in result.output
    result = CliRunner().invoke(
        cli, ["export", "--run", str(copy), "--base", str(tmp_path / "saved"), "--model-name", "m", "--force"]
    )
    assert result.exit_code == 0, result.output
    assert os.path.isfile(tmp_path / "saved" / "m" / "1" / "saved_model.pb")
    assert "docker run" in result.output
    assert glob.glob(str(tmp_path / "saved" / "m" / "1" / "variables" / "variables.index"))
