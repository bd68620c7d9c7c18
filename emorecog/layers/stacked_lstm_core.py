"""The core of the recurrent attention: L stacked LSTM layers advanced by one step per glimpse."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class StackedLSTMCore(keras.layers.Layer):
    """Advance L stacked LSTM layers by one step (paper IV.A "core" and IV.B hierarchical LSTM).

        h^(1)_n, c^(1)_n = LSTM_1(g_n,         (h^(1)_{n-1}, c^(1)_{n-1}))
        h^(l)_n, c^(l)_n = LSTM_l(h^(l-1)_n,   (h^(l)_{n-1}, c^(l)_{n-1}))    l = 2..L

    The state of all layers is one tensor [B, L, 2, r] (index 0 = hidden, 1 = cell), so a model can
    carry it through a `tf.while_loop` and freeze it per sample with one `where`. Stepping by hand
    (instead of `keras.layers.LSTM` over a sequence) is what lets the next input depend on the state:
    the glimpse at step n + 1 is chosen from the state at step n.

    Args:
        units: r, the size of each layer's hidden and cell state.
        num_layers: L.

    Call arguments:
        inputs: float tensor [B, D], the fused glimpse g_n.
        states: float tensor [B, L, 2, r], the states after step n - 1.

    Returns:
        float32 tensor [B, L, 2, r], the states after step n.

    Example:
        >>> core = StackedLSTMCore(units=8, num_layers=3)
        >>> core(keras.ops.ones((2, 5)), keras.ops.zeros((2, 3, 2, 8))).shape
        (2, 3, 2, 8)
    """

    def __init__(self, units=64, num_layers=3, **kwargs):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"StackedLSTMCore needs at least one layer, got num_layers={num_layers}")
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.cells = [keras.layers.LSTMCell(self.units, name=f"lstm_{index}") for index in range(self.num_layers)]

    def build(self, inputs_shape, states_shape):
        expected = (self.num_layers, 2, self.units)
        if tuple(states_shape[1:]) != expected:
            raise ValueError(f"StackedLSTMCore expects states [B, {', '.join(map(str, expected))}], got {states_shape}")
        input_size = inputs_shape[-1]
        for cell in self.cells:
            cell.build((None, input_size))
            input_size = self.units
        self.built = True

    def call(self, inputs, states, training=None):
        layer_input = inputs
        new_states = []
        for index, cell in enumerate(self.cells):
            hidden, (hidden, cell_state) = cell(
                layer_input, [states[:, index, 0], states[:, index, 1]], training=training
            )
            new_states.append(keras.ops.stack([hidden, cell_state], axis=1))
            layer_input = hidden
        return keras.ops.stack(new_states, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "num_layers": self.num_layers})
        return config

    def compute_output_shape(self, inputs_shape, states_shape):
        return (inputs_shape[0], self.num_layers, 2, self.units)
