"""The schema module: one source of keys, dtypes and shapes for writer, reader and server."""

import json

import numpy as np
import pytest

from emorecog import features
from emorecog.preprocessing.trial_preprocessor import record_schema_for


def _sample(shape, seed=0, electrodes=32):
    import cv2

    rng = np.random.default_rng(seed)
    T, S = shape.num_frames, shape.face_size
    jpegs = [cv2.imencode(".jpg", rng.integers(0, 255, (S, S, 3), dtype=np.uint8))[1].tobytes() for _ in range(T)]
    return {
        features.EEG_BAND_ENERGY_KEY: rng.normal(size=(T, electrodes, 3)).astype(np.float32),
        features.FACE_KEY: jpegs,
        features.FACE_PRESENT_KEY: (rng.random(T) > 0.2).astype(np.int64),
        features.SUBJECT_KEY: "s03",
        features.TRIAL_KEY: 17,
        features.RATINGS_KEY: [6.5, 2.0, 5.0, 7.1],
        features.label_key("valence"): 1,
        features.label_key("arousal"): 0,
        features.FPS_KEY: 8,
        features.NUM_FRAMES_KEY: T,
        features.DATASET_KEY: "synthetic-deap",
        features.CONFIG_HASH_KEY: "abc123",
    }


def _images(sample, record_schema):
    """NumPy reference: the band images of a sample's energies, as ExampleGen's InterpolationOperator makes them."""
    from emorecog.preprocessing.eeg_images import InterpolationOperator

    operator = InterpolationOperator(record_schema.electrodes, image_size=record_schema.shape.image_size)
    np.testing.assert_array_equal(operator.matrix, record_schema.interpolation_matrix)
    return operator(sample[features.EEG_BAND_ENERGY_KEY])


def test_round_trip_through_tf_example():
    import tensorflow as tf

    shape = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    record_schema = record_schema_for(shape)
    samples = [_sample(shape, seed) for seed in range(3)]
    serialized = tf.constant([features.encode_example(sample) for sample in samples])
    decoded = features.decode_examples(serialized, record_schema)
    assert decoded[features.EEG_KEY].shape == (3, *shape.eeg_shape)
    assert decoded[features.FACE_KEY].shape == (3, *shape.face_shape)
    assert decoded[features.FACE_KEY].dtype == tf.uint8
    assert decoded[features.FACE_PRESENT_KEY].dtype == tf.float32
    np.testing.assert_array_equal(
        decoded[features.EEG_BAND_ENERGY_KEY][1].numpy(), samples[1][features.EEG_BAND_ENERGY_KEY]
    )
    # the reader's images are ExampleGen's images: the same operator, float32 rounding apart
    np.testing.assert_allclose(
        decoded[features.EEG_KEY][1].numpy(), _images(samples[1], record_schema), rtol=0, atol=1e-5
    )
    np.testing.assert_array_equal(decoded[features.FACE_PRESENT_KEY][2].numpy(), samples[2][features.FACE_PRESENT_KEY])
    assert decoded[features.SUBJECT_KEY][0].numpy() == b"s03"
    assert decoded[features.label_key("valence")][0].numpy() == 1
    np.testing.assert_allclose(decoded[features.RATINGS_KEY][0].numpy(), [6.5, 2.0, 5.0, 7.1], rtol=1e-6)


def test_records_of_another_shape_are_rejected_with_the_feature_named():
    import tensorflow as tf

    written = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    expected = features.SampleShape(num_frames=7, image_size=8, face_size=16)
    serialized = tf.constant([features.encode_example(_sample(written))])
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg_band_energy"):
        features.decode_examples(serialized, record_schema_for(expected))


def test_encoding_without_tensorflow_gives_tensorflows_bytes():
    import subprocess
    import sys

    # ExampleGen's workers encode without importing TensorFlow ...
    script = (
        "import sys; from emorecog import features; import tests.test_features as t; "
        "features.encode_example(t._sample(features.SampleShape(4, 4, 8))); print('tensorflow' in sys.modules)"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[1]),
    )
    assert imported.stdout.strip() == "False"
    # ... and write exactly what tf.train.Example writes
    import tensorflow as tf

    serialized = features.encode_example(_sample(features.SampleShape(5, 4, 8), seed=4))
    assert tf.train.Example.FromString(serialized).SerializeToString(deterministic=True) == serialized


def _version_1_record(shape):
    """A record as the previous emorecog wrote it: float32 images under 'eeg', no schema_version."""
    import tensorflow as tf

    sample = _sample(shape)
    example = tf.train.Example.FromString(features.encode_example(sample))
    feature = example.features.feature
    del feature[features.SCHEMA_VERSION_KEY]
    del feature[features.EEG_BAND_ENERGY_KEY]
    feature["eeg"].bytes_list.value.append(np.zeros(shape.eeg_shape, "<f4").tobytes())
    return example.SerializeToString()


def test_records_of_the_older_schema_version_are_refused_naming_it():
    import tensorflow as tf

    shape = features.SampleShape(num_frames=4, image_size=4, face_size=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="schema version 2"):
        features.decode_examples(tf.constant([_version_1_record(shape)]), record_schema_for(shape))
    with pytest.raises(features.RecordSchemaVersionError, match="schema version 1"):
        features.eeg_images_of_example(tf.train.Example.FromString(_version_1_record(shape)), record_schema_for(shape))


