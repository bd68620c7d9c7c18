"""The schema module: one source of keys, dtypes and shapes for writer, reader and server."""

import json

import numpy as np
import pytest

from emorecog import features


def _sample(shape, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    T, S = shape.num_frames, shape.face_size
    jpegs = [cv2.imencode(".jpg", rng.integers(0, 255, (S, S, 3), dtype=np.uint8))[1].tobytes() for _ in range(T)]
    return {
        features.EEG_KEY: rng.normal(size=shape.eeg_shape).astype(np.float32),
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


def test_round_trip_through_tf_example():
    import tensorflow as tf

    shape = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    samples = [_sample(shape, seed) for seed in range(3)]
    serialized = tf.constant([features.encode_example(sample) for sample in samples])
    decoded = features.decode_examples(serialized, shape)
    assert decoded[features.EEG_KEY].shape == (3, *shape.eeg_shape)
    assert decoded[features.FACE_KEY].shape == (3, *shape.face_shape)
    assert decoded[features.FACE_KEY].dtype == tf.uint8
    assert decoded[features.FACE_PRESENT_KEY].dtype == tf.float32
    np.testing.assert_array_equal(decoded[features.EEG_KEY][1].numpy(), samples[1][features.EEG_KEY])
    np.testing.assert_array_equal(decoded[features.FACE_PRESENT_KEY][2].numpy(), samples[2][features.FACE_PRESENT_KEY])
    assert decoded[features.SUBJECT_KEY][0].numpy() == b"s03"
    assert decoded[features.label_key("valence")][0].numpy() == 1
    np.testing.assert_allclose(decoded[features.RATINGS_KEY][0].numpy(), [6.5, 2.0, 5.0, 7.1], rtol=1e-6)


def test_records_of_another_shape_are_rejected_with_the_feature_named():
    import tensorflow as tf

    written = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    expected = features.SampleShape(num_frames=7, image_size=8, face_size=16)
    serialized = tf.constant([features.encode_example(_sample(written))])
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg"):
        features.decode_examples(serialized, expected)


def test_schema_json_describes_record_and_model_inputs(tmp_path):
    shape = features.SampleShape(num_frames=480, image_size=32, face_size=64)
    path = tmp_path / "schema.json"
    features.write_schema(path, shape)
    schema = json.loads(path.read_text())
    assert features.SampleShape.from_schema(schema) == shape
    assert schema["model_inputs"]["eeg"]["shape"] == [None, 480, 32, 32, 3]
    assert schema["model_inputs"]["face"]["dtype"] == "uint8"
    assert set(schema["record_features"]) >= set(features.MODEL_INPUT_KEYS)


def test_serving_signature_uses_the_schema_names_and_shapes():
    shape = features.SampleShape(num_frames=10, image_size=8, face_size=16)
    signature = features.serving_input_signature(shape)
    assert sorted(signature) == sorted(features.MODEL_INPUT_KEYS)
    assert signature["eeg"].shape.as_list() == [None, 10, 8, 8, 3]
    assert signature["face_present"].name == "face_present"


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
    dataset = dataset.map(lambda serialized: features.decode_examples(serialized, expected))
    with pytest.raises(tf.errors.InvalidArgumentError, match="eeg.. does not hold"):
        next(iter(dataset))
