"""`GlimpseModel`: recurrent temporal attention over face video + EEG (Wu et al. 2020, section III-IV)."""

import keras

from emorecog.layers.baseline_network import BaselineNetwork
from emorecog.layers.location_network import LocationNetwork, location_to_frame
from emorecog.layers.segment_location_policy import SegmentLocationPolicy
from emorecog.layers.stop_policy import StopPolicy
from emorecog.layers.trial_skim import TrialSkim, segment_of_frames
from emorecog.models import reinforce
from emorecog.models.model_config import LOCATION_POLICIES, POLICY_CONTEXTS, STOP_RULES
from emorecog.models.recurrent_model_base import RecurrentModelBase, RecurrentState


def uniform_locations(count):
    """Locations of `count` evenly spaced glimpses: the centres of `count` equal parts of [-1, 1]."""
    return [(2.0 * index + 1.0) / count - 1.0 for index in range(count)]


@keras.saving.register_keras_serializable(package="emorecog")
class GlimpseModel(RecurrentModelBase):
    """Skim the trial, glimpse a few frames chosen by a learned policy, stop when enough is seen, classify.

    The loop (a `tf.while_loop`, so it is graph control flow that export can trace), per trial:

        s, nu    = TrialSkim(EEG, face)                   every frame read once, coarsely (policy_context "skim"):
                                                           segment features s_1..s_K and novelties nu_1..nu_K
        f_1 ~ pi(. | s, nu, 0, visited = {})               SegmentLocationPolicy: a mixture over K segments
        for n = 1 .. N_max:
            t_n = round((f_n + 1) / 2 * (T - 1))           glimpse frame t_n of both streams
            H'_n, C'_n = recurrent_step(GlimpseEncoder(EEG[t_n], face[t_n]), f_n, state_{n-1})
            visited <- visited + segment(t_n)
            stop_n ~ Bernoulli(q(H'_n, p_n, n / N_max))    StopPolicy ("enough seen"), p_n = classifier(H'_n)
            if stop_n or n = N_max: end
            f_{n+1} ~ pi(. | s, nu, H'_n, visited)
        p = softmax(W [H'_N ; C'_N] + b)                  the classifier reads the glimpses only

    Training samples the actions (Gumbel-max, Normal and uniform draws from the model's own
    `keras.random.SeedGenerator`); inference is deterministic and contains no random op (the most probable
    segment's centre; stop at the median of the stopping time, see `StopPolicy`), so the exported graph
    always answers the same. Each trial of a
    training batch is run as `policy_samples` episodes (independent glimpse paths), which multiplies the
    policy's learning signal per batch; inference runs one.

    Policies (`location_policy`): "segments" (above), "gaussian" (the paper's: f ~ Normal(tanh(W H' + b),
    sigma), `LocationNetwork`) or "uniform" (no policy: glimpses at `max_glimpses` evenly spaced frames).
    `policy_context` "none" scores segments without the skim (learned position embeddings); `stop_rule`
    "last_frame" is the paper's: a location that maps to frame T - 1 ends the sample.

    Training loss (custom `train_step`, see `EmotionModelBase` and `models.reinforce`):

        loss = CE(p, y) + w_step mean_n CE(p_n, y) - lambda P                          (eq. 10, ours: w_step)
             - 1/E sum_e sum_a log pi(a) (G_a - stop_gradient(b_a))                     (eq. 15)
             + mean (G_a - b_a)^2 - beta H(pi_location)
        G_a  = sum_{b >= a} gamma^(b - a) r_b,   r: the paper's R (eq. 16-17, judged on the deterministic
               prediction) spread over the actions, plus confidence shaping lambda_c (Phi_{a+1} - Phi_a)

    Args:
        max_glimpses: N_max.
        location_policy: "segments", "gaussian" or "uniform".
        policy_context: "skim" or "none".
        stop_rule: "learned" or "last_frame".
        policy_segments: K, segments of the trial the location policy chooses among.
        segment_location_std: sigma of each segment's Normal, as a fraction of the segment's width.
        location_std: sigma of the "gaussian" policy, in location units.
        initial_stop_probability: the untrained stop policy's probability of stopping after a glimpse.
        skim_size, skim_grid_size, skim_kernel_size: the `TrialSkim`'s sizes.
        policy_samples: episodes per trial in training.
        entropy_weight: beta, the bonus on the entropy of the segment choice.
        reward_scale, reward_correct, reward_wrong, sparsity_weight: lambda_r, lambda_tp, lambda_fp,
            lambda_sparse of eq. 16-17.
        confidence_reward_weight: lambda_c (0 = the paper's reward).
        reward_discount: gamma (1 = the paper's undiscounted reward).
        baseline_hidden_size: hidden layer of the baseline network (0 = linear).
        **kwargs: `RecurrentModelBase`'s arguments.

    Call arguments:
        inputs: dict with eeg float32 [B, T, H, W, 3], face uint8 [B, T, S, S, 3], face_present float32 [B, T].
        training: sample the actions and apply dropout.

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
        collaboration using deep learning", IEEE Access 8, 2020; Mnih et al., NIPS 2014; Yeung et al.,
        CVPR 2016; Wu et al. (AdaFrame), CVPR 2019.
    """

    def __init__(
        self,
        max_glimpses,
        location_policy,
        policy_context,
        stop_rule,
        policy_segments,
        segment_location_std,
        location_std,
        initial_stop_probability,
        skim_size,
        skim_grid_size,
        skim_kernel_size,
        policy_samples,
        entropy_weight,
        reward_scale,
        reward_correct,
        reward_wrong,
        sparsity_weight,
        confidence_reward_weight,
        reward_discount,
        baseline_hidden_size,
        **kwargs,
    ):
        super().__init__(**kwargs)
        problems = []
        if int(max_glimpses) < 1:
            problems.append(f"max_glimpses must be >= 1, got {max_glimpses}")
        for name, value, allowed in (
            ("location_policy", location_policy, LOCATION_POLICIES),
            ("policy_context", policy_context, POLICY_CONTEXTS),
            ("stop_rule", stop_rule, STOP_RULES),
        ):
            if value not in allowed:
                problems.append(f"{name} {value!r} is not one of {allowed}")
        if int(policy_samples) < 1:
            problems.append(f"policy_samples must be >= 1, got {policy_samples}")
        if problems:
            raise ValueError("GlimpseModel: " + "; ".join(problems))
        self.max_glimpses = int(max_glimpses)
        self.location_policy = str(location_policy)
        self.policy_context = str(policy_context)
        self.stop_rule = str(stop_rule)
        self.policy_segments = int(policy_segments)
        self.segment_location_std = float(segment_location_std)
        self.location_std = float(location_std)
        self.initial_stop_probability = float(initial_stop_probability)
        self.skim_size = int(skim_size)
        self.skim_grid_size = int(skim_grid_size)
        self.skim_kernel_size = int(skim_kernel_size)
        self.policy_samples = int(policy_samples)
        self.entropy_weight = float(entropy_weight)
        self.reward_scale = float(reward_scale)
        self.reward_correct = float(reward_correct)
        self.reward_wrong = float(reward_wrong)
        self.sparsity_weight = float(sparsity_weight)
        self.confidence_reward_weight = float(confidence_reward_weight)
        self.reward_discount = float(reward_discount)
        self.baseline_hidden_size = int(baseline_hidden_size)

        searches = self.location_policy == "segments"
        self.trial_skim = (
            TrialSkim(
                self.skim_size,
                self.policy_segments,
                self.skim_grid_size,
                self.skim_kernel_size,
                use_eeg=self.use_eeg,
                use_face=self.use_face,
                band_mean=self.band_mean,
                band_std=self.band_std,
                name="trial_skim",
            )
            if searches and self.policy_context == "skim"
            else None
        )
        if searches:
            self.location_network = SegmentLocationPolicy(
                self.policy_segments,
                self.attention_size,
                self.segment_location_std,
                use_skim=self.trial_skim is not None,
                name="location_network",
            )
        elif self.location_policy == "gaussian":
            self.location_network = LocationNetwork(self.location_std, name="location_network")
        else:
            self.location_network = None
        learns = self.location_network is not None
        self.stop_policy = (
            StopPolicy(self.initial_stop_probability, name="stop_policy")
            if learns and self.stop_rule == "learned"
            else None
        )
        self.baseline_network = BaselineNetwork(self.baseline_hidden_size, name="baseline_network") if learns else None
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="policy_seed_generator")

    # ------------------------------------------------------------------------------------------ the policy
    def _policy_noise(self, episodes, training):
        """Per-episode draws for every action of the loop (None at inference: the policy takes its mode)."""
        if not training or self.location_network is None:
            return None
        shape = (episodes, self.max_glimpses)
        uniform = keras.random.uniform(
            (*shape, self.policy_segments), minval=1e-20, maxval=1.0, seed=self.seed_generator
        )
        return {
            "gumbel": -keras.ops.log(-keras.ops.log(uniform)),
            "normal": keras.random.normal(shape, seed=self.seed_generator),
            "stop": keras.random.uniform(shape, seed=self.seed_generator),
        }

    def _choose_location(self, skim, state, visited, noise, action):
        """(location [E], log_prob [E], entropy [E]) of action `action` (an int scalar tensor)."""
        import tensorflow as tf

        index = tf.minimum(action, self.max_glimpses - 1)
        if isinstance(self.location_network, SegmentLocationPolicy):
            if noise is None:
                location, log_prob, entropy, _ = self.location_network(*skim, state, visited)
            else:
                location, log_prob, entropy, _ = self.location_network(
                    *skim,
                    state,
                    visited,
                    tf.gather(noise["gumbel"], index, axis=1),
                    tf.gather(noise["normal"], index, axis=1),
                )
            return location, log_prob, entropy
        location, _, log_prob = self.location_network(
            state, None if noise is None else tf.gather(noise["normal"], index, axis=1)
        )
        return location, log_prob, tf.zeros_like(location)

    # --------------------------------------------------------------------------------------------- forward
    def glimpsed_frames(self, eeg, face, face_present, trial_of_episode, frame):
        """The frame `frame[e]` of trial `trial_of_episode[e]` of each stream: (eeg [E, H, W, 3], face
        [E, S, S, 3], face_present [E]). A stream the model does not read is not gathered (its frame 0 stands
        in, which the encoder ignores)."""
        import tensorflow as tf

        where = tf.stack([trial_of_episode, frame], axis=-1)
        eeg_frames = tf.gather_nd(eeg, where) if self.use_eeg else tf.gather(eeg[:, 0], trial_of_episode)
        face_frames = tf.gather_nd(face, where) if self.use_face else tf.gather(face[:, 0], trial_of_episode)
        return eeg_frames, face_frames, tf.gather_nd(face_present, where)

    def forward(self, inputs, training=False, with_losses=True, uniform_glimpses=None):
        """See `EmotionModelBase.forward`; `uniform_glimpses=K` replaces the policy by K evenly spaced glimpses
        (the uniform-K baseline of the Evaluator, with the trained weights)."""
        import tensorflow as tf

        eeg, face, face_present = self.read_inputs(inputs)
        batch = tf.shape(eeg)[0]
        num_frames = tf.shape(eeg)[1]
        max_glimpses = self.max_glimpses
        if uniform_glimpses is None and self.location_network is None:
            uniform_glimpses = max_glimpses
        if uniform_glimpses is not None and not 1 <= int(uniform_glimpses) <= max_glimpses:
            raise ValueError(f"uniform_glimpses must be in 1..{max_glimpses} (max_glimpses), got {uniform_glimpses}")
        learned = uniform_glimpses is None
        training_policy = training and learned
        episodes_per_sample = self.policy_samples if (training_policy and with_losses) else 1
        episodes = batch * episodes_per_sample
        trial_of_episode = tf.repeat(tf.range(batch), episodes_per_sample)
        record_states = with_losses

        frame_segments = segment_of_frames(num_frames, self.policy_segments)
        segment_available = tf.cast(
            tf.math.bincount(frame_segments, minlength=self.policy_segments, maxlength=self.policy_segments) > 0,
            tf.float32,
        )
        if self.trial_skim is not None and learned:
            segment_features, segment_novelty, _ = self.trial_skim(eeg, face, face_present)
            skim = (tf.gather(segment_features, trial_of_episode), tf.gather(segment_novelty, trial_of_episode))
        else:
            skim = (tf.zeros([episodes, self.policy_segments, 1]), tf.zeros([episodes, self.policy_segments]))
        noise = self._policy_noise(episodes, training_policy)
        schedule = tf.constant(uniform_locations(int(uniform_glimpses)) if not learned else [0.0], tf.float32)

        def array(dtype):
            # Dynamic size: only the slots the loop wrote are stacked (then padded by `batch_major`).
            return tf.TensorArray(dtype, size=0, dynamic_size=True, clear_after_read=False)

        def freeze_ended(active, new, old):
            """Keep the states of episodes that ended (`active` False) unchanged."""
            return tf.where(tf.reshape(active, [-1] + [1] * (new.shape.rank - 1)), new, old)

        state = self.initial_state(episodes)
        summary_hidden = state.summary_hidden
        visited = tf.tile(1.0 - segment_available[None], [episodes, 1])
        if learned:
            location, log_prob, entropy = self._choose_location(skim, summary_hidden, visited, noise, tf.constant(0))
        else:
            location = tf.fill([episodes], schedule[0])
        loop = {
            "step": tf.constant(0),
            "active": tf.ones([episodes], tf.bool),
            "count": tf.zeros([episodes], tf.int32),
            "survival": tf.ones([episodes]),
            "location": location,
            "visited": visited,
            "state": state,
            "traces": {
                "frames": array(tf.int32),
                "band_weights": array(tf.float32),
                "layer_weights": array(tf.float32),
            },
            "actions": {},
        }
        if record_states:
            loop["traces"]["states"] = array(tf.float32)
        if with_losses and learned:
            # Action 0 is f_1; action n is taken after glimpse n (stop, or where glimpse n + 1 goes).
            baseline = self.baseline_network(summary_hidden)
            loop["actions"] = {
                "log_probs": array(tf.float32).write(0, log_prob),
                "baselines": array(tf.float32).write(0, baseline),
                "mask": array(tf.float32).write(0, tf.ones([episodes])),
                "entropies": array(tf.float32).write(0, entropy),
            }

        def body(loop):
            step, active = loop["step"], loop["active"]
            frame = location_to_frame(loop["location"], num_frames)
            eeg_frames, face_frames, present = self.glimpsed_frames(eeg, face, face_present, trial_of_episode, frame)
            band_features, face_features = self.glimpse_encoder(eeg_frames, face_frames)
            new_state, band_weights, layer_weights = self.recurrent_step(
                band_features, face_features, present, loop["location"], loop["state"], training=training
            )
            state = RecurrentState(*(freeze_ended(active, new, old) for new, old in zip(new_state, loop["state"])))
            active_float = tf.cast(active, tf.float32)
            traces = dict(loop["traces"])
            traces["frames"] = traces["frames"].write(step, tf.where(active, frame, -1))
            traces["band_weights"] = traces["band_weights"].write(step, band_weights * active_float[:, None])
            traces["layer_weights"] = traces["layer_weights"].write(step, layer_weights * active_float[:, None, None])
            if record_states:
                traces["states"] = traces["states"].write(
                    step, tf.concat([state.summary_hidden, state.summary_cell], axis=-1)
                )
            count = loop["count"] + tf.cast(active, tf.int32)
            glimpsed_segment = tf.one_hot(tf.gather(frame_segments, frame), self.policy_segments)
            visited = tf.maximum(loop["visited"], glimpsed_segment)
            # Every segment glimpsed: a new pass over the others begins.
            exhausted = tf.reduce_all(visited > 0.5, axis=-1, keepdims=True)
            visited = tf.where(exhausted, tf.maximum(glimpsed_segment, 1.0 - segment_available[None]), visited)
            visited = tf.where(active[:, None], visited, loop["visited"])

            action = step + 1
            can_act = tf.logical_and(active, action < max_glimpses)
            hidden = state.summary_hidden
            stop_log_prob = tf.zeros([episodes])
            survival = loop["survival"]
            if not learned:
                # *_like keeps the loop variables' static batch size (tf.fill would make it unknown, which
                # tf.while_loop refuses when a batch of one enters the loop with a known size).
                next_location = tf.zeros_like(survival) + schedule[tf.minimum(action, int(uniform_glimpses) - 1)]
                location_log_prob = entropy = tf.zeros_like(survival)
                stop = tf.logical_and(tf.ones_like(active), action >= int(uniform_glimpses))
            else:
                next_location, location_log_prob, entropy = self._choose_location(skim, hidden, visited, noise, action)
                if self.stop_policy is not None:
                    probabilities = tf.nn.softmax(self.classify_state(hidden, state.summary_cell))
                    stop_noise = (
                        None
                        if noise is None
                        else tf.gather(noise["stop"], tf.minimum(action, max_glimpses - 1), axis=1)
                    )
                    budget = tf.fill([episodes], tf.cast(action, tf.float32) / max_glimpses)
                    stop, stop_probability, stop_log_prob = self.stop_policy(
                        hidden, probabilities, budget, stop_noise, loop["survival"]
                    )
                    stop = stop > 0.5
                    survival = loop["survival"] * (1.0 - stop_probability)
                else:
                    stop = tf.equal(location_to_frame(next_location, num_frames), num_frames - 1)
            going_on = tf.logical_and(can_act, tf.logical_not(stop))
            actions = dict(loop["actions"])
            if actions:
                acted = tf.cast(can_act, tf.float32)
                # The stop decision is always an action; the location only when the episode goes on (with the
                # paper's last-frame rule the location itself is the stop decision).
                log_prob = stop_log_prob * acted + location_log_prob * (
                    tf.cast(going_on, tf.float32) if self.stop_policy is not None else acted
                )
                actions = {
                    "log_probs": actions["log_probs"].write(action, log_prob),
                    "baselines": actions["baselines"].write(action, self.baseline_network(hidden) * acted),
                    "mask": actions["mask"].write(action, acted),
                    "entropies": actions["entropies"].write(action, entropy * tf.cast(going_on, tf.float32)),
                }
            return {
                **loop,
                "state": state,
                "step": action,
                "active": going_on,
                "count": count,
                "survival": survival,
                "location": tf.where(going_on, next_location, loop["location"]),
                "visited": visited,
                "traces": traces,
                "actions": actions,
            }

        def loop_condition(loop):
            return tf.logical_and(loop["step"] < max_glimpses, tf.reduce_any(loop["active"]))

        loop = tf.while_loop(loop_condition, lambda loop: (body(loop),), (loop,), maximum_iterations=max_glimpses)[0]

        def batch_major(tensor_array, length, fill, trailing_shape):
            stacked = tensor_array.stack()
            rank = len(trailing_shape) + 2
            stacked = tf.transpose(stacked, [1, 0, *range(2, rank)])[:, :length]
            padding = [[0, 0], [0, length - tf.shape(stacked)[1]]] + [[0, 0]] * len(trailing_shape)
            padded = tf.pad(stacked, padding, constant_values=fill)
            return tf.reshape(padded, [episodes, length, *trailing_shape])

        count = loop["count"]
        step_mask = tf.sequence_mask(count, max_glimpses, dtype=tf.float32)
        glimpse_frames = tf.where(step_mask > 0, batch_major(loop["traces"]["frames"], max_glimpses, -1, []), -1)
        band_weights = batch_major(loop["traces"]["band_weights"], max_glimpses, 0.0, [3]) * step_mask[..., None]
        layer_weights = (
            batch_major(loop["traces"]["layer_weights"], max_glimpses, 0.0, [2, self.core_layers])
            * step_mask[..., None, None]
        )
        final = loop["state"]
        logits = self.classify_state(final.summary_hidden, final.summary_cell, training=training)
        outputs = self.model_outputs(logits, glimpse_frames, count, band_weights, layer_weights)
        if not with_losses:
            return outputs, {"logits": logits}

        step_states = batch_major(loop["traces"]["states"], max_glimpses, 0.0, [2 * self.hidden_size])
        hidden_states, cell_states = step_states[..., : self.hidden_size], step_states[..., self.hidden_size :]
        internals = {
            "logits": logits,
            "step_logits": (
                self.classify_state(hidden_states, cell_states, training=training)
                if self.step_classification_weight > 0.0
                else None
            ),
            "step_mask": step_mask,
            "penalty": self.layer_penalty(layer_weights, step_mask),
            "glimpse_count": count,
            "episodes_per_sample": episodes_per_sample,
        }
        if loop["actions"]:
            action_mask = batch_major(loop["actions"]["mask"], max_glimpses, 0.0, [])
            initial = self.initial_state(episodes)
            internals.update(
                {
                    # What the reward reads: the deterministic classifier (no dropout) before and after each glimpse.
                    "reward_logits": self.classify_state(final.summary_hidden, final.summary_cell),
                    "initial_reward_logits": self.classify_state(initial.summary_hidden, initial.summary_cell),
                    "step_reward_logits": self.classify_state(hidden_states, cell_states),
                    "action_log_probs": batch_major(loop["actions"]["log_probs"], max_glimpses, 0.0, []) * action_mask,
                    "action_baselines": batch_major(loop["actions"]["baselines"], max_glimpses, 0.0, []) * action_mask,
                    "action_entropies": batch_major(loop["actions"]["entropies"], max_glimpses, 0.0, []) * action_mask,
                    "action_mask": action_mask,
                }
            )
        return outputs, internals

    def policy_losses(self, internals, labels):
        """REINFORCE with a learned baseline over the actions taken, the baseline's regression, the entropy."""
        if "action_log_probs" not in internals:
            return super().policy_losses(internals, labels)
        import tensorflow as tf

        correct = tf.equal(tf.cast(tf.argmax(internals["reward_logits"], axis=-1), tf.int32), labels)
        count = internals["glimpse_count"]
        outcome = self.reward_scale * tf.where(correct, self.reward_correct, self.reward_wrong)

        def true_class_log_prob(logits):
            return -keras.ops.sparse_categorical_crossentropy(
                keras.ops.broadcast_to(labels[:, None], keras.ops.shape(logits)[:2]), logits, from_logits=True
            )

        confidence = tf.concat(
            [
                true_class_log_prob(internals["initial_reward_logits"][:, None]),
                true_class_log_prob(internals["step_reward_logits"]),
            ],
            axis=1,
        )
        rewards = reinforce.action_rewards(
            outcome, confidence, internals["step_mask"], count, self.sparsity_weight, self.confidence_reward_weight
        )
        returns = reinforce.discounted_returns(rewards, self.reward_discount) * internals["action_mask"]
        mask = internals["action_mask"]
        entropy = tf.reduce_sum(internals["action_entropies"]) / tf.maximum(tf.reduce_sum(mask), 1.0)
        return {
            "reinforce_loss": reinforce.reinforce_loss(
                internals["action_log_probs"], internals["action_baselines"], returns, mask
            ),
            "baseline_loss": reinforce.baseline_loss(internals["action_baselines"], returns, mask),
            "policy_entropy": entropy,
            "entropy_bonus": self.entropy_weight * entropy,
            "reward": reinforce.episode_reward(
                correct, count, self.reward_scale, self.reward_correct, self.reward_wrong, self.sparsity_weight
            ),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_glimpses": self.max_glimpses,
                "location_policy": self.location_policy,
                "policy_context": self.policy_context,
                "stop_rule": self.stop_rule,
                "policy_segments": self.policy_segments,
                "segment_location_std": self.segment_location_std,
                "location_std": self.location_std,
                "initial_stop_probability": self.initial_stop_probability,
                "skim_size": self.skim_size,
                "skim_grid_size": self.skim_grid_size,
                "skim_kernel_size": self.skim_kernel_size,
                "policy_samples": self.policy_samples,
                "entropy_weight": self.entropy_weight,
                "reward_scale": self.reward_scale,
                "reward_correct": self.reward_correct,
                "reward_wrong": self.reward_wrong,
                "sparsity_weight": self.sparsity_weight,
                "confidence_reward_weight": self.confidence_reward_weight,
                "reward_discount": self.reward_discount,
                "baseline_hidden_size": self.baseline_hidden_size,
            }
        )
        return config