def test_schema_json_of_the_older_version_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"sample_shape": {"num_frames": 4, "image_size": 4, "face_size": 8}}))
    with pytest.raises(features.RecordSchemaVersionError, match=r"schema version 1 .*reads record schema version 2"):
        features.read_record_schema(path)


def test_schema_json_describes_record_and_model_inputs(tmp_path):
    shape = features.SampleShape(num_frames=480, image_size=32, face_size=64)
    path = tmp_path / "schema.json"
    record_schema = record_schema_for(shape)
    features.write_schema(path, record_schema)
    schema = json.loads(path.read_text())
    assert schema["schema_version"] == features.RECORD_SCHEMA_VERSION == 2
    assert features.SampleShape.from_schema(schema) == shape
    read = features.read_record_schema(path)
    np.testing.assert_array_equal(read.interpolation_matrix, record_schema.interpolation_matrix)
    assert read.electrodes == record_schema.electrodes and len(read.electrodes) == 32
    assert schema["record_features"]["eeg_band_energy"]["shape"] == [480, 32, 3]
    assert schema["model_inputs"]["eeg"]["shape"] == [None, 480, 32, 32, 3]
    assert schema["model_inputs"]["face"]["dtype"] == "uint8"
    assert set(schema["record_features"]) >= {"eeg_band_energy", "face", "face_present", "schema_version"}


def test_altered_interpolation_matrix_in_schema_json_is_refused(tmp_path):
    shape = features.SampleShape(num_frames=4, image_size=4, face_size=8)
    schema = features.schema_dict(record_schema_for(shape))
    schema["eeg_interpolation"]["matrix_sha256"] = "0" * 64
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    with pytest.raises(ValueError, match="SHA-256"):
        features.read_record_schema(path)


def test_serving_signature_uses_the_schema_names_and_shapes():
    shape = features.SampleShape(num_frames=10, image_size=8, face_size=16)
    signature = features.serving_input_signature(shape)
    assert sorted(signature) == sorted(features.MODEL_INPUT_KEYS)
    assert signature["eeg"].shape.as_list() == [None, 10, 8, 8, 3]
    assert signature["face_present"].name == "face_present"
    compact = features.compact_serving_input_signature(record_schema_for(shape))
    assert compact["eeg_band_energy"].shape.as_list() == [None, 10, 32, 3]
    assert compact["face_jpeg"].shape.as_list() == [None, 10] and compact["face_jpeg"].dtype.name == "string"


def test_empty_jpeg_string_is_a_black_crop():
    import tensorflow as tf

    from emorecog.preprocessing.face_crops import encode_jpeg

    shape = features.SampleShape(num_frames=2, image_size=4, face_size=8)
    grey = encode_jpeg(np.full((8, 8, 3), 128, np.uint8), 90)
    faces = features.decode_face_jpegs(tf.constant([[grey, b""]]), shape).numpy()
    assert faces.shape == (1, 2, 8, 8, 3) and abs(int(faces[0, 0].mean()) - 128) <= 2 and faces[0, 1].max() == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_sample_shape_rejects_non_positive_sizes(bad):
    with pytest.raises(ValueError, match="num_frames"):
        features.SampleShape(num_frames=bad)


def test_unknown_target_is_an_error():
    with pytest.raises(ValueError, match="dominance"):
        features.label_key("dominance")


def test_wrong_shape_inside_tf_data_names_the_feature():
    import tensorflow as tf

    written = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    expected = features.SampleShape(num_frames=5, image_size=8, face_size=16)
    dataset = tf.data.Dataset.from_tensor_slices([features.encode_example(_sample(written))]).batch(1)
    dataset = dataset.map(lambda serialized: features.decode_examples(serialized, record_schema_for(expected)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg_band_energy.. does not hold"):
        next(iter(dataset))


def test_check_sample_names_what_disagrees_with_the_record_schema():
    record_schema = record_schema_for(features.SampleShape(4, 4, 8))
    electrodes = record_schema.electrodes

    def sample(**changes):
        good = {
            features.EEG_BAND_ENERGY_KEY: np.ones(record_schema.band_energy_shape, np.float32),
            features.FACE_KEY: [b"jpeg"] * 4,
            features.FACE_PRESENT_KEY: np.array([1, 0, 1, 1]),
        }
        return {**good, **changes}

    features.check_sample(sample(), record_schema, electrodes)
    with pytest.raises(ValueError, match="differ from the run's electrode order"):
        features.check_sample(sample(), record_schema, electrodes[::-1])
    with pytest.raises(ValueError, match=r"shape \(3, 32, 3\) float32, expected \(4, 32, 3\) float32"):
        features.check_sample(sample(eeg_band_energy=np.ones((3, 32, 3), np.float32)), record_schema, electrodes)
    with pytest.raises(ValueError, match="float64, expected"):
        features.check_sample(sample(eeg_band_energy=np.ones((4, 32, 3))), record_schema, electrodes)
    energy = np.ones((4, 32, 3), np.float32)
    energy[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        features.check_sample(sample(eeg_band_energy=energy), record_schema, electrodes)
    with pytest.raises(ValueError, match="3 face crops, expected 4"):
        features.check_sample(sample(face=[b"jpeg"] * 3), record_schema, electrodes)
    with pytest.raises(ValueError, match="face_present has shape"):
        features.check_sample(sample(face_present=np.array([1, 0, 2, 1])), record_schema, electrodes)
