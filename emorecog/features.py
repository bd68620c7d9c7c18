"""The one schema of an emorecog sample: every feature key, dtype and shape.

The TFRecord writer (ExampleGen), the tf.data reader, the serving signatures and `schema.json` all
derive from `SampleShape` and the constants here, so they cannot drift apart (TFX `features.py`).

A sample is one trial: T frames at `fps` (60 s at 8 fps -> T = 480).

| key            | in the record                          | after parsing (model input)          |
|----------------|----------------------------------------|--------------------------------------|
| eeg            | bytes: little-endian float32 [T,H,W,3] | float32 [T, H, W, 3] (theta, alpha, beta) |
| face           | bytes list: T JPEG images              | uint8 [T, S, S, 3]                   |
| face_present   | int64 list [T] (0 or 1)                | float32 [T]                          |
| subject        | bytes, e.g. b"s01"                     | string []                            |
| trial          | int64 DEAP video id (Experiment_id)    | int64 []                             |
| ratings        | float list [4] (valence, arousal, dominance, liking; 1..9) | float32 [4]      |
| label_valence  | int64 0/1                              | int64 []                             |
| label_arousal  | int64 0/1                              | int64 []                             |
| fps, num_frames| int64                                  | int64 []                             |
| dataset        | bytes ("deap" or "synthetic-deap")     | string []                            |
| config_hash    | bytes (ExampleGen config hash)         | string []                            |

TensorFlow is imported inside the functions that need it, so this module is cheap to import.
"""

import dataclasses
import json

