"""The glimpse part of the recurrent attention: what the model sees at the frame it chose (paper IV.A, Fig. 3)."""

import keras

from emorecog.layers.band_attention import BandAttention
from emorecog.layers.eeg_normalization import EEGNormalization
from emorecog.layers.face_encoder import FaceEncoder
from emorecog.layers.location_network import location_to_frame


@keras.saving.register_keras_serializable(package="emorecog")
class GlimpseNetwork(keras.layers.Layer):
    """Read both streams at location f_n and fuse them with two weight-shared LSTMs (the first LSTM layer).

    With t_n = round((f_n + 1) / 2 * (T - 1)) the glimpsed frame:

        e_n, theta_n = BandAttention(normalise(EEG[t_n]), h_{n-1})          (eq. 1-2)
        x_e   = ReLU(W_e e_n + b_e)
        x_v   = FaceEncoder(face[t_n])     if a face was found at t_n
              = v_missing                  otherwise (a learned "no face" embedding)
        l_n   = ReLU(W_l f_n + b_l)                                          (where the glimpse was taken)
        h_e, c_e = LSTM_shared([x_e, l_n, 1],             (h_e, c_e))        one cell, two states:
        h_v, c_v = LSTM_shared([x_v, l_n, present(t_n)],  (h_v, c_v))        the paper's "two LSTMs with
        g_n   = [h_e ; h_v]                                                   shared parameters"; fusion

    x_e and x_v have the same size so one `keras.layers.LSTMCell` can read both. A missing face never
    passes through the face encoder's output (the crop of a frame without a face is blank, and its
    encoding would look like a face to the LSTM); the presence flag is an input too, so the cell can
    tell a real "no face" from a face that happens to resemble the embedding. EEG is always present.

    With `use_eeg=False` or `use_face=False` (the face-only / EEG-only ablations) the missing stream is
    neither encoded nor fused (g_n has one half), its state passes through unchanged and its band
    weights are zeros.

    Args:
        feature_size: size of x_e and x_v (and of the face encoder's output).
        band_feature_size: size of each per-band EEG feature (BandAttention).
        band_pool_size: average pooling of the band images before the per-band FC (BandAttention).
        glimpse_hidden_size: size of the shared first-layer LSTM state, per modality.
        location_embedding_size: size of l_n.
        face_filters: filters of the face encoder's convs (the first one embeds patches).
        face_patch_size: the face encoder's patch size.
        use_eeg: read the EEG stream.
        use_face: read the face stream.
        band_mean: per-band mean of the raw EEG band energies (training split).
        band_std: per-band standard deviation of the raw EEG band energies (training split).

    Call arguments:
        eeg: float tensor [B, T, H, W, 3], raw band images.
        face: uint8 tensor [B, T, S, S, 3], face crops.
        face_present: float tensor [B, T], 1 where a face was found.
        location: float tensor [B], f_n in [-1, 1].
        previous_hidden: float tensor [B, r], h_{n-1} of the core (conditions the band attention).
        eeg_state: float tensor [B, 2, glimpse_hidden_size], (h_e, c_e).
        face_state: float tensor [B, 2, glimpse_hidden_size], (h_v, c_v).

    Returns:
        A tuple (glimpse g_n [B, glimpse_size], eeg_state, face_state, band_weights [B, 3]) where
        glimpse_size = glimpse_hidden_size x number of streams used.

    The two halves are available separately for models that encode many frames at once:
    `encode(eeg_frames, face_frames)` and `fuse(band_features, face_features, ...)`.

    Example:
        >>> network = GlimpseNetwork(feature_size=16, band_feature_size=16, glimpse_hidden_size=8,
        ...                          location_embedding_size=4, face_filters=(4,))
        >>> outputs = network(keras.ops.zeros((2, 10, 32, 32, 3)), keras.ops.zeros((2, 10, 64, 64, 3), "uint8"),
        ...                   keras.ops.ones((2, 10)), keras.ops.zeros((2,)), keras.ops.zeros((2, 12)),
        ...                   keras.ops.zeros((2, 2, 8)), keras.ops.zeros((2, 2, 8)))
        >>> outputs[0].shape
        (2, 16)
    """

    def __init__(
        self,
        feature_size=64,
        band_feature_size=64,
        band_pool_size=2,
        glimpse_hidden_size=32,
        location_embedding_size=16,
        face_filters=(16, 32),
        face_patch_size=4,
        use_eeg=True,
        use_face=True,
        band_mean=(0.0, 0.0, 0.0),
        band_std=(1.0, 1.0, 1.0),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (use_eeg or use_face):
            raise ValueError("GlimpseNetwork needs at least one stream: use_eeg and use_face are both False")
        self.feature_size = int(feature_size)
        self.band_feature_size = int(band_feature_size)
        self.band_pool_size = int(band_pool_size)
        self.glimpse_hidden_size = int(glimpse_hidden_size)
        self.location_embedding_size = int(location_embedding_size)
        self.face_filters = tuple(int(value) for value in face_filters)
        self.face_patch_size = int(face_patch_size)
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)
        self.band_mean = tuple(float(value) for value in band_mean)
        self.band_std = tuple(float(value) for value in band_std)

        self.eeg_normalization = EEGNormalization(self.band_mean, self.band_std, name="eeg_normalization")
        self.band_attention = (
            BandAttention(self.band_feature_size, self.band_pool_size, name="band_attention") if self.use_eeg else None)
        self.eeg_projection = (
            keras.layers.Dense(self.feature_size, activation="relu", name="eeg_projection") if self.use_eeg else None)
        self.face_encoder = (
            FaceEncoder(self.face_filters, self.feature_size, self.face_patch_size, name="face_encoder")
            if self.use_face else None)
        self.location_embedding = keras.layers.Dense(
            self.location_embedding_size, activation="relu", name="location_embedding")
        self.shared_lstm = keras.layers.LSTMCell(self.glimpse_hidden_size, name="shared_lstm")

    @property
    def glimpse_size(self):
        """Size of the fused glimpse g_n."""
        return self.glimpse_hidden_size * (int(self.use_eeg) + int(self.use_face))

    def build(self, eeg_shape, face_shape, face_present_shape, location_shape, previous_hidden_shape,
              eeg_state_shape, face_state_shape):
        if len(eeg_shape) != 5 or len(face_shape) != 5:
            raise ValueError(
                f"GlimpseNetwork expects eeg [B, T, H, W, 3] and face [B, T, S, S, 3], got {eeg_shape} and "
                f"{face_shape}")
        self.eeg_normalization.build((None, *eeg_shape[2:]))
        if self.use_eeg:
            self.band_attention.build((None, *eeg_shape[2:]), (None, previous_hidden_shape[-1]))
            self.eeg_projection.build((None, self.band_feature_size))
        if self.use_face:
            self.face_encoder.build((None, *face_shape[2:]))
            self.missing_face_embedding = self.add_weight(
                name="missing_face_embedding", shape=(self.feature_size,), initializer="zeros")
        self.location_embedding.build((None, 1))
        self.shared_lstm.build((None, self.feature_size + self.location_embedding_size + 1))
        self.built = True

    def encode(self, eeg_frames, face_frames):
        """Features of frames that do not depend on the state.

        Args:
            eeg_frames: float [B, H, W, 3] raw band images.
            face_frames: uint8 [B, S, S, 3] face crops.

        Returns:
            (band_features [B, 3, band_feature_size] or None, face_features [B, feature_size] or None).
        """
        band_features = None
        face_features = None
        if self.use_eeg:
            band_features = self.band_attention.band_features(self.eeg_normalization(eeg_frames))
        if self.use_face:
            face_features = self.face_encoder(face_frames)
        return band_features, face_features

    def fuse(self, band_features, face_features, face_present, location, previous_hidden, eeg_state, face_state,
             training=None):
        """The state-dependent half: band attention, missing-face handling, the shared LSTM, fusion.

        Args:
            band_features: [B, 3, band_feature_size] from `encode` (ignored without EEG).
            face_features: [B, feature_size] from `encode` (ignored without face).
            face_present: float [B], 1 where a face was found in the glimpsed frame.
            location: float [B], f_n.
            previous_hidden, eeg_state, face_state: as in `call`.

        Returns:
            As `call`.
        """
        batch = keras.ops.shape(location)[0]
        location_features = self.location_embedding(keras.ops.reshape(keras.ops.cast(location, "float32"), (-1, 1)))
        stream_inputs = []
        stream_states = []
        band_weights = keras.ops.zeros((batch, 3), "float32")
        if self.use_eeg:
            attended, band_weights = self.band_attention.attend(band_features, previous_hidden)
            stream_inputs.append(keras.ops.concatenate(
                [self.eeg_projection(attended), location_features, keras.ops.ones((batch, 1), "float32")], axis=-1))
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

    def call(self, eeg, face, face_present, location, previous_hidden, eeg_state, face_state, training=None):
        import tensorflow as tf

        frames = location_to_frame(location, keras.ops.shape(eeg)[1])
        eeg_frames = tf.gather(eeg, frames, axis=1, batch_dims=1) if self.use_eeg else eeg[:, 0]
        face_frames = tf.gather(face, frames, axis=1, batch_dims=1) if self.use_face else face[:, 0]
        present = tf.gather(face_present, frames, axis=1, batch_dims=1)
        band_features, face_features = self.encode(eeg_frames, face_frames)
        return self.fuse(band_features, face_features, present, location, previous_hidden, eeg_state, face_state,
                         training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "feature_size": self.feature_size,
            "band_feature_size": self.band_feature_size,
            "band_pool_size": self.band_pool_size,
            "glimpse_hidden_size": self.glimpse_hidden_size,
            "location_embedding_size": self.location_embedding_size,
            "face_filters": list(self.face_filters),
            "face_patch_size": self.face_patch_size,
            "use_eeg": self.use_eeg,
            "use_face": self.use_face,
            "band_mean": list(self.band_mean),
            "band_std": list(self.band_std),
        })
        return config

    def compute_output_shape(self, eeg_shape, face_shape, face_present_shape, location_shape, previous_hidden_shape,
                             eeg_state_shape, face_state_shape):
        batch = eeg_shape[0]
        return (batch, self.glimpse_size), tuple(eeg_state_shape), tuple(face_state_shape), (batch, 3)
