"""Fault injection, serving: label-free clients, NaN and out-of-range inputs, records of another shape or
from garbage files, staging and empty version folders, and concurrent or killed exports; on the real tiny
trained run, with the SavedModel loaded in separate processes where it matters.
"""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog import features
from emorecog.cli import main as cli
from emorecog.serving import saved_model
from emorecog.serving.signatures import EEG_NOT_FINITE, FACE_PRESENT_NOT_BINARY
from emorecog.serving.trial_request import compact_inputs
from emorecog.testing.isolated_python import isolated_python_command

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
PROCESS_TIMEOUT_S = 900  # guards against a hang only
NUM_FRAMES = 24  # the tiny samples of tests/tiny_pipeline.py


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_run):
    """(examples_dir, run_dir, model_dir, a test record, its record schema), the tiny run pushed as version 1."""
    from emorecog.components.pusher import push_run
    from emorecog.datasets import tfrecord_reader
    from emorecog.serving.trial_request import record_from_tfrecord

    _, examples_dir, run_dir = tiny_run
    base = tmp_path_factory.mktemp("serving-faults")
    push_run(run_dir, str(base), "tiny", force=True)
    record = record_from_tfrecord(tfrecord_reader.split_files(examples_dir, "test")[0], 0)
    return (
        examples_dir,
        run_dir,
        os.path.join(str(base), "tiny"),
        record,
        tfrecord_reader.read_record_schema(examples_dir),
    )


def altered(record, keep=None, energy=None, face_present=None):
    """`record` with only the features in `keep`, and/or replaced band energies or face_present values."""
    import tensorflow as tf

    example = tf.train.Example.FromString(record)
    feature = example.features.feature
    if keep is not None:
        for key in list(feature):
            if key not in keep:
                del feature[key]
    if energy is not None:
        feature[features.EEG_BAND_ENERGY_KEY].bytes_list.value[0] = np.asarray(energy, "<f4").tobytes()
    if face_present is not None:
        del feature[features.FACE_PRESENT_KEY].int64_list.value[:]
        feature[features.FACE_PRESENT_KEY].int64_list.value.extend(int(value) for value in face_present)
    return example.SerializeToString()


def energy_of(record):
    import tensorflow as tf

    raw = tf.train.Example.FromString(record).features.feature[features.EEG_BAND_ENERGY_KEY].bytes_list.value[0]
    return np.frombuffer(raw, "<f4").copy()


def write_records(path, records):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def run_cli(*arguments):
    return CliRunner().invoke(cli, list(arguments))


def assert_one_error_line(result, *fragments):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.output.count("Traceback") == 0, result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


# -- serve_examples needs only the model inputs ---------------------------------------------------------------


def test_a_label_free_example_is_served_in_a_clean_process(exported, tmp_path):
    from emorecog.serving.saved_model import SavedModelClient

    _, _, model_dir, record, schema = exported
    client_record = altered(record, keep=features.RECORD_INPUT_KEYS)  # no labels, context or schema version
    expected = SavedModelClient(model_dir).predict_examples([record])
    assert SavedModelClient(model_dir).predict_examples([client_record])["class_id"] == expected["class_id"]
    record_file = write_records(tmp_path / "client.gz", [client_record])
    command = isolated_python_command(["--model", model_dir, "--tfrecord", record_file])
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=str(tmp_path), env=QUIET, timeout=PROCESS_TIMEOUT_S
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["signature"] == "serve_examples" and report["emorecog_importable"] is False
    np.testing.assert_allclose(report["probabilities"], expected["probabilities"][0], atol=1e-5)


# -- values outside the contract are refused, by the graph and by predict --------------------------------------


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_eeg_is_refused_by_both_signatures(exported, bad_value):
    import tensorflow as tf

    _, _, model_dir, record, schema = exported
    loaded = tf.saved_model.load(saved_model.resolve_saved_model_dir(model_dir))
    energy = energy_of(record)
    energy[123] = bad_value
    with pytest.raises(tf.errors.InvalidArgumentError, match=EEG_NOT_FINITE.replace("(", r"\(").replace(")", r"\)")):
        loaded.signatures["serve_examples"](examples=tf.constant([altered(record, energy=energy)]))
    decoded = features.decode_examples([record], schema)
    dense = {key: decoded[key] for key in features.MODEL_INPUT_KEYS}
    images = decoded[features.EEG_KEY].numpy()
    images[0, 3, 2, 1, 0] = bad_value
    with pytest.raises(tf.errors.InvalidArgumentError, match="the eeg input holds NaN or infinite values"):
        loaded.signatures["serving_default"](**{**dense, features.EEG_KEY: tf.constant(images)})
    compact = compact_inputs(altered(record, energy=energy), schema)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the eeg_band_energy input holds NaN or infinite"):
        loaded.signatures["serve_compact"](**{key: tf.constant(value) for key, value in compact.items()})