EEG_BANDS = ("theta", "alpha", "beta")
BAND_EDGES_HZ = {"theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}
RATING_NAMES = ("valence", "arousal", "dominance", "liking")
TARGETS = ("valence", "arousal")
NUM_CLASSES = 2

EEG_KEY = "eeg"
FACE_KEY = "face"
FACE_PRESENT_KEY = "face_present"
MODEL_INPUT_KEYS = (EEG_KEY, FACE_KEY, FACE_PRESENT_KEY)

SUBJECT_KEY = "subject"
TRIAL_KEY = "trial"
RATINGS_KEY = "ratings"
FPS_KEY = "fps"
NUM_FRAMES_KEY = "num_frames"
DATASET_KEY = "dataset"
CONFIG_HASH_KEY = "config_hash"
SERIALIZED_EXAMPLES_KEY = "examples"


def label_key(target):
    """The record key of the binary label for `target` ('valence' or 'arousal')."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: expected one of {TARGETS}")
    return f"label_{target}"


@dataclasses.dataclass(frozen=True)
class SampleShape:
    """The sizes that fix every tensor shape of a sample.

    Args:
        num_frames: T, frames per sample (trial duration x fps).
        image_size: H = W of the EEG band images.
        face_size: S, side of the square face crops.
    """

    num_frames: int = 480
    image_size: int = 32
    face_size: int = 64

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SampleShape.{field.name} must be a positive int, got {value!r}")

    @property
    def eeg_shape(self):
        return (self.num_frames, self.image_size, self.image_size, len(EEG_BANDS))

    @property
    def face_shape(self):
        return (self.num_frames, self.face_size, self.face_size, 3)

    @classmethod
    def from_schema(cls, schema):
        """The shape recorded in a `schema.json` dict (see `schema_dict`)."""
        return cls(**schema["sample_shape"])


def schema_dict(shape):
    """A JSON-ready description of the record and of the model inputs, written as schema.json."""
    T, H, S = shape.num_frames, shape.image_size, shape.face_size
    return {
        "sample_shape": dataclasses.asdict(shape),
        "eeg_bands": list(EEG_BANDS),
        "band_edges_hz": {band: list(edges) for band, edges in BAND_EDGES_HZ.items()},
        "rating_names": list(RATING_NAMES),
        "record_features": {
            EEG_KEY: {"type": "bytes", "encoding": "float32-le", "shape": [T, H, H, 3]},
            FACE_KEY: {"type": "bytes_list", "encoding": "jpeg", "length": T, "image_shape": [S, S, 3]},
            FACE_PRESENT_KEY: {"type": "int64_list", "length": T},
            SUBJECT_KEY: {"type": "bytes"},
            TRIAL_KEY: {"type": "int64"},
            RATINGS_KEY: {"type": "float_list", "length": len(RATING_NAMES)},
            label_key("valence"): {"type": "int64"},
            label_key("arousal"): {"type": "int64"},
            FPS_KEY: {"type": "int64"},
            NUM_FRAMES_KEY: {"type": "int64"},
            DATASET_KEY: {"type": "bytes"},
            CONFIG_HASH_KEY: {"type": "bytes"},
        },
        "model_inputs": {
            EEG_KEY: {"dtype": "float32", "shape": [None, T, H, H, 3]},
            FACE_KEY: {"dtype": "uint8", "shape": [None, T, S, S, 3]},
            FACE_PRESENT_KEY: {"dtype": "float32", "shape": [None, T]},
        },
    }


def write_schema(path, shape):
    with open(path, "w") as handle:
        json.dump(schema_dict(shape), handle, indent=2)


def read_schema(path):
    with open(path) as handle:
        return json.load(handle)


def _record_feature_spec(keys=None):
    import tensorflow as tf

    spec = {
        EEG_KEY: tf.io.FixedLenFeature([], tf.string),
        FACE_KEY: tf.io.VarLenFeature(tf.string),
        FACE_PRESENT_KEY: tf.io.VarLenFeature(tf.int64),
        SUBJECT_KEY: tf.io.FixedLenFeature([], tf.string),
        TRIAL_KEY: tf.io.FixedLenFeature([], tf.int64),
        RATINGS_KEY: tf.io.FixedLenFeature([len(RATING_NAMES)], tf.float32),
        label_key("valence"): tf.io.FixedLenFeature([], tf.int64),
        label_key("arousal"): tf.io.FixedLenFeature([], tf.int64),
        FPS_KEY: tf.io.FixedLenFeature([], tf.int64),
        NUM_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64),
        DATASET_KEY: tf.io.FixedLenFeature([], tf.string),
        CONFIG_HASH_KEY: tf.io.FixedLenFeature([], tf.string),
    }
    return spec if keys is None else {key: spec[key] for key in keys}


def encode_example(sample):
    """Serialize one sample (a dict of NumPy values keyed as in this module) to tf.train.Example bytes.

    `sample[FACE_KEY]` is a sequence of T JPEG byte strings; `sample[EEG_KEY]` a float32 [T, H, W, 3].
    """
    import numpy as np
    import tensorflow as tf

    def int64s(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))

    def bytes_values(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    eeg = np.ascontiguousarray(sample[EEG_KEY], dtype="<f4")
    features = {
        EEG_KEY: bytes_values([eeg.tobytes()]),
        FACE_KEY: bytes_values(sample[FACE_KEY]),
        FACE_PRESENT_KEY: int64s(np.asarray(sample[FACE_PRESENT_KEY]).reshape(-1)),
        SUBJECT_KEY: bytes_values([str(sample[SUBJECT_KEY]).encode()]),
        TRIAL_KEY: int64s([sample[TRIAL_KEY]]),
        RATINGS_KEY: floats(sample[RATINGS_KEY]),
        label_key("valence"): int64s([sample[label_key("valence")]]),
        label_key("arousal"): int64s([sample[label_key("arousal")]]),
        FPS_KEY: int64s([sample[FPS_KEY]]),
        NUM_FRAMES_KEY: int64s([sample[NUM_FRAMES_KEY]]),
        DATASET_KEY: bytes_values([str(sample[DATASET_KEY]).encode()]),
        CONFIG_HASH_KEY: bytes_values([str(sample[CONFIG_HASH_KEY]).encode()]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def decode_examples(serialized, shape, model_inputs_only=False):
    """Parse a batch of serialized tf.train.Example into model inputs and context (graph-safe).

    Args:
        serialized: string tensor [B].
        shape: the `SampleShape` the records were written with.
        model_inputs_only: parse only `eeg`, `face` and `face_present` (what a serving client sends; no
            labels or other context needed).

    Returns:
        A dict: `eeg` float32 [B, T, H, W, 3], `face` uint8 [B, T, S, S, 3], `face_present` float32
        [B, T], plus every context key of the schema with a leading batch dimension.
        Records whose sizes disagree with `shape` raise InvalidArgumentError naming the feature.
    """
    import tensorflow as tf

    parsed = tf.io.parse_example(serialized, _record_feature_spec(MODEL_INPUT_KEYS if model_inputs_only else None))
    batch = tf.shape(serialized)[0]
    T, S = shape.num_frames, shape.face_size

    # The checks are control dependencies of the reshapes, so a record of another shape fails with a
    # message naming the feature (inside tf.data too), not with a bare reshape error.
    eeg = tf.io.decode_raw(parsed[EEG_KEY], tf.float32, little_endian=True)
    eeg_check = tf.debugging.assert_equal(
        tf.shape(eeg)[1], tf.constant(T * shape.image_size * shape.image_size * len(EEG_BANDS)),
        message=f"feature '{EEG_KEY}' does not hold {shape.eeg_shape} float32 values",
    )
    with tf.control_dependencies([eeg_check]):
        eeg = tf.reshape(eeg, [batch, *shape.eeg_shape])

    face_jpegs = tf.sparse.to_dense(parsed[FACE_KEY], default_value="")
    face_check = tf.debugging.assert_equal(
        tf.shape(face_jpegs)[1], tf.constant(T),
        message=f"feature '{FACE_KEY}' does not hold {T} JPEG frames",
    )
    with tf.control_dependencies([face_check]):
        flat_jpegs = tf.reshape(face_jpegs, [-1])
    faces = tf.map_fn(
        lambda jpeg: tf.ensure_shape(tf.io.decode_jpeg(jpeg, channels=3), [S, S, 3]),
        flat_jpegs,
        fn_output_signature=tf.TensorSpec([S, S, 3], tf.uint8),
    )
    faces = tf.reshape(faces, [batch, *shape.face_shape])

    face_present = tf.sparse.to_dense(parsed[FACE_PRESENT_KEY])
    present_check = tf.debugging.assert_equal(
        tf.shape(face_present)[1], tf.constant(T),
        message=f"feature '{FACE_PRESENT_KEY}' does not hold {T} values",
    )
    with tf.control_dependencies([present_check]):
        face_present = tf.reshape(tf.cast(face_present, tf.float32), [batch, T])

    decoded = {key: value for key, value in parsed.items() if key not in MODEL_INPUT_KEYS}
    decoded.update({EEG_KEY: eeg, FACE_KEY: faces, FACE_PRESENT_KEY: face_present})
    return decoded


def model_inputs(decoded):
    """The three model inputs out of a decoded record dict."""
    return {key: decoded[key] for key in MODEL_INPUT_KEYS}


def serving_input_signature(shape):
    """Named TensorSpecs of the dense serving signature (fixed T, H, S; any batch size)."""
    import tensorflow as tf

    return {
        EEG_KEY: tf.TensorSpec([None, *shape.eeg_shape], tf.float32, name=EEG_KEY),
        FACE_KEY: tf.TensorSpec([None, *shape.face_shape], tf.uint8, name=FACE_KEY),
        FACE_PRESENT_KEY: tf.TensorSpec([None, shape.num_frames], tf.float32, name=FACE_PRESENT_KEY),
    }
