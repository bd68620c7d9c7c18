"""The state-dependent half of a glimpse: band attention and the weight-shared first LSTM layer (paper IV.A)."""

import keras

from emorecog.layers.band_attention import BandAttention


@keras.saving.register_keras_serializable(package="emorecog")
class GlimpseFusion(keras.layers.Layer):
    """Fuse an encoded frame with where it was taken and the model's state: g_n, the first LSTM layer.

    With e_i and x_v the `GlimpseEncoder`'s features of the glimpsed frame t_n:

        e_n, theta_n = BandAttention(e_i, h_{n-1})                          (eq. 1-2)
        x_e   = ReLU(W_e e_n + b_e)
        x_v'  = x_v                 if a face was found at t_n
              = v_missing           otherwise (a learned "no face" embedding)
        l_n   = ReLU(W_l f_n + b_l)                                          (where the glimpse was taken)
        h_e, c_e = LSTM_shared([x_e, l_n, 1],             (h_e, c_e))        one cell, two states:
        h_v, c_v = LSTM_shared([x_v', l_n, present(t_n)], (h_v, c_v))        the paper's "two LSTMs with
        g_n   = [h_e ; h_v]                                                   shared parameters"; fusion

    x_e and x_v have the same size so one `keras.layers.LSTMCell` can read both. A missing face never
    passes through the face encoder's output (the crop of a frame without a face is blank, and its
    encoding would look like a face to the LSTM); the presence flag is an input too, so the cell can
    tell a real "no face" from a face that happens to resemble the embedding. EEG is always present.

    With `use_eeg=False` or `use_face=False` (the single-stream ablations) the missing stream's features are
    ignored (the encoder gives [B, 0]), it is not fused (g_n has one half), its state passes through
    unchanged and its band weights are zeros.

    Args:
        feature_size: size of x_e and x_v.
        glimpse_hidden_size: size of the shared first-layer LSTM state, per stream.
        location_embedding_size: size of l_n.
        use_eeg, use_face: which streams are fused.

    Call arguments:
        band_features: float tensor [B, 3, F], e_i of the glimpsed frame ([B, 0] without EEG).
        face_features: float tensor [B, feature_size], x_v of the glimpsed frame ([B, 0] without face).
        face_present: float tensor [B], 1 where a face was found in the glimpsed frame.
        location: float tensor [B], f_n in [-1, 1].
        previous_hidden: float tensor [B, r], h_{n-1} of the core (conditions the band attention).
        eeg_state: float tensor [B, 2, glimpse_hidden_size], (h_e, c_e).
        face_state: float tensor [B, 2, glimpse_hidden_size], (h_v, c_v).

    Returns:
        A tuple (glimpse g_n [B, glimpse_size], eeg_state, face_state, band_weights [B, 3]) where
        glimpse_size = glimpse_hidden_size x number of streams used.

    Example:
        >>> fusion = GlimpseFusion(feature_size=16, glimpse_hidden_size=8, location_embedding_size=4,
        ...                        use_eeg=True, use_face=True)
        >>> outputs = fusion(keras.ops.zeros((2, 3, 12)), keras.ops.zeros((2, 16)), keras.ops.ones((2,)),
        ...                  keras.ops.zeros((2,)), keras.ops.zeros((2, 12)), keras.ops.zeros((2, 2, 8)),
        ...                  keras.ops.zeros((2, 2, 8)))
        >>> outputs[0].shape
        (2, 16)

    Reference:
        Wu, Zhang, Zhao, IEEE Access 2020, section IV.A, Fig. 3.
    """

    def __init__(self, feature_size, glimpse_hidden_size, location_embedding_size, use_eeg, use_face, **kwargs):
        super().__init__(**kwargs)
        if not (use_eeg or use_face):
            raise ValueError("GlimpseFusion needs at least one stream: use_eeg and use_face are both False")
        self.feature_size = int(feature_size)
        self.glimpse_hidden_size = int(glimpse_hidden_size)
        self.location_embedding_size = int(location_embedding_size)
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)

        self.band_attention = BandAttention(name="band_attention") if self.use_eeg else None
        self.eeg_projection = (
            keras.layers.Dense(self.feature_size, activation="relu", name="eeg_projection") if self.use_eeg else None
        )
        self.location_embedding = keras.layers.Dense(
            self.location_embedding_size, activation="relu", name="location_embedding"
        )
        self.shared_lstm = keras.layers.LSTMCell(self.glimpse_hidden_size, name="shared_lstm")

    @property
    def glimpse_size(self):
        """Size of the fused glimpse g_n."""
        return self.glimpse_hidden_size * (int(self.use_eeg) + int(self.use_face))

    def build(
        self,
        band_features_shape,
        face_features_shape,
        face_present_shape,
        location_shape,
        previous_hidden_shape,
        eeg_state_shape,
        face_state_shape,
    ):
        if self.use_eeg:
            self.band_attention.build(band_features_shape, previous_hidden_shape)
            self.eeg_projection.build((None, band_features_shape[-1]))
        if self.use_face:
            if face_features_shape[-1] != self.feature_size:
                raise ValueError(
                    f"GlimpseFusion expects face features [B, {self.feature_size}], got {face_features_shape}"
                )
            self.missing_face_embedding = self.add_weight(
                name="missing_face_embedding", shape=(self.feature_size,), initializer="zeros"
            )
        self.location_embedding.build((None, 1))
        self.shared_lstm.build((None, self.feature_size + self.location_embedding_size + 1))
        self.built = True

    def call(
        self,
        band_features,
        face_features,
        face_present,
        location,
        previous_hidden,
        eeg_state,
        face_state,
        training=None,
    ):
        batch = keras.ops.shape(location)[0]
        location_features = self.location_embedding(keras.ops.reshape(keras.ops.cast(location, "float32"), (-1, 1)))
        stream_inputs = []
        stream_states = []
        band_weights = keras.ops.zeros((batch, 3), "float32")
        if self.use_eeg:
            attended, band_weights = self.band_attention(band_features, previous_hidden)
            stream_inputs.append(
                keras.ops.concatenate(
                    [self.eeg_projection(attended), location_features, keras.ops.ones((batch, 1), "float32")], axis=-1
                )
            )
            stream_states.append(eeg_state)
        if self.use_face:
            present = keras.ops.reshape(keras.ops.cast(face_present, "float32"), (-1, 1))
            missing = keras.ops.broadcast_to(self.missing_face_embedding[None, :], keras.ops.shape(face_features))
            face_vector = keras.ops.where(present > 0.5, face_features, missing)
            stream_inputs.append(keras.ops.concatenate([face_vector, location_features, present], axis=-1))
            stream_states.append(face_state)
        # The two weight-shared LSTMs are one cell applied to both streams: stacking the streams along the
        # batch axis computes exactly the two separate applications, in one call.
        inputs = keras.ops.concatenate(stream_inputs, axis=0) if len(stream_inputs) > 1 else stream_inputs[0]
        states = keras.ops.concatenate(stream_states, axis=0) if len(stream_states) > 1 else stream_states[0]
        hidden, (hidden, cell) = self.shared_lstm(inputs, [states[:, 0], states[:, 1]], training=training)
        new_states = keras.ops.stack([hidden, cell], axis=1)
        if len(stream_inputs) > 1:
            eeg_state, face_state = keras.ops.split(new_states, 2, axis=0)
            glimpse = keras.ops.concatenate(keras.ops.split(hidden, 2, axis=0), axis=-1)
        elif self.use_eeg:
            eeg_state, glimpse = new_states, hidden
        else:
            face_state, glimpse = new_states, hidden
        return glimpse, eeg_state, face_state, band_weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "feature_size": self.feature_size,
                "glimpse_hidden_size": self.glimpse_hidden_size,
                "location_embedding_size": self.location_embedding_size,
                "use_eeg": self.use_eeg,
                "use_face": self.use_face,
            }
        )
        return config

    def compute_output_shape(
        self,
        band_features_shape,
        face_features_shape,
        face_present_shape,
        location_shape,
        previous_hidden_shape,
        eeg_state_shape,
        face_state_shape,
    ):
        batch = location_shape[0]
        return (batch, self.glimpse_size), tuple(eeg_state_shape), tuple(face_state_shape), (batch, 3)
