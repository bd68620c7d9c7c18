"""The model contract: config, builder, outputs, masks, losses, gradients, seeds, ablations, save and export."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from emorecog import features
from emorecog.features import SampleShape
from emorecog.layers.location_network import location_to_frame
from emorecog.models import reinforce
from emorecog.models.builder import build_model
from emorecog.models.full_sequence_model import FullSequenceModel
from emorecog.models.glimpse_model import GlimpseModel
from emorecog.models.model_config import ABLATIONS, ModelConfig, ablation_settings
from emorecog.models.skim_only_model import SkimOnlyModel
from emorecog.training.training_config import TrainingConfig

SHAPE = SampleShape(num_frames=16, image_size=8, face_size=16)
SMALL = dict(
    max_glimpses=6,
    hidden_size=16,
    glimpse_hidden_size=8,
    feature_size=16,
    band_feature_size=16,
    face_filters=(4,),
    location_embedding_size=4,
    attention_size=8,
    policy_segments=4,
    skim_size=8,
    policy_samples=2,
)
BAND_MEAN, BAND_STD = (1.0, 2.0, 3.0), (1.0, 0.5, 2.0)


def make_inputs(batch=4, seed=0, shape=SHAPE):
    generator = np.random.default_rng(seed)
    return {
        features.EEG_KEY: (
            np.asarray(BAND_MEAN) + np.asarray(BAND_STD) * generator.normal(size=(batch, *shape.eeg_shape))
        ).astype("float32"),
        features.FACE_KEY: generator.integers(0, 256, size=(batch, *shape.face_shape)).astype("uint8"),
        features.FACE_PRESENT_KEY: (generator.random((batch, shape.num_frames)) > 0.2).astype("float32"),
    }


def make_model(ablation="full", **overrides):
    small = {key: value for key, value in SMALL.items() if key not in ablation_settings(ablation)}
    return build_model(ModelConfig.for_ablation(ablation, **{**small, **overrides}), SHAPE, BAND_MEAN, BAND_STD)


@pytest.fixture(scope="module")
def glimpse_model():
    return make_model()


@pytest.fixture(scope="module")
def inputs():
    return make_inputs()


def force_stop_after_first_glimpse(model):
    """The paper's policy: mu = tanh(10) ~ 1 whatever the state: f_1 -> the last frame, and the next location
    ends the sample (`stop_rule="last_frame"`)."""
    model.location_network.mean_projection.kernel.assign(np.zeros_like(model.location_network.mean_projection.kernel))
    model.location_network.mean_projection.bias.assign([10.0])


def force_stop_policy(model, logit):
    """A learned stop policy whose logit is `logit` whatever the state."""
    model.stop_policy.stop_logit.kernel.assign(np.zeros_like(model.stop_policy.stop_logit.kernel))
    model.stop_policy.stop_logit.bias.assign([logit])


# ------------------------------------------------------------------------------------------------ config
def test_model_config_defaults_are_the_papers():
    config = ModelConfig()
    assert (
        TrainingConfig().batch_size,
        config.dropout,
        config.max_glimpses,
        config.core_layers,
        config.penalty_weight,
    ) == (12, 0.6, 40, 3, 1.0)
    assert config.variant == "glimpse" and config.use_eeg and config.use_face and config.use_layer_attention
    assert config.reward_correct > 0 > config.reward_wrong and config.sparsity_weight < 0 < config.reward_scale


def test_model_config_json_round_trip():
    config = ModelConfig.for_ablation("eeg_only", core_layers=5, face_filters=[8, 8], seed=7)
    text = json.dumps(config.to_dict())
    assert ModelConfig.from_dict(json.loads(text)) == config
    assert ModelConfig.from_dict(json.loads(text)).face_filters == (8, 8)


@pytest.mark.parametrize(
    "name, field, value",
    [
        ("no_layer_attention", "use_layer_attention", False),
        ("no_penalty", "penalty_weight", 0.0),
        ("full_sequence", "variant", "full_sequence"),
        ("eeg_only", "use_face", False),
        ("face_only", "use_eeg", False),
    ],
)
def test_model_config_ablations_set_their_field(name, field, value):
    config = ModelConfig.for_ablation(name)
    assert getattr(config, field) == value and config.ablation == name


def test_model_config_rejects_bad_values_with_names():
    with pytest.raises(ValueError, match="unknown ablation"):
        ModelConfig.for_ablation("no_such_thing")
    with pytest.raises(ValueError, match="clash"):
        ModelConfig.for_ablation("eeg_only", use_face=True)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.5)
    with pytest.raises(ValueError, match="read nothing"):
        ModelConfig(use_eeg=False, use_face=False)
    with pytest.raises(ValueError, match="core_layers"):
        ModelConfig(core_layers=0)
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({"hidden": 3})


# ------------------------------------------------------------------------------------------------ outputs
def test_glimpse_model_outputs_follow_the_contract(glimpse_model, inputs):
    outputs = glimpse_model(inputs, training=False)
    expected = {
        "probabilities": ((4, 2), tf.float32),
        "class_id": ((4,), tf.int64),
        "glimpse_frames": ((4, 6), tf.int32),
        "glimpse_count": ((4,), tf.int32),
        "band_weights": ((4, 6, 3), tf.float32),
        "layer_weights": ((4, 6, 2, 3), tf.float32),
    }
    assert {key: (tuple(value.shape), value.dtype) for key, value in outputs.items()} == expected
    np.testing.assert_allclose(np.sum(outputs["probabilities"], axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(outputs["class_id"], np.argmax(outputs["probabilities"], axis=-1))
    frames = np.array(outputs["glimpse_frames"])
    counts = np.array(outputs["glimpse_count"])
    for sample in range(4):
        assert np.all(frames[sample, : counts[sample]] >= 0) and np.all(frames[sample, counts[sample] :] == -1)
        assert np.all(frames[sample] < SHAPE.num_frames)
        taken = outputs["band_weights"][sample, : counts[sample]]
        np.testing.assert_allclose(np.sum(taken, axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(np.sum(outputs["layer_weights"][sample, : counts[sample]], axis=-1), 1.0, rtol=1e-5)


def test_glimpse_model_is_compiled_with_clipped_adam(glimpse_model):
    assert isinstance(glimpse_model, GlimpseModel) and glimpse_model.built
    assert isinstance(glimpse_model.optimizer, keras.optimizers.Adam)
    assert glimpse_model.optimizer.clipnorm == TrainingConfig().gradient_clip_norm


def test_glimpse_model_gathers_the_frame_at_the_location(glimpse_model, inputs):
    trial_of_episode = np.array([0, 1, 2, 3, 2, 0], "int32")
    frames = np.array([0, 15, 7, 3, 9, 15], "int32")
    eeg, face, present = (
        np.array(value)
        for value in glimpse_model.glimpsed_frames(
            inputs[features.EEG_KEY],
            inputs[features.FACE_KEY],
            inputs[features.FACE_PRESENT_KEY],
            trial_of_episode,
            frames,
        )
    )
    np.testing.assert_array_equal(eeg, inputs[features.EEG_KEY][trial_of_episode, frames])
    np.testing.assert_array_equal(face, inputs[features.FACE_KEY][trial_of_episode, frames])
    np.testing.assert_array_equal(present, inputs[features.FACE_PRESENT_KEY][trial_of_episode, frames])


def test_full_sequence_model_reads_every_frame():
    model = make_model("full_sequence")
    assert isinstance(model, FullSequenceModel)
    outputs = model(make_inputs(batch=3), training=False)
    T = SHAPE.num_frames
    np.testing.assert_array_equal(outputs["glimpse_frames"], np.tile(np.arange(T), (3, 1)))
    np.testing.assert_array_equal(outputs["glimpse_count"], [T] * 3)
    assert tuple(outputs["band_weights"].shape) == (3, T, 3)
    assert tuple(outputs["layer_weights"].shape) == (3, T, 2, 3)


def test_full_sequence_chunked_encoding_equals_one_chunk():
    model = make_model("full_sequence")
    data = make_inputs(batch=2)
    reference = model(data, training=False)["probabilities"]
    model.encoder_chunk_frames = 5  # 16 frames -> 4 chunks, the last one padded
    np.testing.assert_allclose(model(data, training=False)["probabilities"], reference, rtol=1e-5, atol=1e-6)


def test_model_reports_bad_inputs_by_name(glimpse_model, inputs):
    with pytest.raises(ValueError, match="face_present"):
        glimpse_model({key: value for key, value in inputs.items() if key != features.FACE_PRESENT_KEY})
    with pytest.raises(ValueError, match="'eeg'"):
        glimpse_model({**inputs, features.EEG_KEY: inputs[features.EEG_KEY][:, 0]})
    with pytest.raises(ValueError, match="number of frames"):
        glimpse_model({**inputs, features.FACE_PRESENT_KEY: inputs[features.FACE_PRESENT_KEY][:, :5]})


def test_model_without_any_face_gives_finite_outputs(glimpse_model, inputs):
    no_face = {
        **inputs,
        features.FACE_PRESENT_KEY: np.zeros_like(inputs[features.FACE_PRESENT_KEY]),
        features.FACE_KEY: np.zeros_like(inputs[features.FACE_KEY]),
    }
    for training in (False, True):
        outputs = glimpse_model(no_face, training=training)
        assert all(np.all(np.isfinite(np.array(value, dtype="float64"))) for value in outputs.values())


# ------------------------------------------------------------------------------- determinism and masks
def test_inference_is_deterministic_and_training_samples(inputs):
    model = make_model()
    first = model(inputs, training=False)
    second = model(inputs, training=False)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    sampled = [np.array(model(inputs, training=True)["glimpse_frames"]) for _ in range(3)]
    assert any(not np.array_equal(sampled[0], other) for other in sampled[1:])


def test_inference_stops_when_the_policy_chooses_the_last_frame(inputs):
    model = make_model("paper_policy")
    force_stop_after_first_glimpse(model)
    outputs = model(inputs, training=False)
    np.testing.assert_array_equal(outputs["glimpse_count"], [1] * 4)
    np.testing.assert_array_equal(outputs["glimpse_frames"][:, 0], [SHAPE.num_frames - 1] * 4)
    np.testing.assert_array_equal(outputs["glimpse_frames"][:, 1:], -1)
    np.testing.assert_array_equal(outputs["band_weights"][:, 1:], 0.0)
    # Actions of the deterministic run: f_1 and the stop, nothing after.
    _, internals = model.forward(inputs, training=False)
    np.testing.assert_array_equal(np.array(internals["action_mask"]).sum(axis=1), [2] * 4)


def mixed_batch_model():
    """A model and a batch in which a saturated stop policy ends samples after different numbers of glimpses.

    The samples differ strongly (EEG offsets, faces missing in half), the stop policy reads only the state
    through a large kernel, and its bias is searched for a value where some samples stop early and others
    do not.
    """
    model = make_model(seed=0)
    data = make_inputs(batch=6, seed=0)
    data[features.EEG_KEY] = data[features.EEG_KEY] + (
        np.linspace(-3, 3, 6)[:, None, None, None, None] * np.asarray(BAND_STD)
    ).astype("float32")
    data[features.FACE_PRESENT_KEY][:3] = 0
    stop_logit = model.stop_policy.stop_logit
    kernel = np.random.default_rng(0).normal(size=stop_logit.kernel.shape).astype("float32") * 30.0
    kernel[SMALL["hidden_size"] :] = 0.0  # not the class probabilities nor the budget: they move every sample alike
    stop_logit.kernel.assign(kernel)
    for bias in np.linspace(-4.0, 4.0, 33):
        stop_logit.bias.assign([bias])
        counts = np.array(model(data, training=False)["glimpse_count"])
        if counts.min() < model.max_glimpses and len(set(counts.tolist())) >= 3:
            return model, data
    raise AssertionError("no stop bias gave a batch whose samples end at different steps")


def test_samples_that_end_early_stop_changing_in_a_mixed_batch():
    model, data = mixed_batch_model()
    batch_outputs = model(data, training=False)
    for sample in range(6):
        alone = model({key: value[sample : sample + 1] for key, value in data.items()}, training=False)
        for key in batch_outputs:
            np.testing.assert_allclose(
                np.array(batch_outputs[key][sample]),
                np.array(alone[key][0]),
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"{key} of sample {sample}",
            )


def test_action_masks_count_the_actions_each_sample_took():
    model, data = mixed_batch_model()
    outputs, internals = model.forward(data, training=True)
    counts = np.array(outputs["glimpse_count"])
    mask = np.array(internals["action_mask"])
    assert mask.shape == (6 * model.policy_samples, model.max_glimpses)  # policy_samples episodes per trial
    # f_1, then one action after each glimpse except the last possible one.
    np.testing.assert_array_equal(mask.sum(axis=1), np.minimum(counts + 1, model.max_glimpses))
    assert np.all(np.array(internals["action_log_probs"])[mask == 0] == 0)
    step_mask = np.array(outputs["glimpse_frames"]) >= 0
    np.testing.assert_array_equal(step_mask.sum(axis=1), counts)


# ------------------------------------------------------------------------------------------------ losses
def test_episode_reward_is_equation_17():
    reward = reinforce.episode_reward(
        np.array([True, False]),
        np.array([3, 10]),
        reward_scale=2.0,
        reward_correct=1.0,
        reward_wrong=-3.0,
        sparsity_weight=-0.1,
    )
    np.testing.assert_allclose(reward, [2.0 * 1.0 - 0.3, 2.0 * -3.0 - 1.0], rtol=1e-6)


def test_reinforce_loss_matches_a_hand_computed_value():
    log_probs = np.array([[-1.0, -2.0, -0.5], [-0.2, -0.4, -9.0]], "float32")
    baselines = np.array([[0.5, 0.0, 1.0], [0.1, 0.3, 7.0]], "float32")
    rewards = np.array([1.0, -1.0], "float32")
    mask = np.array([[1, 1, 1], [1, 1, 0]], "float32")
    # sample 0: -1*(1-0.5) + -2*(1-0) + -0.5*(1-1) = -2.5; sample 1: -0.2*(-1.1) + -0.4*(-1.3) = 0.74
    expected = -((-2.5) + 0.74) / 2.0
    assert float(reinforce.reinforce_loss(log_probs, baselines, rewards, mask)) == pytest.approx(expected, rel=1e-6)
    # baseline MSE over the 5 actions taken
    squared = [0.25, 1.0, 0.0, 1.21, 1.69]
    assert float(reinforce.baseline_loss(baselines, rewards, mask)) == pytest.approx(sum(squared) / 5, rel=1e-6)


def test_reinforce_gradient_does_not_reach_the_baseline():
    baselines = tf.Variable([[0.5, 0.2]])
    log_probs = tf.Variable([[-1.0, -2.0]])
    with tf.GradientTape(persistent=True) as tape:
        loss = reinforce.reinforce_loss(log_probs, baselines, tf.constant([1.0]), tf.constant([[1.0, 1.0]]))
    assert tape.gradient(loss, baselines) is None
    np.testing.assert_allclose(tape.gradient(loss, log_probs), [[-0.5, -0.8]], rtol=1e-6)


def gradients_by_loss_term(model, data, labels):
    with tf.GradientTape(persistent=True) as tape:
        _, internals = model.forward(data, training=True)
        losses = model.loss_terms(internals, labels)
    terms = ("classification_loss", "penalty", "reinforce_loss", "baseline_loss", "policy_entropy")
    layers = (
        "location_network",
        "stop_policy",
        "trial_skim",
        "baseline_network",
        "classifier",
        "glimpse_encoder",
        "glimpse_fusion",
    )
    return {
        term: {layer: tape.gradient(losses[term], getattr(model, layer).trainable_weights) for layer in layers}
        for term in terms
    }


def nonzero(gradients):
    return any(gradient is not None and np.any(np.array(gradient) != 0) for gradient in gradients)


def test_policies_and_skim_learn_only_from_the_policy_gradient(inputs):
    model = make_model(seed=1)
    # A score vector away from zero, so that the gradient reaches the skim through the segment scores.
    model.location_network.score_vector.assign(np.ones_like(model.location_network.score_vector))
    gradients = gradients_by_loss_term(model, inputs, np.array([0, 1, 1, 0]))
    for layer in ("location_network", "stop_policy", "trial_skim"):
        assert nonzero(gradients["reinforce_loss"][layer]), f"REINFORCE did not reach {layer}"
        for term in ("classification_loss", "penalty", "baseline_loss"):
            assert not nonzero(gradients[term][layer]), f"{term} reached {layer}"
    # The entropy bonus regularises the segment choice only.
    assert nonzero(gradients["policy_entropy"]["location_network"])
    assert not nonzero(gradients["policy_entropy"]["stop_policy"])
    # The classifier's loss reaches the glimpse network (through features) but not the policy: the
    # sampled locations are stop-gradient.
    assert nonzero(gradients["classification_loss"]["glimpse_encoder"])
    assert nonzero(gradients["classification_loss"]["glimpse_fusion"])
    assert nonzero(gradients["baseline_loss"]["baseline_network"])
    for term in ("classification_loss", "penalty", "reinforce_loss", "policy_entropy"):
        assert not nonzero(gradients[term]["baseline_network"]), f"{term} reached the baseline network"
    assert not nonzero(gradients["reinforce_loss"]["classifier"])


def test_penalty_is_zero_without_layer_attention(inputs):
    model = make_model("no_layer_attention")
    _, internals = model.forward(inputs, training=True)
    np.testing.assert_array_equal(internals["penalty"], 0.0)
    layer_weights = np.array(model(inputs)["layer_weights"])[:, 0]
    np.testing.assert_array_equal(layer_weights, np.tile([0.0, 0.0, 1.0], (4, 2, 1)))


def test_fit_reports_every_named_metric(inputs):
    model = make_model()
    history = model.fit(inputs, np.array([0, 1, 1, 0]), batch_size=4, epochs=1, verbose=0).history
    assert set(history) == {
        "loss",
        "classification_loss",
        "penalty",
        "reinforce_loss",
        "baseline_loss",
        "policy_entropy",
        "reward",
        "glimpses",
        "accuracy",
    }
    assert all(np.isfinite(values[0]) for values in history.values())
    evaluation = model.evaluate(inputs, np.array([0, 1, 1, 0]), verbose=0, return_dict=True)
    assert evaluation["reinforce_loss"] == 0.0 and set(evaluation) == set(history)


# ------------------------------------------------------------------------------------------------- seeds
def train_briefly(seed):
    model = make_model(seed=seed)
    data = make_inputs(batch=8, seed=11)
    history = model.fit(data, np.arange(8) % 2, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    return [np.array(weight) for weight in model.weights], history


def test_same_seed_same_training_run():
    weights_a, history_a = train_briefly(seed=5)
    weights_b, history_b = train_briefly(seed=5)
    assert history_a == history_b
    for weight_a, weight_b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(weight_a, weight_b)
    weights_c, _ = train_briefly(seed=6)
    assert any(not np.array_equal(a, c) for a, c in zip(weights_a, weights_c))


# ---------------------------------------------------------------------------------------------- ablations
@pytest.mark.parametrize(
    "ablation, overrides",
    [(name, {}) for name in ABLATIONS] + [("full", {"core_layers": 1}), ("full", {"core_layers": 5})],
)
def test_every_ablation_builds_and_takes_a_fit_step(ablation, overrides):
    model = make_model(ablation, **overrides)
    data = make_inputs(batch=4, seed=3)
    before = [np.array(weight) for weight in model.trainable_weights]
    history = model.fit(data, np.array([0, 1, 0, 1]), batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert any(not np.allclose(old, np.array(new)) for old, new in zip(before, model.trainable_weights))
    layers = 1 if ablation == "skim_only" else overrides.get("core_layers", 3)
    assert model(data)["layer_weights"].shape[-1] == layers


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_every_ablation_answers_a_batch_of_one_in_a_traced_function(ablation):
    """The evaluator's first batch can hold a single trial (a split of one): its traced loop then sees a
    static batch size of 1, which every loop variable must keep."""
    from emorecog.evaluation.model_outputs import inference_function

    model = make_model(ablation)
    outputs = inference_function(model)(make_inputs(batch=1, seed=4))
    assert outputs["probabilities"].shape == (1, 2)
    np.testing.assert_allclose(np.sum(outputs["probabilities"], axis=-1), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------------------------ save / export
@pytest.mark.parametrize("ablation", ["full", "full_sequence", "skim_only", "paper_policy"])
def test_keras_file_round_trip_gives_equal_outputs(tmp_path, ablation):
    model = make_model(ablation)
    data = make_inputs(batch=3, seed=4)
    model.fit(data, np.array([0, 1, 1]), batch_size=3, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model) and reloaded.get_config() == model.get_config()
    expected, actual = model(data), reloaded(data)
    for key in expected:
        np.testing.assert_allclose(np.array(actual[key]), np.array(expected[key]), rtol=1e-6, atol=1e-6)


def test_weights_checkpoint_round_trip(tmp_path, inputs):
    model = make_model(seed=2)
    model.fit(inputs, np.array([0, 1, 1, 0]), batch_size=4, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "checkpoint.weights.h5")
    model.save_weights(path)
    fresh = make_model(seed=9)
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh(inputs)["probabilities"], model(inputs)["probabilities"])


def saved_model_op_types(export_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    graph = saved_model.meta_graphs[0].graph_def
    return {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def
    }


@pytest.mark.parametrize("ablation", ["full", "full_sequence", "skim_only"])
def test_export_archive_serves_equal_outputs_without_random_ops(tmp_path, ablation):
    model = make_model(ablation)
    data = make_inputs(batch=2, seed=8)
    specs = features.serving_input_signature(SHAPE)

    def serve(eeg, face, face_present):
        return model(
            {features.EEG_KEY: eeg, features.FACE_KEY: face, features.FACE_PRESENT_KEY: face_present}, training=False
        )

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default", fn=serve, input_signature=[specs[key] for key in features.MODEL_INPUT_KEYS]
    )
    export_dir = os.path.join(tmp_path, "saved_model")
    archive.write_out(export_dir, verbose=False)

    loaded = tf.saved_model.load(export_dir)
    signature = loaded.signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == set(features.MODEL_INPUT_KEYS)
    served = signature(**{key: tf.constant(value) for key, value in data.items()})
    expected = model(data, training=False)
    for key in expected:
        np.testing.assert_allclose(np.array(served[key]), np.array(expected[key]), rtol=1e-5, atol=1e-6)
    random_ops = sorted(op for op in saved_model_op_types(export_dir) if "Random" in op or "Cudnn" in op)
    assert random_ops == []


def test_call_traces_without_autograph(glimpse_model, inputs):
    specs = features.serving_input_signature(SHAPE)
    function = tf.function(lambda data: glimpse_model(data, training=False), autograph=False)
    concrete = function.get_concrete_function(specs)
    outputs = concrete({key: tf.constant(value) for key, value in inputs.items()})
    np.testing.assert_allclose(outputs["probabilities"], glimpse_model(inputs)["probabilities"], rtol=1e-5)


def test_locations_map_to_frames_like_the_model_glimpses(inputs):
    model = make_model("paper_policy")
    force_stop_after_first_glimpse(model)
    expected_first = int(location_to_frame(np.array([np.tanh(10.0)], "float32"), SHAPE.num_frames)[0])
    assert int(model(inputs)["glimpse_frames"][0, 0]) == expected_first


# ------------------------------------------------------------------------------------ search and stopping
def segments_of(frames, num_segments=4, num_frames=SHAPE.num_frames):
    return np.minimum(np.floor(np.asarray(frames) / (num_frames - 1) * num_segments), num_segments - 1).astype(int)


def test_stop_action_has_nonzero_probability_at_initialisation():
    model = make_model()
    state = np.random.default_rng(0).normal(size=(5, SMALL["hidden_size"])).astype("float32")
    _, probability, _ = model.stop_policy(state, np.full((5, 2), 0.5, "float32"), np.zeros(5, "float32"))
    np.testing.assert_allclose(probability, ModelConfig().initial_stop_probability, rtol=1e-6)
    outputs, _ = model.forward(make_inputs(batch=16, seed=5), training=True)
    counts = np.array(outputs["glimpse_count"])
    assert counts.min() >= 1 and counts.min() < model.max_glimpses, counts


def test_learned_stop_can_end_after_the_first_glimpse(inputs):
    model = make_model()
    force_stop_policy(model, 10.0)
    for training in (False, True):
        outputs = model(inputs, training=training)
        np.testing.assert_array_equal(outputs["glimpse_count"], [1] * 4)
        np.testing.assert_array_equal(np.array(outputs["glimpse_frames"])[:, 1:], -1)
    force_stop_policy(model, -10.0)
    np.testing.assert_array_equal(model(inputs)["glimpse_count"], [model.max_glimpses] * 4)


def test_inference_stops_at_the_median_of_the_stopping_time(inputs):
    """q = 0.3 per glimpse: P(not stopped after n) = 0.7^n drops to <= 1/2 at n = 2."""
    model = make_model()
    force_stop_policy(model, float(np.log(0.3 / 0.7)))
    np.testing.assert_array_equal(model(inputs)["glimpse_count"], [2] * 4)


def test_first_glimpse_can_land_anywhere_in_the_trial():
    model = make_model()
    segment_features = np.zeros((3, 4, SMALL["skim_size"]), "float32")
    _, _, entropy, probabilities = model.location_network(
        segment_features,
        np.zeros((3, 4), "float32"),
        np.zeros((3, SMALL["hidden_size"]), "float32"),
        np.zeros((3, 4), "float32"),
    )
    np.testing.assert_allclose(probabilities, 0.25, rtol=1e-6)  # a trial in which nothing stands out
    np.testing.assert_allclose(entropy, np.log(4.0), rtol=1e-6)
    data = make_inputs(batch=16, seed=6)
    first = np.concatenate([np.array(model(data, training=True)["glimpse_frames"])[:, 0] for _ in range(3)])
    assert set(segments_of(first).tolist()) == {0, 1, 2, 3}, first


def test_visited_segments_are_masked():
    model = make_model()
    policy = model.location_network
    segment_features = np.random.default_rng(1).normal(size=(2, 4, SMALL["skim_size"])).astype("float32")
    novelty = np.random.default_rng(2).normal(size=(2, 4)).astype("float32")
    state = np.zeros((2, SMALL["hidden_size"]), "float32")
    visited = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], "float32")
    location, _, _, probabilities = policy(segment_features, novelty, state, visited)
    np.testing.assert_allclose(np.array(probabilities)[0], [0, 0, 1, 0], atol=1e-7)
    assert np.all(np.array(probabilities)[1] > 0)  # every segment seen: a new pass over all of them
    assert segments_of(location_to_frame(location, SHAPE.num_frames))[0] == 2
    # In the model, the deterministic search visits K different segments before it revisits one.
    force_stop_policy(model, -10.0)
    frames = np.array(model(make_inputs(batch=3, seed=2))["glimpse_frames"])
    for row in frames:
        assert len(set(segments_of(row[:4]).tolist())) == 4, row


def test_uniform_glimpses_read_evenly_spaced_frames(glimpse_model, inputs):
    outputs, _ = glimpse_model.forward(inputs, training=False, with_losses=False, uniform_glimpses=4)
    expected = location_to_frame(np.array([-0.75, -0.25, 0.25, 0.75], "float32"), SHAPE.num_frames)
    np.testing.assert_array_equal(np.array(outputs["glimpse_frames"])[:, :4], np.tile(expected, (4, 1)))
    np.testing.assert_array_equal(outputs["glimpse_count"], [4] * 4)
    with pytest.raises(ValueError, match="uniform_glimpses"):
        glimpse_model.forward(inputs, with_losses=False, uniform_glimpses=SMALL["max_glimpses"] + 1)


def test_skim_only_model_classifies_without_glimpses(inputs):
    model = make_model("skim_only")
    assert isinstance(model, SkimOnlyModel)
    outputs = model(inputs)
    np.testing.assert_array_equal(outputs["glimpse_count"], [0] * 4)
    np.testing.assert_array_equal(outputs["glimpse_frames"], -1)
    history = model.fit(inputs, np.array([0, 1, 1, 0]), batch_size=4, epochs=1, verbose=0).history
    assert history["reinforce_loss"] == [0.0] and np.isfinite(history["loss"][0])


def test_action_rewards_and_returns_match_hand_computed_values():
    # Episode 0: 2 glimpses then a stop (actions 0, 1, 2); episode 1: 3 glimpses = N_max (actions 0, 1, 2).
    outcome = np.array([1.0, -1.0], "float32")
    confidence = np.array([[-0.7, -0.5, -0.1, 0.0], [-0.7, -0.9, -0.6, -0.2]], "float32")
    glimpse_mask = np.array([[1, 1, 0], [1, 1, 1]], "float32")
    rewards = reinforce.action_rewards(
        outcome, confidence, glimpse_mask, np.array([2, 3]), sparsity_weight=-0.1, confidence_reward_weight=2.0
    )
    expected = np.array(
        [[-0.1 + 2 * 0.2, -0.1 + 2 * 0.4, 1.0], [-0.1 - 2 * 0.2, -0.1 + 2 * 0.3, -0.1 + 2 * 0.4 - 1.0]], "float32"
    )
    np.testing.assert_allclose(rewards, expected, rtol=1e-5, atol=1e-6)
    returns = reinforce.discounted_returns(expected, 0.5)
    np.testing.assert_allclose(
        returns[0],
        [
            expected[0, 0] + 0.5 * expected[0, 1] + 0.25 * expected[0, 2],
            expected[0, 1] + 0.5 * expected[0, 2],
            expected[0, 2],
        ],
        rtol=1e-5,
    )
    # Undiscounted and without shaping, every action's return-to-go ends in the paper's outcome R'.
    paper = reinforce.action_rewards(
        outcome, confidence, glimpse_mask, np.array([2, 3]), sparsity_weight=-0.1, confidence_reward_weight=0.0
    )
    np.testing.assert_allclose(
        np.array(reinforce.discounted_returns(paper, 1.0))[:, 0],
        reinforce.episode_reward(outcome > 0, np.array([2, 3]), 1.0, 1.0, -1.0, -0.1),
        rtol=1e-5,
    )
