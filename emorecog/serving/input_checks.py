"""The serving contract's value checks, once: `eeg` must be finite and `face_present` 0 or 1.

A model answers NaN EEG or a face_present of 7 with a confident class, so the exported graph refuses such a
request (`with_input_checks`, standard TensorFlow ops that TF Serving runs: CheckNumerics and Assert), and
`emorecog predict` refuses it before it runs the model or writes a REST body (`check_input_values`, NumPy,
which also says where the first bad value is). Both use the messages below.
"""

import numpy as np

from emorecog import features

# No quotes: TensorFlow's Assert escapes them in the message a client sees.
EEG_NOT_FINITE = f"the {features.EEG_KEY} input holds NaN or infinite values (expected finite band energies)"
FACE_PRESENT_NOT_BINARY = (f"the {features.FACE_PRESENT_KEY} input holds values other than 0 and 1 (expected 1 "
                           "where a face was found in the frame, else 0)")


def with_input_checks(inputs):
    """The model inputs (dict of tensors), each made to depend on its value check (graph-safe)."""
    import tensorflow as tf

    checked = dict(inputs)
    checked[features.EEG_KEY] = tf.debugging.check_numerics(inputs[features.EEG_KEY], EEG_NOT_FINITE,
                                                            name="check_eeg_finite")
    present = inputs[features.FACE_PRESENT_KEY]
    binary = tf.reduce_all(tf.logical_or(tf.equal(present, 0.0), tf.equal(present, 1.0)))
    with tf.control_dependencies([tf.debugging.Assert(binary, [FACE_PRESENT_NOT_BINARY], name="check_face_present")]):
        checked[features.FACE_PRESENT_KEY] = tf.identity(present)
    return checked


def check_input_values(inputs, where):
    """Raise ValueError (naming `where`, e.g. a file and record) if `inputs` break the value contract.

    Args:
        inputs: dict of NumPy arrays with a leading batch dimension (eeg [B, T, H, W, 3], face_present [B, T]).
        where: what the inputs came from, for the message.
    """
    eeg = np.asarray(inputs[features.EEG_KEY])
    bad = ~np.isfinite(eeg)
    if bad.any():
        sample, frame = (int(index) for index in np.argwhere(bad)[0][:2])
        raise ValueError(f"{where}: {EEG_NOT_FINITE}: {int(bad.sum())} values, the first in sample {sample} frame "
                         f"{frame}")
    present = np.asarray(inputs[features.FACE_PRESENT_KEY])
    bad = ~np.isin(present, (0, 1))
    if bad.any():
        sample, frame = (int(index) for index in np.argwhere(bad)[0][:2])
        raise ValueError(f"{where}: {FACE_PRESENT_NOT_BINARY}: {int(bad.sum())} values, the first in sample "
                         f"{sample} frame {frame} is {present[sample, frame]!r}")
