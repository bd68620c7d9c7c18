"""Names of the serving signatures and of their outputs (the serving contract of DESIGN.md).

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
InvalidArgumentError naming the input (`input_checks`).
All return
             probabilities  float32 [B, 2]           softmax over (low, high)
             class_id       int64   [B]              argmax of probabilities (1 = high)
             glimpse_frames int32   [B, N_max]       frame index of each glimpse, -1 after the sample ended
             glimpse_count  int32   [B]
             band_weights   float32 [B, N_max, 3]    band attention (theta, alpha, beta) per glimpse
             layer_weights  float32 [B, N_max, 2, L] inter-layer attention over (hidden, cell) states
"""

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
    "Random", "StatelessRandom", "StatelessTruncatedNormal", "StatelessMultinomial", "TruncatedNormal",
    "Multinomial", "ParameterizedTruncatedNormal", "Cudnn", "IO>",
)