@pytest.mark.parametrize("bad_value", [0.5, 7.0, -1.0])
def test_face_present_outside_0_1_is_refused_by_the_graph(exported, bad_value):
    import tensorflow as tf

    _, _, model_dir, record, schema = exported
    loaded = tf.saved_model.load(saved_model.resolve_saved_model_dir(model_dir))
    decoded = features.decode_examples([record], schema)
    dense = {key: decoded[key] for key in features.MODEL_INPUT_KEYS}
    present = decoded[features.FACE_PRESENT_KEY].numpy()
    present[0, 5] = bad_value
    with pytest.raises(tf.errors.InvalidArgumentError, match="the face_present input holds values other than 0 and 1"):
        loaded.signatures["serving_default"](**{**dense, features.FACE_PRESENT_KEY: tf.constant(present)})
    integers = np.ones(NUM_FRAMES, np.int64)
    integers[3] = 7
    with pytest.raises(tf.errors.InvalidArgumentError, match="the face_present input"):
        loaded.signatures["serve_examples"](examples=tf.constant([altered(record, face_present=integers)]))
    compact = compact_inputs(record, schema)
    compact[features.FACE_PRESENT_KEY][0, 5] = bad_value
    with pytest.raises(tf.errors.InvalidArgumentError, match="the face_present input"):
        loaded.signatures["serve_compact"](**{key: tf.constant(value) for key, value in compact.items()})


def test_a_clean_process_gets_the_refusal_too(exported, tmp_path):
    _, _, model_dir, record, schema = exported
    decoded = features.decode_examples([record], schema)
    inputs = {key: decoded[key].numpy() for key in features.MODEL_INPUT_KEYS}
    inputs[features.EEG_KEY][0, 2, 3, 4, 1] = np.nan
    np.savez(tmp_path / "nan.npz", **inputs)
    command = isolated_python_command(["--model", model_dir, "--inputs-npz", str(tmp_path / "nan.npz")])
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=str(tmp_path), env=QUIET, timeout=PROCESS_TIMEOUT_S
    )
    assert completed.returncode != 0 and EEG_NOT_FINITE in completed.stderr


def test_predict_refuses_bad_values_before_running_or_writing_anything(exported, tmp_path):
    _, _, model_dir, record, schema = exported
    energy = energy_of(record)
    energy[77] = np.nan
    present = np.ones(NUM_FRAMES, np.int64)
    present[9] = 2
    record_file = write_records(
        tmp_path / "bad.gz", [record, altered(record, energy=energy), altered(record, face_present=present)]
    )
    assert run_cli("predict", "--model", model_dir, "--tfrecord", record_file, "--index", "0").exit_code == 0
    assert_one_error_line(
        run_cli("predict", "--model", model_dir, "--tfrecord", record_file, "--index", "1"),
        f"{record_file}, record 1",
        EEG_NOT_FINITE,
        "sample 0 frame 0",
    )
    body = tmp_path / "body.json"
    assert_one_error_line(
        run_cli(
            "predict",
            "--model",
            model_dir,
            "--tfrecord",
            record_file,
            "--index",
            "2",
            "--request-json",
            str(body),
            "--signature",
            "serve_examples",
        ),
        f"{record_file}, record 2",
        FACE_PRESENT_NOT_BINARY,
        "frame 9 is 2.0",
    )
    assert not body.exists()


