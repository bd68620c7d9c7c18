"""Every custom layer: conformance (config, weights, shapes, save/reload, fit) and NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from emorecog.layers.band_attention import BandAttention
from emorecog.layers.band_features import BandFeatures
from emorecog.layers.baseline_network import BaselineNetwork
from emorecog.layers.face_encoder import FaceEncoder
from emorecog.layers.glimpse_encoder import GlimpseEncoder
from emorecog.layers.glimpse_fusion import GlimpseFusion
from emorecog.layers.inter_layer_self_attention import InterLayerSelfAttention, layer_variance_penalty
from emorecog.layers.location_network import LocationNetwork, location_to_frame
from emorecog.layers.segment_location_policy import SegmentLocationPolicy
from emorecog.layers.stacked_lstm_core import StackedLSTMCore
from emorecog.layers.stop_policy import StopPolicy
from emorecog.layers.trial_skim import TrialSkim, segment_centres, segment_of_frames
from tests.layer_conformance import CONFORMANCE_CASES, conformance_case, run_layer_test

B, T, H, S = 4, 10, 8, 16


def rng(seed=0):
    return np.random.default_rng(seed)


def softmax(values, axis=-1):
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def glimpse_inputs(seed=0, hidden=12, state=8):
    generator = rng(seed)
    return [
        generator.normal(size=(B, T, H, H, 3)).astype("float32"),
        generator.integers(0, 256, size=(B, T, S, S, 3)).astype("uint8"),
        (generator.random((B, T)) > 0.3).astype("float32"),
        generator.uniform(-1, 1, size=(B,)).astype("float32"),
        generator.normal(size=(B, hidden)).astype("float32"),
        generator.normal(size=(B, 2, state)).astype("float32"),
        generator.normal(size=(B, 2, state)).astype("float32"),
    ]


ENCODER_KWARGS = dict(
    feature_size=16,
    band_feature_size=12,
    band_pool_size=2,
    face_filters=(4,),
    face_patch_size=4,
    band_mean=(1.0, 2.0, 3.0),
    band_std=(1.0, 0.5, 2.0),
)
FUSION_KWARGS = dict(feature_size=16, glimpse_hidden_size=8, location_embedding_size=4)


def glimpse_layers(use_eeg=True, use_face=True):
    """A `GlimpseEncoder` and a `GlimpseFusion`, and a function running them on whole trials at a location the
    way the glimpse model does: frame t_n of each trial, encoded, then fused with the state."""
    encoder = GlimpseEncoder(**ENCODER_KWARGS, use_eeg=use_eeg, use_face=use_face)
    fusion = GlimpseFusion(**FUSION_KWARGS, use_eeg=use_eeg, use_face=use_face)

    def glimpse(eeg, face, face_present, location, previous_hidden, eeg_state, face_state):
        rows, frames = np.arange(len(location)), np.array(location_to_frame(location, eeg.shape[1]))
        band_features, face_features = encoder(eeg[rows, frames], face[rows, frames])
        return fusion(
            band_features, face_features, face_present[rows, frames], location, previous_hidden, eeg_state, face_state
        )

    return encoder, fusion, glimpse


def encoded_glimpse_inputs(use_eeg=True, use_face=True, seed=0):
    """The `GlimpseFusion` inputs of `glimpse_inputs`: features of one frame each, then the state."""
    eeg, face, present, location, *state = glimpse_inputs(seed)
    generator = rng(seed + 1)
    band_features = generator.random((B, 3, 12)).astype("float32") if use_eeg else np.zeros((B, 0), "float32")
    face_features = generator.random((B, 16)).astype("float32") if use_face else np.zeros((B, 0), "float32")
    return [band_features, face_features, present[:, 0], location, *state]


# ------------------------------------------------------------------------------------------ conformance
def test_every_registered_emorecog_layer_has_a_conformance_case():
    import importlib
    import pkgutil

    import emorecog.layers

    for module in pkgutil.iter_modules(emorecog.layers.__path__):
        importlib.import_module(f"emorecog.layers.{module.name}")
    registered = {
        name: layer
        for name, layer in keras.saving.get_custom_objects().items()
        if name.startswith("emorecog>")
        and isinstance(layer, type)
        and issubclass(layer, keras.layers.Layer)
        and not issubclass(layer, keras.Model)
    }
    assert registered, "no layer registered under the emorecog package"
    missing = sorted(name for name, layer in registered.items() if layer not in CONFORMANCE_CASES)
    assert not missing, f"registered layers without a conformance case in tests/layer_conformance.py: {missing}"


@conformance_case(FaceEncoder)
def test_face_encoder_conformance(tmp_path):
    data = [rng().integers(0, 256, size=(B, S, S, 3)).astype("uint8")]
    run_layer_test(
        FaceEncoder, {"filters": (4, 8), "feature_size": 16, "patch_size": 4}, data, (B, 16), 6, tmp_path=tmp_path
    )


def test_face_encoder_embeds_patches_then_halves():
    encoder = FaceEncoder(filters=(4, 8, 8), feature_size=16, patch_size=4)
    encoder(np.zeros((1, 64, 64, 3), "uint8"))
    assert [convolution.kernel.shape[:2] for convolution in encoder.convolutions] == [(4, 4), (3, 3), (3, 3)]
    assert encoder.projection.kernel.shape == (4 * 4 * 8, 16)  # 64 -> 16 (patches) -> 8 -> 4


@conformance_case(BandFeatures)
def test_band_features_conformance(tmp_path):
    data = [rng().normal(size=(B, H, H, 3)).astype("float32")]
    run_layer_test(BandFeatures, {"band_feature_size": 16, "pool_size": 2}, data, (B, 3, 16), 2, tmp_path=tmp_path)


@conformance_case(BandAttention)
def test_band_attention_conformance(tmp_path):
    data = [rng().random((B, 3, 16)).astype("float32"), rng(1).normal(size=(B, 12)).astype("float32")]
    run_layer_test(BandAttention, {}, data, [(B, 16), (B, 3)], 2, tmp_path=tmp_path)


# The glimpse's weights: the encoder's and the fusion's (16, 11 and 10 in all for both, EEG-only, face-only).
GLIMPSE_STREAMS = [
    ({"use_eeg": True, "use_face": True}, [(B, 3, 12), (B, 16)], 6, 16, 10),
    ({"use_eeg": True, "use_face": False}, [(B, 3, 12), (B, 0)], 2, 8, 9),
    ({"use_eeg": False, "use_face": True}, [(B, 0), (B, 16)], 4, 8, 6),
]


@conformance_case(GlimpseEncoder)
@pytest.mark.parametrize("streams, feature_shapes, weights, glimpse_size, fusion_weights", GLIMPSE_STREAMS)
def test_glimpse_encoder_conformance(tmp_path, streams, feature_shapes, weights, glimpse_size, fusion_weights):
    frames = [inputs[:, 0] for inputs in glimpse_inputs()[:2]]
    run_layer_test(
        GlimpseEncoder,
        {**ENCODER_KWARGS, **streams},
        frames,
        feature_shapes,
        weights,
        tmp_path=tmp_path,
        fit=streams["use_eeg"] and streams["use_face"],
    )
    assert (
        weights + fusion_weights
        == {(True, True): 16, (True, False): 11, (False, True): 10}[(streams["use_eeg"], streams["use_face"])]
    )


@conformance_case(GlimpseFusion)
@pytest.mark.parametrize("streams, feature_shapes, encoder_weights, glimpse_size, weights", GLIMPSE_STREAMS)
def test_glimpse_fusion_conformance(tmp_path, streams, feature_shapes, encoder_weights, glimpse_size, weights):
    run_layer_test(
        GlimpseFusion,
        {**FUSION_KWARGS, **streams},
        encoded_glimpse_inputs(**streams),
        [(B, glimpse_size), (B, 2, 8), (B, 2, 8), (B, 3)],
        weights,
        tmp_path=tmp_path,
    )


@conformance_case(StackedLSTMCore)
def test_stacked_lstm_core_conformance(tmp_path):
    data = [rng().normal(size=(B, 6)).astype("float32"), rng(1).normal(size=(B, 3, 2, 8)).astype("float32")]
    run_layer_test(StackedLSTMCore, {"units": 8, "num_layers": 3}, data, (B, 3, 2, 8), 9, tmp_path=tmp_path)


@conformance_case(InterLayerSelfAttention)
def test_inter_layer_self_attention_conformance(tmp_path):
    data = [rng().normal(size=(B, 3, 8)).astype("float32"), rng(1).normal(size=(B, 3, 8)).astype("float32")]
    run_layer_test(
        InterLayerSelfAttention, {"attention_size": 5}, data, [(B, 8), (B, 8), (B, 3), (B, 3)], 6, tmp_path=tmp_path
    )


@conformance_case(LocationNetwork)
def test_location_network_conformance_sampling(tmp_path):
    data = [rng().normal(size=(B, 8)).astype("float32"), rng(1).normal(size=(B,)).astype("float32")]
    run_layer_test(LocationNetwork, {"location_std": 0.2}, data, [(B,), (B,), (B,)], 2, tmp_path=tmp_path)


@conformance_case(LocationNetwork)
def test_location_network_conformance_mean(tmp_path):
    data = [rng().normal(size=(B, 8)).astype("float32")]
    run_layer_test(LocationNetwork, {"location_std": 0.2}, data, [(B,), (B,), (B,)], 2, tmp_path=tmp_path)


@conformance_case(BaselineNetwork)
@pytest.mark.parametrize("hidden_size, weights", [(0, 2), (6, 4)])
def test_baseline_network_conformance(tmp_path, hidden_size, weights):
    data = [rng().normal(size=(B, 8)).astype("float32")]
    run_layer_test(BaselineNetwork, {"hidden_size": hidden_size}, data, (B,), weights, tmp_path=tmp_path, fit=False)


# ------------------------------------------------------------------------------------- NumPy references
@pytest.mark.parametrize("pool_size", [1, 2])
def test_band_attention_matches_numpy_equations_1_and_2(pool_size):
    band_layer = BandFeatures(band_feature_size=5, pool_size=pool_size)
    layer = BandAttention()
    frames = rng().normal(size=(B, H, H, 3)).astype("float32")
    previous = rng(1).normal(size=(B, 7)).astype("float32")
    layer(band_layer(frames), previous)
    side = H // pool_size
    generator = rng(2)
    band_kernel = generator.normal(size=(3, side * side, 5)).astype("float32") * 0.1
    band_bias = generator.normal(size=(3, 5)).astype("float32") * 0.1
    importance_kernel = generator.normal(size=(7, 3)).astype("float32")
    importance_bias = generator.normal(size=(3,)).astype("float32")
    band_layer.band_kernel.assign(band_kernel)
    band_layer.band_bias.assign(band_bias)
    layer.importance.kernel.assign(importance_kernel)
    layer.importance.bias.assign(importance_bias)

    attended, weights = layer(band_layer(frames), previous)

    pooled = frames.reshape(B, side, pool_size, side, pool_size, 3).mean(axis=(2, 4))
    pixels = pooled.reshape(B, side * side, 3)
    band_features = np.maximum(np.einsum("bpi,ipf->bif", pixels, band_kernel) + band_bias, 0.0)  # e_i
    expected_weights = softmax(previous @ importance_kernel + importance_bias)  # eq. 2
    expected = np.sum(band_features * expected_weights[:, :, None], axis=1)  # eq. 1
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attended, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.sum(weights, axis=-1), 1.0, rtol=1e-6)


def test_band_attention_rejects_images_the_pool_does_not_tile():
    with pytest.raises(ValueError, match="pool_size"):
        BandFeatures(band_feature_size=4, pool_size=3)(np.zeros((1, 8, 8, 3), "float32"))


def test_band_attention_weights_follow_the_previous_state():
    layer = BandAttention()
    band_features = BandFeatures(band_feature_size=4, pool_size=2)(np.ones((2, H, H, 3), "float32"))
    _, first = layer(band_features, np.zeros((2, 6), "float32"))
    _, second = layer(band_features, rng().normal(size=(2, 6)).astype("float32") * 5)
    assert not np.allclose(first, second)


def test_inter_layer_self_attention_matches_numpy_equations_3_to_7():
    layer = InterLayerSelfAttention(attention_size=4)
    hidden = rng().normal(size=(B, 3, 6)).astype("float32")
    cell = rng(1).normal(size=(B, 3, 6)).astype("float32") * 3
    layer(hidden, cell)
    generator = rng(2)
    parameters = {}
    for state in ("hidden", "cell"):
        parameters[state] = (
            generator.normal(size=(6, 4)).astype("float32"),
            generator.normal(size=(4,)).astype("float32"),
            generator.normal(size=(4,)).astype("float32"),
        )
        getattr(layer, f"{state}_score_kernel").assign(parameters[state][0])
        getattr(layer, f"{state}_score_bias").assign(parameters[state][1])
        getattr(layer, f"{state}_score_vector").assign(parameters[state][2])

    weighted_hidden, weighted_cell, hidden_weights, cell_weights = layer(hidden, cell)

    for states, (kernel, bias, vector), weighted, weights in (
        (hidden, parameters["hidden"], weighted_hidden, hidden_weights),
        (cell, parameters["cell"], weighted_cell, cell_weights),
    ):
        scores = np.tanh(states @ kernel + bias) @ vector  # eq. 3: u = v^T tanh(W_s X + b)
        expected_weights = softmax(scores)  # eq. 4
        expected = np.einsum("bl,blr->br", expected_weights, states)  # eq. 7: Y = a X
        np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weighted, expected, rtol=1e-5, atol=1e-5)


def test_layer_variance_penalty_matches_numpy_equations_8_and_9():
    generator = rng()
    alpha = softmax(generator.normal(size=(B, 5, 3)))
    beta = softmax(generator.normal(size=(B, 5, 3)) * 3)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], "float32")

    penalty = np.array(layer_variance_penalty(alpha, beta, mask))

    for sample in range(B):
        steps = int(mask[sample].sum())
        total = 0.0
        for step in range(steps):
            mu = alpha[sample, step].mean()  # eq. 9
            eta = beta[sample, step].mean()
            total += np.sum((alpha[sample, step] - mu) ** 2 + (beta[sample, step] - eta) ** 2)
        expected = total / steps if steps else 0.0  # eq. 8: 1/T sum_t sum_i (...)
        np.testing.assert_allclose(penalty[sample], expected, rtol=1e-5, atol=1e-7)
    unmasked = np.array(layer_variance_penalty(alpha, beta))
    np.testing.assert_allclose(unmasked[0], penalty[0], rtol=1e-6)


def test_layer_variance_penalty_is_largest_for_one_hot_weights():
    uniform = np.full((1, 2, 3), 1.0 / 3.0, "float32")
    one_hot = np.tile(np.eye(3, dtype="float32")[None, :2], (1, 1, 1))
    assert float(layer_variance_penalty(uniform, uniform)[0]) == pytest.approx(0.0, abs=1e-7)
    # sum_i (a_i - 1/L)^2 = (L - 1) / L for a one-hot a; alpha and beta both count.
    assert float(layer_variance_penalty(one_hot, one_hot)[0]) == pytest.approx(2 * 2.0 / 3.0, rel=1e-5)


def test_eeg_normalization_standardises_each_band():
    encoder = GlimpseEncoder(
        **{**ENCODER_KWARGS, "band_mean": (1.0, 2.0, 3.0), "band_std": (2.0, 4.0, 0.5)}, use_eeg=True, use_face=True
    )
    eeg = np.stack([np.full((1, 2, 2), value, "float32") for value in (5.0, 6.0, 4.0)], axis=-1)
    np.testing.assert_allclose(np.array(encoder.eeg_normalization(eeg))[0, 0, 0], [2.0, 1.0, 2.0])


def test_eeg_normalization_rejects_bad_statistics():
    streams = {"use_eeg": True, "use_face": True}
    with pytest.raises(ValueError, match="positive"):
        GlimpseEncoder(**{**ENCODER_KWARGS, "band_mean": (0.0, 0.0, 0.0), "band_std": (1.0, 0.0, 1.0)}, **streams)
    with pytest.raises(ValueError, match="3 band"):
        GlimpseEncoder(**{**ENCODER_KWARGS, "band_mean": (0.0, 0.0), "band_std": (1.0, 1.0)}, **streams)


def test_face_encoder_scales_uint8_inside():
    encoder = FaceEncoder(filters=(4,), feature_size=8)
    face = rng().integers(0, 256, size=(2, S, S, 3)).astype("uint8")
    np.testing.assert_allclose(encoder(face), encoder(face.astype("float32")), rtol=1e-6)


def test_stacked_lstm_core_matches_cells_applied_by_hand():
    core = StackedLSTMCore(units=5, num_layers=2)
    inputs = rng().normal(size=(3, 4)).astype("float32")
    states = rng(1).normal(size=(3, 2, 2, 5)).astype("float32")
    new_states = np.array(core(inputs, states))
    hidden_1, (_, cell_1) = core.cells[0](inputs, [states[:, 0, 0], states[:, 0, 1]])
    hidden_2, (_, cell_2) = core.cells[1](hidden_1, [states[:, 1, 0], states[:, 1, 1]])
    np.testing.assert_allclose(new_states[:, 0, 0], hidden_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_states[:, 0, 1], cell_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_states[:, 1, 0], hidden_2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_states[:, 1, 1], cell_2, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------- the glimpse
def test_location_to_frame_maps_the_ends_and_clips():
    frames = np.array(location_to_frame(np.array([-1.0, 1.0, 0.0, -3.0, 2.0, 0.5], "float32"), 11))
    np.testing.assert_array_equal(frames, [0, 10, 5, 0, 10, 8])  # round(0.75 * 10) = 8 (7.5 rounds to even)


def test_glimpse_streams_share_one_lstm():
    encoder, network, glimpse_at = glimpse_layers()
    inputs = glimpse_inputs()
    glimpse, eeg_state, face_state, _ = glimpse_at(*inputs)
    lstm_cells = [
        layer
        for layer in [*encoder._flatten_layers(), *network._flatten_layers()]
        if isinstance(layer, keras.layers.LSTMCell)
    ]
    assert lstm_cells == [network.shared_lstm]
    # Both halves of g_n come out of the same cell: feeding the face stream's input to the cell by hand
    # with the face state reproduces the face half.
    frames = np.array(location_to_frame(inputs[3], T))
    present = inputs[2][np.arange(B), frames]
    _, face_features = encoder(inputs[0][np.arange(B), frames], inputs[1][np.arange(B), frames])
    face_vector = np.where(present[:, None] > 0.5, face_features, np.array(network.missing_face_embedding)[None])
    location_features = network.location_embedding(inputs[3][:, None])
    cell_input = np.concatenate([face_vector, location_features, present[:, None]], axis=-1)
    hidden, _ = network.shared_lstm(cell_input, [inputs[6][:, 0], inputs[6][:, 1]])
    np.testing.assert_allclose(glimpse[:, 8:], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(face_state[:, 0], hidden, rtol=1e-5, atol=1e-6)
    assert not np.allclose(eeg_state, inputs[5])


def test_glimpse_missing_face_ignores_the_crop_and_differs_from_a_face():
    _, network, glimpse_at = glimpse_layers()
    inputs = glimpse_inputs()
    glimpse_at(*inputs)
    network.missing_face_embedding.assign(np.linspace(-1, 1, 16).astype("float32"))
    absent = [*inputs]
    absent[2] = np.zeros((B, T), "float32")
    blank = [*absent]
    blank[1] = np.zeros_like(inputs[1])
    noisy = [*absent]
    noisy[1] = rng(5).integers(0, 256, size=inputs[1].shape).astype("uint8")
    blank_glimpse = np.array(glimpse_at(*blank)[0])
    np.testing.assert_allclose(blank_glimpse, glimpse_at(*noisy)[0], rtol=1e-6)
    assert np.all(np.isfinite(blank_glimpse))
    present = [*blank]
    present[2] = np.ones((B, T), "float32")
    assert not np.allclose(blank_glimpse[:, 8:], np.array(glimpse_at(*present)[0])[:, 8:])


def test_glimpse_single_stream_keeps_the_other_state():
    _, _, eeg_only = glimpse_layers(use_face=False)
    inputs = glimpse_inputs()
    glimpse, eeg_state, face_state, band_weights = eeg_only(*inputs)
    np.testing.assert_array_equal(face_state, inputs[6])
    _, _, face_only = glimpse_layers(use_eeg=False)
    _, eeg_state, _, band_weights = face_only(*inputs)
    np.testing.assert_array_equal(eeg_state, inputs[5])
    np.testing.assert_array_equal(band_weights, np.zeros((B, 3)))


def test_glimpse_layers_need_a_stream():
    with pytest.raises(ValueError, match="at least one stream"):
        GlimpseEncoder(**ENCODER_KWARGS, use_eeg=False, use_face=False)
    with pytest.raises(ValueError, match="at least one stream"):
        GlimpseFusion(**FUSION_KWARGS, use_eeg=False, use_face=False)


# ---------------------------------------------------------------------------------------- the policy
def test_location_network_log_prob_is_gaussian_and_clips_after_it():
    network = LocationNetwork(location_std=0.2)
    state = rng().normal(size=(3, 4)).astype("float32")
    network(state)
    network.mean_projection.kernel.assign(np.zeros((4, 1), "float32"))
    network.mean_projection.bias.assign(np.array([np.arctanh(0.9)], "float32"))
    noise = np.array([0.0, 1.0, -2.0], "float32")
    location, mean, log_prob = (np.array(value) for value in network(state, noise))
    sample = 0.9 + 0.2 * noise  # 0.9, 1.1, 0.5
    expected = -0.5 * ((sample - 0.9) / 0.2) ** 2 - np.log(0.2 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(mean, 0.9, rtol=1e-5)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-4)  # of the unclipped 1.1
    np.testing.assert_allclose(location, [0.9, 1.0, 0.5], rtol=1e-5)


def test_location_network_mean_policy_is_deterministic():
    network = LocationNetwork(location_std=0.2)
    state = rng().normal(size=(3, 4)).astype("float32")
    location, mean, log_prob = network(state)
    np.testing.assert_array_equal(location, mean)
    np.testing.assert_array_equal(log_prob, np.zeros(3))
    np.testing.assert_array_equal(network(state)[0], location)


def test_location_network_gradients_reach_it_through_the_log_prob_only():
    network = LocationNetwork(location_std=0.2)
    state = tf.constant(rng().normal(size=(3, 4)).astype("float32"))
    noise = tf.constant([0.3, -0.5, 1.0])
    network(state, noise)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(state)
        location, _, log_prob = network(state, noise)
        log_prob_sum = tf.reduce_sum(log_prob)
        location_sum = tf.reduce_sum(location)
    log_prob_gradients = tape.gradient(log_prob_sum, network.trainable_weights)
    assert all(gradient is not None and np.any(np.array(gradient) != 0) for gradient in log_prob_gradients)
    location_gradients = tape.gradient(location_sum, network.trainable_weights)
    assert all(gradient is None or not np.any(np.array(gradient)) for gradient in location_gradients)
    state_gradient = tape.gradient(log_prob_sum, state)
    assert state_gradient is None or not np.any(np.array(state_gradient))


def test_location_network_rejects_a_bad_sigma():
    with pytest.raises(ValueError, match="location_std"):
        LocationNetwork(location_std=0.0)


def test_baseline_network_does_not_train_the_state():
    network = BaselineNetwork()
    state = tf.constant(rng().normal(size=(3, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(state)
        output = tf.reduce_sum(network(state))
    gradient = tape.gradient(output, state)
    assert gradient is None or not np.any(np.array(gradient))


# ------------------------------------------------------------------------------- skim, search, stopping
K = 4
SKIM_KWARGS = dict(
    skim_size=6, num_segments=K, grid_size=4, kernel_size=3, band_mean=(1.0, 2.0, 3.0), band_std=(1.0, 0.5, 2.0)
)


def skim_inputs(seed=0):
    return glimpse_inputs(seed)[:3]


def policy_inputs(seed=0, sample=True):
    generator = rng(seed)
    inputs = [
        generator.normal(size=(B, K, 6)).astype("float32"),
        generator.normal(size=(B, K)).astype("float32"),
        generator.normal(size=(B, 12)).astype("float32"),
        (generator.random((B, K)) > 0.6).astype("float32"),
    ]
    if sample:
        inputs += [
            -np.log(-np.log(generator.uniform(1e-6, 1.0, size=(B, K)))).astype("float32"),
            generator.normal(size=(B,)).astype("float32"),
        ]
    return inputs


@conformance_case(TrialSkim)
@pytest.mark.parametrize("streams, weights", [({}, 6), ({"use_face": False}, 6), ({"use_eeg": False}, 6)])
def test_trial_skim_conformance(tmp_path, streams, weights):
    run_layer_test(
        TrialSkim, {**SKIM_KWARGS, **streams}, skim_inputs(), [(B, K, 6), (B, K), (B, K)], weights, tmp_path=tmp_path
    )


@conformance_case(SegmentLocationPolicy)
@pytest.mark.parametrize("sample", [True, False])
@pytest.mark.parametrize("use_skim, weights", [(True, 5), (False, 5)])
def test_segment_location_policy_conformance(tmp_path, sample, use_skim, weights):
    run_layer_test(
        SegmentLocationPolicy,
        dict(num_segments=K, attention_size=5, use_skim=use_skim),
        policy_inputs(sample=sample),
        [(B,), (B,), (B,), (B, K)],
        weights,
        tmp_path=tmp_path,
    )


@conformance_case(StopPolicy)
@pytest.mark.parametrize("sample", [True, False])
def test_stop_policy_conformance(tmp_path, sample):
    generator = rng(1)
    inputs = [
        generator.normal(size=(B, 12)).astype("float32"),
        softmax(generator.normal(size=(B, 2))).astype("float32"),
        generator.random(B).astype("float32"),
    ]
    if sample:
        inputs.append(generator.random(B).astype("float32"))
    run_layer_test(StopPolicy, dict(initial_probability=0.2), inputs, [(B,), (B,), (B,)], 2, tmp_path=tmp_path)


def test_segments_split_the_location_range_evenly():
    np.testing.assert_array_equal(segment_of_frames(9, 4), [0, 0, 1, 1, 2, 2, 3, 3, 3])  # t / 8 * 4, floored
    np.testing.assert_allclose(segment_centres(4), [-0.75, -0.25, 0.25, 0.75])
    # The centre of every segment maps to a frame of that segment.
    for frames in (16, 100, 480):
        centre_frames = np.array(location_to_frame(segment_centres(16), frames))
        np.testing.assert_array_equal(np.array(segment_of_frames(frames, 16))[centre_frames], np.arange(16))
    # Fewer frames than segments: some segments are empty, none is out of range.
    assert set(np.array(segment_of_frames(3, 8)).tolist()) == {0, 4, 7}


def test_trial_skim_reads_frame_statistics_relative_to_the_trial():
    """Each statistic is standardised over the trial's frames: an offset of the whole trial changes nothing,
    an event in a few frames does."""
    skim = TrialSkim(**SKIM_KWARGS)
    eeg, face, present = skim_inputs()
    base, base_novelty, _ = skim(eeg, face, present)
    shifted, shifted_novelty, _ = skim(eeg + 5.0, face, present)
    np.testing.assert_allclose(shifted, base, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(shifted_novelty, base_novelty, rtol=1e-4, atol=1e-4)
    event = eeg.copy()
    event[:, 0:2] += 3.0  # frames 0-1: in segment 0 of 4 (T = 10)
    changed, novelty, _ = skim(event, face, present)
    assert not np.allclose(changed, base, atol=1e-3)
    novelty = np.array(novelty)
    assert np.all(novelty[:, 0] > novelty[:, 1:].max(axis=1) + 1.0), novelty


def test_trial_skim_face_statistics_are_grey_levels_on_a_grid():
    skim = TrialSkim(**SKIM_KWARGS)
    face = np.zeros((1, 2, S, S, 3), "uint8")
    face[0, 0, : S // 2] = 255  # upper half white in frame 0
    statistics = np.array(skim.frame_statistics(np.zeros((1, 2, H, H, 3), "float32"), face, np.ones((1, 2), "float32")))
    face_grid = statistics[0, :, 4 * 4 * 3 : 4 * 4 * 3 + 16].reshape(2, 4, 4)
    # Standardised over the two frames: the upper half is +1 in frame 0 and -1 in frame 1, the rest constant.
    np.testing.assert_allclose(face_grid[0], [[1] * 4, [1] * 4, [0] * 4, [0] * 4], atol=1e-3)
    np.testing.assert_allclose(face_grid[1], -face_grid[0], atol=1e-3)
    # Without a face the crop is not read: its statistics are 0, the flag says why.
    statistics = np.array(
        skim.frame_statistics(np.zeros((1, 2, H, H, 3), "float32"), face, np.zeros((1, 2), "float32"))
    )
    np.testing.assert_allclose(statistics[0, :, 48:], 0.0)


def test_segment_location_policy_starts_from_the_novelty_prior():
    policy = SegmentLocationPolicy(num_segments=K, attention_size=5)
    novelty = np.log(np.array([[1.0, 2.0, 4.0, 1.0]], "float32"))
    _, _, _, probabilities = policy(
        np.zeros((1, K, 6), "float32"), novelty, np.zeros((1, 12), "float32"), np.zeros((1, K), "float32")
    )
    np.testing.assert_allclose(probabilities, [[1 / 8, 2 / 8, 4 / 8, 1 / 8]], rtol=1e-5)
    without_skim = SegmentLocationPolicy(num_segments=K, attention_size=5, use_skim=False)
    _, _, _, probabilities = without_skim(
        np.zeros((1, K, 6), "float32"), novelty, np.zeros((1, 12), "float32"), np.zeros((1, K), "float32")
    )
    np.testing.assert_allclose(probabilities, 0.25, rtol=1e-6)


def test_segment_location_policy_log_prob_is_the_mixtures():
    policy = SegmentLocationPolicy(num_segments=K, attention_size=5, component_std=0.25)
    features, novelty, state, visited, gumbel, normal = policy_inputs(seed=3)
    policy(features, novelty, state, visited)
    policy.score_vector.assign(rng(4).normal(size=5).astype("float32"))
    location, log_prob, _, probabilities = (
        np.array(value) for value in policy(features, novelty, state, visited, gumbel, normal)
    )
    sigma = 0.25 * 2.0 / K
    centres = np.array(segment_centres(K))
    for row in range(B):
        sample = location[row]  # inside [-1, 1] here, so not clipped
        density = np.sum(
            probabilities[row] * np.exp(-0.5 * ((sample - centres) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        )
        assert log_prob[row] == pytest.approx(np.log(density), rel=1e-4, abs=1e-4)
        assert probabilities[row][visited[row] > 0.5].sum() < 1e-6 or visited[row].all()


def test_segment_location_policy_gradients_come_through_the_log_prob_only():
    policy = SegmentLocationPolicy(num_segments=K, attention_size=5)
    features, novelty, state, visited, gumbel, normal = (tf.constant(value) for value in policy_inputs(seed=5))
    policy(features, novelty, state, visited, gumbel, normal)
    policy.score_vector.assign(np.ones(5, "float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(state)
        location, log_prob, _, _ = policy(features, novelty, state, visited, gumbel, normal)
    assert tape.gradient(location, policy.trainable_weights)[0] is None  # the sample is stop-gradient
    assert tape.gradient(log_prob, state) is None  # the state is stop-gradient
    assert any(np.any(np.array(gradient) != 0) for gradient in tape.gradient(log_prob, policy.trainable_weights))


def test_stop_policy_log_prob_is_bernoulli():
    policy = StopPolicy(initial_probability=0.25)
    state = rng(6).normal(size=(B, 12)).astype("float32")
    uniform = np.array([0.1, 0.3, 0.9, 0.2], "float32")
    stop, probability, log_prob = (
        np.array(value) for value in policy(state, np.full((B, 2), 0.5, "float32"), np.zeros(B, "float32"), uniform)
    )
    np.testing.assert_allclose(probability, 0.25, rtol=1e-6)
    np.testing.assert_array_equal(stop, [1, 0, 0, 1])
    np.testing.assert_allclose(log_prob, np.where(stop > 0.5, np.log(0.25), np.log(0.75)), rtol=1e-5)


def test_stop_policy_rejects_a_bad_initial_probability():
    with pytest.raises(ValueError, match="initial_probability"):
        StopPolicy(initial_probability=1.0)
