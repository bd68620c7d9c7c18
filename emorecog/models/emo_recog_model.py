"""`EmoRecogModel`: recurrent temporal attention over face video + EEG (Wu et al. 2020, section III-IV)."""

import keras

from emorecog.layers.baseline_network import BaselineNetwork
from emorecog.layers.location_network import LocationNetwork, location_to_frame
from emorecog.models.recurrent_emotion_model import RecurrentEmotionModel


@keras.saving.register_keras_serializable(package="emorecog")
class EmoRecogModel(RecurrentEmotionModel):
    """Glimpse a few frames chosen by a learned policy, fuse EEG and face, classify valence/arousal.

    The glimpse loop (a `tf.while_loop`, so it is graph control flow that export can trace):

        f_1 ~ pi(. | s_0)                                    s_0 = zeros: f_1's mean tanh(b) is learned
        for n = 1 .. N_max:
            t_n = round((f_n + 1) / 2 * (T - 1))             glimpse frame t_n of both streams
            s_n = recurrent_step(EEG[t_n], face[t_n], f_n, s_{n-1})
            f_{n+1} ~ pi(. | H'_n)                            LocationNetwork (training: sample; else mean)
            the sample ends if t(f_{n+1}) = T - 1 (the policy chose the last frame) or n = N_max
        p = softmax(W [H'_N ; C'_N] + b)

    The first glimpse is always taken (N >= 1) even if f_1 points at the last frame. The location that
    ends a sample is an action (it gets its log-probability and a baseline, so the policy can learn to
    stop) but is not glimpsed. Inside a batch, a sample that ended keeps its states unchanged (`where`
    on an "active" mask) and its trace entries are -1 / 0; the loop stops as soon as every sample ended.

    Training loss (custom `train_step`):

        R        = lambda_r R' + lambda_sparse N,   R' = lambda_tp if correct else lambda_fp   (eq. 16-17)
        loss     = CE(p, y) - lambda P                                                        (eq. 10)
                 + w_step * mean_n CE(p_n, y)           p_n: the classifier on [H'_n ; C'_n] (ours)
                 - 1/B sum_b sum_n log pi(f_n) (R - stop_gradient(b_n))                         (eq. 15)
                 + mean (R - b_n)^2                                                             (baseline)

    The sums over n run over the actions each sample took (f_1, and one location after each glimpse
    except the N_max-th); P and the per-step CE average over the glimpses taken.

    Randomness (the policy samples) comes from the model's own `keras.random.SeedGenerator(seed)`, drawn
    once per batch as a [B, N_max + 1] standard normal; inference uses the policy mean and contains no
    random op, so the same input always gives the same output and the exported graph is deterministic.

    Args:
        max_glimpses: N_max.
        location_std: sigma of the location policy.
        baseline_hidden_size: hidden layer of the baseline network (0 = linear).
        **kwargs: the shared hyper-parameters of `RecurrentEmotionModel` (see `ModelConfig`).

    Call arguments:
        inputs: dict with eeg float32 [B, T, H, W, 3], face uint8 [B, T, S, S, 3], face_present float32 [B, T].
        training: sample locations and apply dropout.

    Returns:
        A dict: probabilities float32 [B, 2], class_id int64 [B], glimpse_frames int32 [B, N_max] (-1 after
        the sample ended), glimpse_count int32 [B], band_weights float32 [B, N_max, 3] (theta, alpha, beta),
        layer_weights float32 [B, N_max, 2, L] (over the hidden, then the cell states).

    Example:
        >>> model = build_model(ModelConfig(max_glimpses=8), SampleShape(num_frames=64))   # the builder
        >>> outputs = model(inputs)                    # inputs: the dict above, batch B
        >>> outputs["glimpse_frames"].shape
        (B, 8)

    Reference:
        Wu, Zhang, Zhao, "Multimodal fused emotion recognition about expression-EEG interaction and
        collaboration using deep learning", IEEE Access 8, 2020; Mnih et al., NIPS 2014.
    """

    def __init__(self, max_glimpses=40, location_std=0.15, baseline_hidden_size=0, **kwargs):
        super().__init__(**kwargs)
        if int(max_glimpses) < 1:
            raise ValueError(f"EmoRecogModel max_glimpses must be >= 1, got {max_glimpses}")
        self.max_glimpses = int(max_glimpses)
        self.location_std = float(location_std)
        self.baseline_hidden_size = int(baseline_hidden_size)
        self.location_network = LocationNetwork(self.location_std, name="location_network")
        self.baseline_network = BaselineNetwork(self.baseline_hidden_size, name="baseline_network")
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="policy_seed_generator")

    def forward(self, inputs, training=False, with_losses=True):
        import tensorflow as tf

        eeg, face, face_present = self.read_inputs(inputs)
        # Inputs are data, never trained: without this the loop's gradient would build a zero gradient of
        # the whole [B, T, ...] input at every glimpse (the backward pass of `gather`), a cost growing with T.
        eeg, face_present = tf.stop_gradient(eeg), tf.stop_gradient(face_present)
        batch = tf.shape(eeg)[0]
        num_frames = tf.shape(eeg)[1]
        last_frame = num_frames - 1
        max_glimpses = self.max_glimpses
        record_states = with_losses and self.step_classification_weight > 0.0

        noise = keras.random.normal((batch, max_glimpses + 1), seed=self.seed_generator) if training else None

        def policy(state, index):
            """The next location (and, for the loss, its log-probability and the baseline)."""
            step_noise = None if noise is None else tf.gather(noise, index, axis=1)
            location, _, log_prob = self.location_network(state, step_noise)
            baseline = self.baseline_network(state) if with_losses else None
            return location, log_prob, baseline

        def array(dtype):
            return tf.TensorArray(dtype, size=0, dynamic_size=True, clear_after_read=False)

        def freeze_ended(active, new, old):
            """Keep the states of samples that ended (`active` False) unchanged."""
            return tf.where(tf.reshape(active, [-1] + [1] * (new.shape.rank - 1)), new, old)

        summary_hidden, summary_cell, eeg_state, face_state, core_states = self.initial_states(batch)
        location, log_prob, baseline = policy(summary_hidden, 0)
        traces = {"frames": array(tf.int32), "band_weights": array(tf.float32), "layer_weights": array(tf.float32)}
        if record_states:
            traces["states"] = array(tf.float32)
        # Action 0 is f_1; action n + 1 is the location chosen after glimpse n (a glimpse or the stop).
        actions = {}
        if with_losses:
            actions = {"log_probs": array(tf.float32).write(0, log_prob),
                       "baselines": array(tf.float32).write(0, baseline),
                       "mask": array(tf.float32).write(0, tf.ones([batch]))}
        active = tf.ones([batch], tf.bool)
        count = tf.zeros([batch], tf.int32)
        frame = location_to_frame(location, num_frames)

        def body(step, location, frame, active, count, summary_hidden, summary_cell, eeg_state, face_state,
                 core_states, traces, actions):
            eeg_frames = tf.gather(eeg, frame, axis=1, batch_dims=1) if self.use_eeg else eeg[:, 0]
            face_frames = tf.gather(face, frame, axis=1, batch_dims=1) if self.use_face else face[:, 0]
            present = tf.gather(face_present, frame, axis=1, batch_dims=1)
            band_features, face_features = self.glimpse_network.encode(eeg_frames, face_frames)
            new = self.recurrent_step(band_features, face_features, present, location, summary_hidden, eeg_state,
                                      face_state, core_states, training=training)
            new_hidden, new_cell, new_eeg_state, new_face_state, new_core_states, band_weights, layer_weights = new
            summary_hidden = freeze_ended(active, new_hidden, summary_hidden)
            summary_cell = freeze_ended(active, new_cell, summary_cell)
            eeg_state = freeze_ended(active, new_eeg_state, eeg_state)
            face_state = freeze_ended(active, new_face_state, face_state)
            core_states = freeze_ended(active, new_core_states, core_states)
            active_float = tf.cast(active, tf.float32)
            traces = {
                **traces,
                "frames": traces["frames"].write(step, tf.where(active, frame, -1)),
                "band_weights": traces["band_weights"].write(step, band_weights * active_float[:, None]),
                "layer_weights": traces["layer_weights"].write(step, layer_weights * active_float[:, None, None]),
            }
            if record_states:
                # The attended state after each glimpse, for the per-step classification loss.
                traces["states"] = traces["states"].write(step, tf.concat([summary_hidden, summary_cell], axis=-1))
            count = count + tf.cast(active, tf.int32)

            next_location, next_log_prob, next_baseline = policy(summary_hidden, step + 1)
            if with_losses:
                action_float = tf.cast(tf.logical_and(active, step + 1 < max_glimpses), tf.float32)
                actions = {
                    "log_probs": actions["log_probs"].write(step + 1, next_log_prob * action_float),
                    "baselines": actions["baselines"].write(step + 1, next_baseline * action_float),
                    "mask": actions["mask"].write(step + 1, action_float),
                }
            next_frame = location_to_frame(next_location, num_frames)
            next_active = tf.logical_and(active, tf.not_equal(next_frame, last_frame))
            return (step + 1, tf.where(active, next_location, location), tf.where(active, next_frame, frame),
                    next_active, count, summary_hidden, summary_cell, eeg_state, face_state, core_states, traces,
                    actions)

        def loop_condition(step, location, frame, active, *_):
            return tf.logical_and(step < max_glimpses, tf.reduce_any(active))

        loop_vars = (tf.constant(0), location, frame, active, count, summary_hidden, summary_cell, eeg_state,
                     face_state, core_states, traces, actions)
        results = tf.while_loop(loop_condition, body, loop_vars, maximum_iterations=max_glimpses)
        (_, _, _, _, count, summary_hidden, summary_cell, _, _, _, traces, actions) = results

        def batch_major(tensor_array, length, fill, trailing_shape):
            stacked = tensor_array.stack()
            rank = len(trailing_shape) + 2
            stacked = tf.transpose(stacked, [1, 0, *range(2, rank)])
            padding = [[0, 0], [0, length - tf.shape(stacked)[1]]] + [[0, 0]] * len(trailing_shape)
            padded = tf.pad(stacked, padding, constant_values=fill)
            return tf.reshape(padded, [batch, length, *trailing_shape])

        glimpse_frames = batch_major(traces["frames"], max_glimpses, -1, [])
        band_weights = batch_major(traces["band_weights"], max_glimpses, 0.0, [3])
        layer_weights = batch_major(traces["layer_weights"], max_glimpses, 0.0, [2, self.core_layers])
        logits = self.classify(summary_hidden, summary_cell, training=training)
        outputs = self.model_outputs(logits, glimpse_frames, count, band_weights, layer_weights)
        if not with_losses:
            return outputs, {"logits": logits}

        step_mask = tf.cast(glimpse_frames >= 0, tf.float32)
        step_logits = None
        if record_states:
            step_states = batch_major(traces["states"], max_glimpses, 0.0, [2 * self.hidden_size])
            step_logits = self.classify(step_states[..., :self.hidden_size], step_states[..., self.hidden_size:],
                                        training=training)
        internals = {
            "logits": logits,
            "step_logits": step_logits,
            "step_mask": step_mask,
            "penalty": self.layer_penalty(layer_weights, step_mask),
            "glimpse_count": count,
            "action_log_probs": batch_major(actions["log_probs"], max_glimpses + 1, 0.0, []),
            "action_baselines": batch_major(actions["baselines"], max_glimpses + 1, 0.0, []),
            "action_mask": batch_major(actions["mask"], max_glimpses + 1, 0.0, []),
        }
        return outputs, internals

    def get_config(self):
        config = super().get_config()
        config.update({
            "max_glimpses": self.max_glimpses,
            "location_std": self.location_std,
            "baseline_hidden_size": self.baseline_hidden_size,
        })
        return config
