"""The learned REINFORCE baseline b_n (the expected reward from the current state)."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class BaselineNetwork(keras.layers.Layer):
    """Predict the episode reward R from the stop-gradient attended state: b_n = w^T stop_gradient(H'_n) + c.

    Trained by regression (MSE) on R; the policy gradient uses the advantage R - stop_gradient(b_n),
    which lowers its variance without biasing it. The state is stop-gradient so that fitting the
    baseline does not change the representation the classifier learns.

    Args:
        hidden_size: size of a ReLU hidden layer before the linear output; 0 -> linear baseline.

    Call arguments:
        state: float tensor [B, r].

    Returns:
        float32 tensor [B], the predicted reward.

    Example:
        >>> BaselineNetwork()(keras.ops.zeros((3, 8))).shape
        (3,)
    """

    def __init__(self, hidden_size=0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = int(hidden_size)
        self.hidden = (
            keras.layers.Dense(self.hidden_size, activation="relu", name="hidden") if self.hidden_size else None
        )
        self.output_projection = keras.layers.Dense(1, name="output_projection")

    def build(self, state_shape):
        if self.hidden is not None:
            self.hidden.build(state_shape)
            self.output_projection.build((None, self.hidden_size))
        else:
            self.output_projection.build(state_shape)
        self.built = True

    def call(self, state):
        features = keras.ops.stop_gradient(state)
        if self.hidden is not None:
            features = self.hidden(features)
        return self.output_projection(features)[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_size": self.hidden_size})
        return config

    def compute_output_shape(self, state_shape):
        return (state_shape[0],)
