"""Names of the serving signatures and of their outputs (the serving contract).

`serving_default` (dense tensors, TF Serving's default):
    inputs   eeg           float32 [B, T, H, W, 3]   raw band energies (normalised inside the model), finite
             face          uint8   [B, T, S, S, 3]   face crops
             face_present  float32 [B, T]            1 where a face was found in the frame, else 0
`serve_examples` (serialized tf.train.Example, the TFX convention):
    inputs   examples      string  [B]               tf.train.Example records holding (at least) eeg_band_energy,
                                                     face and face_present as ExampleGen writes them; labels
                                                     and other context are neither needed nor read
`serve_compact` (what a REST client can send: a 60 s trial is ~1 MB of JSON, not ~50):
    inputs   eeg_band_energy float32 [B, T, C, 3]    per-electrode band energies (the record's EEG), finite; the
                                                     graph interpolates them to images with ExampleGen's
                                                     operator, a constant
             face_jpeg     string  [B, T]            JPEG face crops ("" = black frame), base64 in JSON
             face_present  float32 [B, T]            1 where a face was found in the frame, else 0
Inputs outside this contract (shape, dtype, non-finite EEG, face_present not 0/1) fail with an
InvalidArgumentError naming the input (`with_input_checks` below).
All return
             probabilities  float32 [B, 2]           softmax over (low, high)
             class_id       int64   [B]              argmax of probabilities (1 = high)
             glimpse_frames int32   [B, N_max]       frame index of each glimpse, -1 after the sample ended
             glimpse_count  int32   [B]
             band_weights   float32 [B, N_max, 3]    band attention (theta, alpha, beta) per glimpse
             layer_weights  float32 [B, N_max, 2, L] inter-layer attention over (hidden, cell) states

The serving contract's value checks, once: the EEG must be finite and `face_present` 0 or 1.

A model answers NaN EEG or a face_present of 7 with a confident class, so the exported graph refuses such a
request (`with_input_checks`, standard TensorFlow ops that TF Serving runs: CheckNumerics and Assert), and
`emorecog predict` refuses it before it runs the model or writes a REST body (`check_input_values`, NumPy,
which also says where the first bad value is). Both use the messages below. The EEG arrives as band images
(`eeg`, dense signature and records) or as per-electrode band energies (`eeg_band_energy`, compact
signature); whichever a signature takes is checked, under its own name.
"""

import numpy as np

from emorecog import features

SERVING_DEFAULT = "serving_default"
SERVE_EXAMPLES = "serve_examples"
SERVE_COMPACT = "serve_compact"
SIGNATURE_NAMES = (SERVING_DEFAULT, SERVE_EXAMPLES, SERVE_COMPACT)

OUTPUT_KEYS = ("probabilities", "class_id", "glimpse_frames", "glimpse_count", "band_weights", "layer_weights")
DENSE_INPUT_KEYS = features.MODEL_INPUT_KEYS
EXAMPLES_INPUT_KEY = features.SERIALIZED_EXAMPLES_KEY
COMPACT_INPUT_KEYS = (features.EEG_BAND_ENERGY_KEY, features.FACE_JPEG_KEY, features.FACE_PRESENT_KEY)

# Op types that must never reach a served graph: sampling (answers would change per call), cuDNN-only RNN
# kernels (fail on CPU serving) and anything from tensorflow-io (not in TF Serving's op set).
FORBIDDEN_OP_PREFIXES = (
    "Random",
    "StatelessRandom",
    "StatelessTruncatedNormal",
    "StatelessMultinomial",
    "TruncatedNormal",
    "Multinomial",
    "ParameterizedTruncatedNormal",
    "Cudnn",
    "IO>",
)


FINITE_INPUT_KEYS = (features.EEG_KEY, features.EEG_BAND_ENERGY_KEY)


def not_finite_message(key):
    # No quotes: TensorFlow's Assert escapes them in the message a client sees.
    return f"the {key} input holds NaN or infinite values (expected finite band energies)"


FACE_PRESENT_NOT_BINARY = (
    f"the {features.FACE_PRESENT_KEY} input holds values other than 0 and 1 (expected 1 "
    "where a face was found in the frame, else 0)"
)
EEG_NOT_FINITE = not_finite_message(features.EEG_KEY)


def with_input_checks(inputs):
    """The inputs (dict of tensors), each EEG input and face_present made to depend on its check (graph-safe)."""
    import tensorflow as tf

    checked = dict(inputs)
    for key in FINITE_INPUT_KEYS:
        if key in inputs:
            checked[key] = tf.debugging.check_numerics(inputs[key], not_finite_message(key), name=f"check_{key}_finite")
    present = inputs[features.FACE_PRESENT_KEY]
    binary = tf.reduce_all(tf.logical_or(tf.equal(present, 0.0), tf.equal(present, 1.0)))
    with tf.control_dependencies([tf.debugging.Assert(binary, [FACE_PRESENT_NOT_BINARY], name="check_face_present")]):
        checked[features.FACE_PRESENT_KEY] = tf.identity(present)
    return checked


def check_input_values(inputs, where):
    """Raise ValueError (naming `where`, e.g. a file and record) if `inputs` break the value contract.

    Args:
        inputs: dict of NumPy arrays with a leading batch dimension (eeg [B, T, H, W, 3] and/or
            eeg_band_energy [B, T, C, 3], face_present [B, T]).
        where: what the inputs came from, for the message.
    """
    for key in FINITE_INPUT_KEYS:
        if key not in inputs:
            continue
        bad = ~np.isfinite(np.asarray(inputs[key]))
        if bad.any():
            sample, frame = (int(index) for index in np.argwhere(bad)[0][:2])
            raise ValueError(
                f"{where}: {not_finite_message(key)}: {int(bad.sum())} values, the first in sample "
                f"{sample} frame {frame}"
            )
    present = np.asarray(inputs[features.FACE_PRESENT_KEY])
    bad = ~np.isin(present, (0, 1))
    if bad.any():
        sample, frame = (int(index) for index in np.argwhere(bad)[0][:2])
        raise ValueError(
            f"{where}: {FACE_PRESENT_NOT_BINARY}: {int(bad.sum())} values, the first in sample "
            f"{sample} frame {frame} is {present[sample, frame]!r}"
        )