def test_predict_names_a_record_of_another_sample_shape(exported, tmp_path):
    _, _, model_dir, record, schema = exported
    short = altered(record, energy=energy_of(record)[: energy_of(record).size // 2])
    record_file = write_records(tmp_path / "other-shape.gz", [short])
    assert_one_error_line(
        run_cli("predict", "--model", model_dir, "--tfrecord", record_file),
        f"{record_file}, record 0",
        "feature 'eeg_band_energy' does not hold (24, 32, 3) float32 values",
        "takes samples of 24 frames, band energies of 32 electrodes",
    )


@pytest.mark.parametrize("content", [b"", b"plain text, not gzip", gzip.compress(b"\x00" * 40)])
def test_predict_names_a_garbage_record_file(exported, tmp_path, content):
    _, _, model_dir, _, _ = exported
    path = tmp_path / "garbage.gz"
    path.write_bytes(content)
    result = run_cli("predict", "--model", model_dir, "--tfrecord", str(path))
    assert_one_error_line(result, str(path))


def test_request_json_never_replaces_a_foreign_file(exported, tmp_path):
    from emorecog.datasets import tfrecord_reader

    examples_dir, _, model_dir, _, _ = exported
    record_file = tfrecord_reader.split_files(examples_dir, "test")[0]
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"my": "notes"}')
    arguments = ["predict", "--model", model_dir, "--tfrecord", record_file, "--request-json"]
    assert_one_error_line(run_cli(*arguments, str(foreign)), "is not a REST request body emorecog wrote")
    assert foreign.read_text() == '{"my": "notes"}'
    ours = tmp_path / "body.json"
    assert run_cli(*arguments, str(ours)).exit_code == 0
    assert run_cli(*arguments, str(ours), "--signature", "serve_examples").exit_code == 0  # its own: replaced
    assert json.loads(ours.read_text())["signature_name"] == "serve_examples"
    assert_one_error_line(run_cli(*arguments, os.path.join(model_dir, "body.json")), "lies inside the input")


# -- which version is served -----------------------------------------------------------------------------------


def test_predict_follows_tf_servings_version_rule(exported, tmp_path):
    _, _, model_dir, record, schema = exported
    record_file = write_records(tmp_path / "one.gz", [record])
    models = tmp_path / "models"
    shutil.copytree(model_dir, models)
    staging = models / ".2.partial-1234abcd"
    shutil.copytree(models / "1", staging)  # a complete SavedModel, but a staging folder
    assert_one_error_line(
        run_cli("predict", "--model", str(staging), "--tfrecord", record_file), "hidden staging folder"
    )
    assert saved_model.resolve_saved_model_dir(models).endswith(os.sep + "1")  # TF Serving ignores staging

    (models / "2").mkdir()  # an empty version 2: TF Serving serves 2 (and fails), never 1
    assert_one_error_line(
        run_cli("predict", "--model", str(models), "--tfrecord", record_file),
        f"{models / '2'}: TF Serving would serve version 2",
        "holds no saved_model.pb",
    )
    (models / "2").rmdir()
    shutil.copytree(models / "1", models / "10")
    shutil.copytree(models / "1", models / "9")
    assert saved_model.resolve_saved_model_dir(models).endswith(os.sep + "10")  # numbers, not text order
    assert [saved_model.parse_version(name) for name in ("007", " 12 ", "-3", "+4", "1e3", "٣", ".5")] == [
        7,
        12,
        -3,
        None,
        None,
        None,
        None,
    ]


# -- concurrent and killed exports ----------------------------------------------------------------------------

BLOCKED_EXPORT = textwrap.dedent("""
    import os, sys, time
    from emorecog.components.pusher import push_run
    from emorecog.serving import saved_model

    run_dir, base, release = sys.argv[1:4]
    real_export = saved_model.export_saved_model

    def export_then_wait(model, shape, export_dir):
        op_types = real_export(model, shape, export_dir)
        print("staged", export_dir, flush=True)
        while not os.path.exists(release):
            time.sleep(0.05)
        return op_types

    saved_model.export_saved_model = export_then_wait
    print(push_run(run_dir, base, "tiny", force=True).output_dir, flush=True)
""")


def start_blocked_export(run_dir, base, release):
    """(process, staging folder) of an export that holds its version, staged, until `release` exists."""
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_EXPORT, run_dir, str(base), str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=QUIET,
    )
    staged = process.stdout.readline().split()
    if staged[:1] != ["staged"]:
        process.kill()
        raise AssertionError(process.stderr.read()[-3000:])
    return process, staged[1]


def test_concurrent_and_killed_exports_lose_nothing_and_leave_nothing(exported, tmp_path):
    """One export holds version 1 while staging; a second `emorecog export` takes 2 and does not delete the
    first one's live staging folder. The first is then killed: a third export removes what it left
    (provably abandoned: its lock is free) and takes 3."""
    _, run_dir, _, _, _ = exported
    base = tmp_path / "saved"
    command = [
        sys.executable,
        "-m",
        "emorecog.cli",
        "export",
        "--run",
        run_dir,
        "--base",
        str(base),
        "--model-name",
        "tiny",
        "--force",
    ]
    first, staging = start_blocked_export(run_dir, base, tmp_path / "never")
    try:
        second = subprocess.run(command, capture_output=True, text=True, env=QUIET, timeout=PROCESS_TIMEOUT_S)
        assert second.returncode == 0, second.stderr[-3000:]
        assert f"exported: {base / 'tiny' / '2'}" in second.stdout
        assert os.path.isdir(staging)  # the live export's staging folder is still there
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert saved_model.version_numbers(base / "tiny") == [2]  # the killed export never published 1
    third = subprocess.run(command, capture_output=True, text=True, env=QUIET, timeout=PROCESS_TIMEOUT_S)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"already exported, skipped: {base / 'tiny' / '2'}" in third.stdout  # the same model: not pushed twice
    assert sorted(os.listdir(base / "tiny")) == ["2"]  # the abandoned staging folder is gone


def test_two_exports_started_together_never_claim_the_same_version(exported, tmp_path):
    """The reported bug: two simultaneous exports both printed "exported .../1" and one model was lost. Now
    each either exports its own version or, if the other already pushed this very model, says so."""
    _, run_dir, _, _, _ = exported
    base = tmp_path / "saved"
    command = [
        sys.executable,
        "-m",
        "emorecog.cli",
        "export",
        "--run",
        run_dir,
        "--base",
        str(base),
        "--model-name",
        "tiny",
        "--force",
    ]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=QUIET)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=PROCESS_TIMEOUT_S) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    reported = [line for stdout, _ in outputs for line in stdout.splitlines() if "exported" in line]
    exported_paths = [line.split(": ", 1)[1] for line in reported if line.startswith("exported: ")]
    assert len(exported_paths) == len(set(exported_paths)) >= 1, reported
    for line in reported:
        assert os.path.isfile(os.path.join(line.split(": ", 1)[1], "saved_model.pb")), line
    assert len(saved_model.version_numbers(base / "tiny")) == len(exported_paths)
