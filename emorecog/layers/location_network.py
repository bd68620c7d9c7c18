"""The action part of the recurrent attention: a Gaussian policy over the next glimpse's time position."""

import keras


def location_to_frame(location, num_frames):
    """Map locations f in [-1, 1] to frame indices round((f + 1) / 2 * (T - 1)).

    Args:
        location: float tensor [B]; values outside [-1, 1] are clipped first.
        num_frames: T, a Python int or an int scalar tensor.

    Returns:
        int32 tensor [B] in [0, T - 1] (-1 -> the first frame, 1 -> the last frame).
    """
    last_frame = keras.ops.cast(num_frames, "float32") - 1.0
    location = keras.ops.clip(keras.ops.cast(location, "float32"), -1.0, 1.0)
    return keras.ops.cast(keras.ops.round((location + 1.0) * 0.5 * last_frame), "int32")


@keras.saving.register_keras_serializable(package="emorecog")
class LocationNetwork(keras.layers.Layer):
    """Gaussian location policy pi(f_{n+1} | s_n) of the recurrent attention (paper IV.A "action", eq. 14-15).

        mu_n      = tanh(W stop_gradient(H'_n) + b)
        f_{n+1}   ~ Normal(mu_n, sigma)                 (training: stop_gradient on the sample)
        log_pi    = log Normal(f_{n+1}; mu_n, sigma)     (under the trainable mean: REINFORCE, eq. 15)
        f_{n+1}  <- clip(f_{n+1}, -1, 1)                 (after the log-probability)
        f_{n+1}   = mu_n                                 (inference: deterministic, no random ops;
                                                          log_prob is reported as 0: no action was sampled)

    The state is stop-gradient, so the policy never changes the representation the classifier learns,
    and the sample is stop-gradient, so the classifier's gradients never flow through a location: the
    only gradient reaching W and b is the REINFORCE term through `log_prob`. sigma is fixed.

    The layer itself draws no random numbers: the caller passes standard normal `noise` (the model draws
    it from its own `keras.random.SeedGenerator`), so the layer is deterministic given its inputs.

    Args:
        location_std: sigma of the policy, in location units (the whole sample spans [-1, 1]).

    Call arguments:
        state: float tensor [B, r], the attended core state H'_n.
        noise: optional float tensor [B] of standard normal draws; None -> the policy mean.

    Returns:
        A tuple (location [B] in [-1, 1], mean [B], log_prob [B]), all float32.

    Example:
        >>> location, mean, log_prob = LocationNetwork(0.1)(keras.ops.zeros((3, 8)), keras.ops.ones((3,)))
        >>> location.shape
        (3,)

    Reference:
        Mnih et al., "Recurrent Models of Visual Attention", NIPS 2014; Wu et al. 2020, eq. 11-15.
    """

    def __init__(self, location_std=0.15, **kwargs):
        super().__init__(**kwargs)
        if not location_std > 0.0:
            raise ValueError(f"LocationNetwork location_std must be positive, got {location_std}")
        self.location_std = float(location_std)
        # Zero kernel: the untrained policy looks at the middle of the sample whatever the state, and the
        # mean moves only when REINFORCE moves it. (A random kernel would drag the mean wherever the core's
        # states drift while the classifier learns, before the reward says anything about locations.)
        self.mean_projection = keras.layers.Dense(1, kernel_initializer="zeros", name="mean_projection")

    def build(self, state_shape, noise_shape=None):
        self.mean_projection.build(state_shape)
        self.built = True

    def call(self, state, noise=None):
        from tensorflow_probability import distributions

        mean = keras.ops.tanh(self.mean_projection(keras.ops.stop_gradient(state)))[:, 0]
        if noise is None:
            # The deterministic policy takes no sampled action: there is no log-probability to report.
            return mean, mean, keras.ops.zeros_like(mean)
        sample = keras.ops.stop_gradient(mean + self.location_std * keras.ops.cast(noise, "float32"))
        log_prob = distributions.Normal(loc=mean, scale=self.location_std).log_prob(sample)
        location = keras.ops.clip(sample, -1.0, 1.0)
        return location, mean, log_prob

    def get_config(self):
        config = super().get_config()
        config.update({"location_std": self.location_std})
        return config

    def compute_output_shape(self, state_shape, noise_shape=None):
        return (state_shape[0],), (state_shape[0],), (state_shape[0],)
