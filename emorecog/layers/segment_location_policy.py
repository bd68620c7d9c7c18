"""The location policy that searches: a mixture of Normals over the segments of the trial (TFP)."""

import keras

from emorecog.layers.trial_skim import segment_centres

# Masked logits: low enough that a masked segment's probability is 0 in float32, finite so that no
# gradient or entropy becomes NaN.
MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="emorecog")
class SegmentLocationPolicy(keras.layers.Layer):
    """pi(f_{n+1} | skim, H'_n, visited): where the next glimpse goes, as a mixture over K trial segments.

    With s_k the skim's feature of segment k and nu_k its novelty (or, without the skim, a learned embedding
    of the segment's position and no novelty), h = stop_gradient(H'_n) and m_k = 1 for segments already
    glimpsed (or holding no frame):

        u_k    = v^T tanh(W_s s_k + W_h h + b) + w_nu nu_k                (additive attention over segments)
        logit_k = u_k            if m_k = 0,   -inf (masked) otherwise   (every segment visited -> none masked)
        pi     = MixtureSameFamily(Categorical(logit), Normal(c_k, sigma))
        f_{n+1} ~ pi  (training: component by Gumbel-max, then c_k + sigma * eps; stop_gradient on the sample)
        log_pi = pi.log_prob(f_{n+1})                                    (REINFORCE, eq. 15)
        f_{n+1} = c_{argmax_k logit_k}                                    (inference: the mode, no random ops)

    c_k = -1 + (2k + 1) / K is the centre of segment k and sigma = `component_std` x the segment width
    2 / K, so each component stays inside its segment. v is zero-initialised and w_nu starts at 1: the
    untrained policy chooses segments in proportion to exp(nu_k), i.e. prefers what stands out in the trial
    but can still land anywhere (without the skim: uniformly). Both are learned by REINFORCE.

    Why a mixture over segments rather than the paper's single Gaussian: a single Gaussian whose mean comes
    from a linear head makes "stare at one frame" the easiest thing to learn and explores only a few frames
    around its mean; a categorical choice over the whole trial, informed by the skim and with visited
    segments masked, makes search the default (Saccader, Elsayed et al. 2019; AdaFrame, Wu et al. 2019).
    It is still a distribution built on `Normal`, and its log-probability is the mixture's.

    Args:
        num_segments: K.
        attention_size: width of the scoring layer.
        component_std: sigma as a fraction of one segment's width (> 0).
        use_skim: score segments from their skim features (True) or from learned position embeddings
            (False: the skim-free ablation).

    Call arguments:
        segment_features: float tensor [B, K, D], the skim's segment features (ignored without skim; pass
            any [B, K, D] tensor, e.g. zeros).
        segment_novelty: float tensor [B, K], the skim's novelty nu_k (ignored without skim).
        state: float tensor [B, r], the attended core state H'_n.
        visited: float tensor [B, K], 1 for segments not to visit again.
        gumbel: optional float tensor [B, K] of Gumbel(0, 1) draws (the component choice); None -> the mode.
        normal: optional float tensor [B] of standard normal draws (the position in the component); needed
            with `gumbel`.

    Returns:
        A tuple (location [B] in [-1, 1], log_prob [B] (0 at inference), entropy [B] of the component choice,
        probabilities [B, K] of the component choice).

    Example:
        >>> policy = SegmentLocationPolicy(num_segments=4)
        >>> location, log_prob, entropy, probabilities = policy(
        ...     keras.ops.zeros((2, 4, 8)), keras.ops.zeros((2, 4)), keras.ops.zeros((2, 16)), keras.ops.zeros((2, 4)))
        >>> probabilities.shape
        (2, 4)

    Reference:
        Mnih et al., NIPS 2014 (REINFORCE of glimpse locations); Elsayed et al., "Saccader", NeurIPS 2019.
    """

    def __init__(self, num_segments=16, attention_size=32, component_std=0.25, use_skim=True, **kwargs):
        super().__init__(**kwargs)
        self.num_segments = int(num_segments)
        self.attention_size = int(attention_size)
        self.component_std = float(component_std)
        self.use_skim = bool(use_skim)
        if self.num_segments < 1 or self.attention_size < 1 or not self.component_std > 0.0:
            raise ValueError(
                f"SegmentLocationPolicy needs num_segments >= 1, attention_size >= 1 and "
                f"component_std > 0, got {num_segments}, {attention_size}, {component_std}"
            )
        self.segment_scoring = keras.layers.Dense(self.attention_size, name="segment_scoring")
        self.state_scoring = keras.layers.Dense(self.attention_size, use_bias=False, name="state_scoring")

    def build(
        self,
        segment_features_shape,
        segment_novelty_shape,
        state_shape,
        visited_shape,
        gumbel_shape=None,
        normal_shape=None,
    ):
        if self.use_skim:
            self.segment_scoring.build((None, None, segment_features_shape[-1]))
            self.novelty_weight = self.add_weight(name="novelty_weight", shape=(), initializer="ones")
        else:
            self.segment_embedding = self.add_weight(
                name="segment_embedding", shape=(self.num_segments, self.attention_size), initializer="glorot_uniform"
            )
            self.segment_scoring.build((None, None, self.attention_size))
        self.state_scoring.build(state_shape)
        self.score_vector = self.add_weight(name="score_vector", shape=(self.attention_size,), initializer="zeros")
        self.built = True

    @property
    def sigma(self):
        """The components' standard deviation in location units."""
        return self.component_std * 2.0 / self.num_segments

    def distribution(self, logits):
        """The TFP mixture for masked logits [B, K]."""
        from tensorflow_probability import distributions

        centres = keras.ops.broadcast_to(segment_centres(self.num_segments)[None, :], keras.ops.shape(logits))
        return distributions.MixtureSameFamily(
            mixture_distribution=distributions.Categorical(logits=logits),
            components_distribution=distributions.Normal(loc=centres, scale=self.sigma),
        )

    def call(self, segment_features, segment_novelty, state, visited, gumbel=None, normal=None):
        import tensorflow as tf

        segments = segment_features if self.use_skim else self.segment_embedding[None]
        hidden = keras.ops.tanh(
            self.segment_scoring(segments) + self.state_scoring(keras.ops.stop_gradient(state))[:, None, :]
        )
        scores = keras.ops.sum(hidden * self.score_vector, axis=-1)
        if self.use_skim:
            scores = scores + self.novelty_weight * keras.ops.cast(segment_novelty, "float32")
        visited = keras.ops.cast(visited, "float32")
        # Once every segment was visited, the search starts a new pass over all of them.
        exhausted = keras.ops.all(visited > 0.5, axis=-1, keepdims=True)
        masked = keras.ops.logical_and(visited > 0.5, keras.ops.logical_not(exhausted))
        logits = keras.ops.where(masked, MASKED_LOGIT, scores)
        probabilities = keras.ops.softmax(logits, axis=-1)
        entropy = -keras.ops.sum(probabilities * keras.ops.log_softmax(logits, axis=-1), axis=-1)
        centres = segment_centres(self.num_segments)
        if gumbel is None:
            location = keras.ops.take(centres, keras.ops.argmax(logits, axis=-1))
            return location, keras.ops.zeros_like(location), entropy, probabilities
        if normal is None:
            raise ValueError("SegmentLocationPolicy: sampling needs both the gumbel and the normal draws")
        component = keras.ops.argmax(keras.ops.stop_gradient(logits) + gumbel, axis=-1)
        sample = tf.stop_gradient(keras.ops.take(centres, component) + self.sigma * normal)
        log_prob = self.distribution(logits).log_prob(sample)
        return keras.ops.clip(sample, -1.0, 1.0), log_prob, entropy, probabilities

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_segments": self.num_segments,
                "attention_size": self.attention_size,
                "component_std": self.component_std,
                "use_skim": self.use_skim,
            }
        )
        return config

    def compute_output_shape(
        self,
        segment_features_shape,
        segment_novelty_shape,
        state_shape,
        visited_shape,
        gumbel_shape=None,
        normal_shape=None,
    ):
        batch = state_shape[0]
        return (batch,), (batch,), (batch,), (batch, self.num_segments)
