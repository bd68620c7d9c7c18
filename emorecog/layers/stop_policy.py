"""Stopping as its own action: a Bernoulli "enough seen" policy after every glimpse (TFP)."""

import math

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class StopPolicy(keras.layers.Layer):
    """pi(stop_n | H'_n, p_n, n): whether the glimpses so far are enough to answer.

        With h = stop_gradient(H'_n), p_n = stop_gradient(the classifier's probabilities after glimpse n) and
        n / N_max the share of the glimpse budget spent:

            q_n    = sigmoid(w^T [h ; p_n ; n / N_max] + b)
            stop_n ~ Bernoulli(q_n)            (training: u_n < q_n for a uniform draw u_n)
            log_pi = Bernoulli(q_n).log_prob(stop_n)                    (REINFORCE, eq. 15)
            stop_n = S_{n-1} (1 - q_n) <= 1/2   (inference: deterministic, no random ops)

    where S_{n-1} = prod_{m < n} (1 - q_m) is the probability that the sampled policy had not stopped before
    glimpse n: inference stops at the median of the policy's stopping time. (The per-step mode, q_n > 1/2,
    would ignore that a policy stopping with probability 0.3 after each glimpse ends almost every sampled
    episode within a few glimpses; the median is the deterministic summary of what training sampled.)

        This is the emission indicator of Yeung et al. (CVPR 2016). w starts at zero and b at
        logit(`initial_probability`), so the untrained policy stops after each glimpse with that probability:
        stopping is reachable from the first batch, and the sparsity reward (lambda_sparse per glimpse) gets
        a gradient from the start. The classifier's probabilities are an input so that "stop once confident"
        is a simple function to learn.

        Args:
            initial_probability: q_n of the untrained policy, in (0, 1).

        Call arguments:
            state: float tensor [B, r], H'_n.
            class_probabilities: float tensor [B, C], the classifier's probabilities after glimpse n.
            budget_spent: float tensor [B], n / N_max.
            noise: optional float tensor [B] of uniform [0, 1) draws; None -> the deterministic decision.
            survival: optional float tensor [B], S_{n-1} (None: 1, the first decision).

        Returns:
            A tuple (stop float32 [B] (1 = stop), probability q_n float32 [B], log_prob float32 [B] (0 at
            inference)).

        Example:
            >>> stop, probability, log_prob = StopPolicy(0.1)(keras.ops.zeros((2, 8)), keras.ops.ones((2, 2)) / 2,
            ...                                               keras.ops.zeros((2,)))
            >>> [round(float(value), 3) for value in probability]
            [0.1, 0.1]

        Reference:
            Yeung, Russakovsky, Mori, Fei-Fei, "End-to-end learning of action detection from frame glimpses in
            videos", CVPR 2016.
    """

    def __init__(self, initial_probability=0.1, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < float(initial_probability) < 1.0:
            raise ValueError(f"StopPolicy initial_probability must be in (0, 1), got {initial_probability}")
        self.initial_probability = float(initial_probability)
        initial_logit = math.log(self.initial_probability / (1.0 - self.initial_probability))
        self.stop_logit = keras.layers.Dense(
            1,
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(initial_logit),
            name="stop_logit",
        )

    def build(self, state_shape, class_probabilities_shape, budget_spent_shape, noise_shape=None, survival_shape=None):
        self.stop_logit.build((None, state_shape[-1] + class_probabilities_shape[-1] + 1))
        self.built = True

    def call(self, state, class_probabilities, budget_spent, noise=None, survival=None):
        from tensorflow_probability import distributions

        inputs = keras.ops.concatenate(
            [
                keras.ops.stop_gradient(state),
                keras.ops.stop_gradient(keras.ops.cast(class_probabilities, "float32")),
                keras.ops.reshape(keras.ops.cast(budget_spent, "float32"), (-1, 1)),
            ],
            axis=-1,
        )
        logit = self.stop_logit(inputs)[:, 0]
        probability = keras.ops.sigmoid(logit)
        if noise is None:
            survival = keras.ops.ones_like(probability) if survival is None else keras.ops.cast(survival, "float32")
            stop = keras.ops.cast(survival * (1.0 - probability) <= 0.5, "float32")
            return stop, probability, keras.ops.zeros_like(probability)
        stop = keras.ops.stop_gradient(keras.ops.cast(keras.ops.cast(noise, "float32") < probability, "float32"))
        log_prob = distributions.Bernoulli(logits=logit).log_prob(stop)
        return stop, probability, log_prob

    def get_config(self):
        config = super().get_config()
        config.update({"initial_probability": self.initial_probability})
        return config

    def compute_output_shape(
        self, state_shape, class_probabilities_shape, budget_spent_shape, noise_shape=None, survival_shape=None
    ):
        batch = state_shape[0]
        return (batch,), (batch,), (batch,)
