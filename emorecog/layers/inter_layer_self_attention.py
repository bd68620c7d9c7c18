"""Self-attention across the layers of the stacked LSTM core (paper eq. 3-7) and its variance penalty (eq. 8-9)."""

import keras


def layer_variance_penalty(hidden_weights, cell_weights, step_mask=None):
    """The penalty P of eq. 8-9: spread of the inter-layer attention weights, averaged over steps.

        P = 1/N sum_n sum_i ((alpha_ni - mu_n)^2 + (beta_ni - eta_n)^2),
        mu_n = 1/L sum_i alpha_ni,   eta_n = 1/L sum_i beta_ni

    The loss subtracts lambda * P (eq. 10), so training favours weights that differ between layers.

    Args:
        hidden_weights: float tensor [B, N, L], alpha (weights over the L hidden states) per step.
        cell_weights: float tensor [B, N, L], beta (weights over the L cell states) per step.
        step_mask: optional float tensor [B, N], 1 for steps the sample really took; the mean runs over
            those steps only (N_b of them per sample). None -> all N steps.

    Returns:
        float32 tensor [B], P per sample (0 for a sample without steps).
    """
    hidden_weights = keras.ops.cast(hidden_weights, "float32")
    cell_weights = keras.ops.cast(cell_weights, "float32")
    hidden_spread = keras.ops.sum(
        keras.ops.square(hidden_weights - keras.ops.mean(hidden_weights, axis=-1, keepdims=True)), axis=-1
    )
    cell_spread = keras.ops.sum(
        keras.ops.square(cell_weights - keras.ops.mean(cell_weights, axis=-1, keepdims=True)), axis=-1
    )
    per_step = hidden_spread + cell_spread
    if step_mask is None:
        return keras.ops.mean(per_step, axis=-1)
    step_mask = keras.ops.cast(step_mask, "float32")
    steps = keras.ops.sum(step_mask, axis=-1)
    return keras.ops.sum(per_step * step_mask, axis=-1) / keras.ops.maximum(steps, 1.0)


@keras.saving.register_keras_serializable(package="emorecog")
class InterLayerSelfAttention(keras.layers.Layer):
    """Weight the L layers of a stacked LSTM by self-attention, for the hidden and the cell states.

    For X = H_n = (h^(1), ..., h^(L)) (eq. 5) and X = C_n = (c^(1), ..., c^(L)) (eq. 6), each [L, r]:

        u = v^T tanh(W_s X + b)          (eq. 3)   u in R^L
        a = softmax(u)                   (eq. 4)   over the L layers
        Y = a X = sum_l a_l X_l          (eq. 7)   Y in R^r

    giving the weighted hidden state H'_n (weights alpha) and the weighted cell state C'_n (weights beta).
    The hidden and the cell states get separate (W_s, b, v): the paper writes one formula for both, but
    cell states are unbounded while hidden states lie in (-1, 1), so one scoring function would mostly
    look at the cell magnitudes.

    Args:
        attention_size: d_a, the width of the scoring layer.

    Call arguments:
        hidden: float tensor [B, L, r], the hidden states of the L layers.
        cell: float tensor [B, L, r], the cell states of the L layers.

    Returns:
        A tuple (weighted_hidden [B, r], weighted_cell [B, r], hidden_weights [B, L], cell_weights [B, L]).

    Example:
        >>> layer = InterLayerSelfAttention(attention_size=16)
        >>> outputs = layer(keras.ops.ones((2, 3, 8)), keras.ops.ones((2, 3, 8)))
        >>> [tuple(output.shape) for output in outputs]
        [(2, 8), (2, 8), (2, 3), (2, 3)]

    Reference:
        Wu, Zhang, Zhao, IEEE Access 2020, section IV.B-C, eq. 3-9.
    """

    def __init__(self, attention_size=32, **kwargs):
        super().__init__(**kwargs)
        self.attention_size = int(attention_size)

    def build(self, hidden_shape, cell_shape):
        if len(hidden_shape) != 3 or tuple(hidden_shape[1:]) != tuple(cell_shape[1:]):
            raise ValueError(
                f"InterLayerSelfAttention expects hidden and cell states [B, L, r] of equal shapes, got "
                f"{hidden_shape} and {cell_shape}"
            )
        units = hidden_shape[-1]
        for state in ("hidden", "cell"):
            setattr(
                self,
                f"{state}_score_kernel",
                self.add_weight(
                    name=f"{state}_score_kernel", shape=(units, self.attention_size), initializer="glorot_uniform"
                ),
            )
            setattr(
                self,
                f"{state}_score_bias",
                self.add_weight(name=f"{state}_score_bias", shape=(self.attention_size,), initializer="zeros"),
            )
            setattr(
                self,
                f"{state}_score_vector",
                self.add_weight(
                    name=f"{state}_score_vector", shape=(self.attention_size,), initializer="glorot_uniform"
                ),
            )
        self.built = True

    def _attend(self, states, kernel, bias, vector):
        if states.shape[1] == 1:
            # One layer: the softmax over a single score is 1 (skipping it keeps Keras from warning).
            return states[:, 0], keras.ops.ones_like(states[:, :, 0])
        # matmul / multiply-and-sum rather than einsum: the same algebra in fewer, cheaper kernels (this runs
        # once per glimpse, often at batch 1).
        scores = keras.ops.sum(keras.ops.tanh(keras.ops.matmul(states, kernel) + bias) * vector, axis=-1)
        weights = keras.ops.softmax(scores, axis=-1)
        return keras.ops.sum(weights[:, :, None] * states, axis=1), weights

    def call(self, hidden, cell):
        weighted_hidden, hidden_weights = self._attend(
            hidden, self.hidden_score_kernel, self.hidden_score_bias, self.hidden_score_vector
        )
        weighted_cell, cell_weights = self._attend(
            cell, self.cell_score_kernel, self.cell_score_bias, self.cell_score_vector
        )
        return weighted_hidden, weighted_cell, hidden_weights, cell_weights

    def get_config(self):
        config = super().get_config()
        config.update({"attention_size": self.attention_size})
        return config

    def compute_output_shape(self, hidden_shape, cell_shape):
        batch, layers, units = hidden_shape
        return (batch, units), (batch, units), (batch, layers), (batch, layers)
