"""`FullSequenceModel`: the paper's "without temporal attention" baseline, reading every frame in order."""

import keras

from emorecog.models.recurrent_model_base import RecurrentModelBase


@keras.saving.register_keras_serializable(package="emorecog")
class FullSequenceModel(RecurrentModelBase):
    """The same network as `GlimpseModel` without the location policy: it steps through all T frames.

        for t = 0 .. T - 1:   s_t = recurrent_step(EEG[t], face[t], f_t = 2t / (T - 1) - 1, s_{t-1})
        p = softmax(W [H'_T ; C'_T] + b)

    Band attention, the weight-shared first LSTM layer, the stacked core and the inter-layer attention
    are unchanged, so comparing the two models isolates the temporal attention (paper section V,
    "fusion without temporal attention"). The state-independent encoders run over chunks of
    `encoder_chunk_frames` frames at once (vectorised; the chunking bounds memory for long samples); the
    recurrence is a `tf.while_loop` over T. Loss: CE - lambda P (no policy: the REINFORCE, baseline and
    entropy terms and the reward are reported as 0).

    Args:
        encoder_chunk_frames: frames per encoder chunk.
        **kwargs: the shared hyper-parameters of `RecurrentModelBase` (see `ModelConfig`).

    Call arguments:
        inputs: dict with eeg float32 [B, T, H, W, 3], face uint8 [B, T, S, S, 3], face_present float32 [B, T].
        training: apply dropout.

    Returns:
        The keys of `GlimpseModel` with N_max replaced by T: probabilities float32 [B, 2], class_id int64 [B],
        glimpse_frames int32 [B, T] (0, 1, ..., T - 1), glimpse_count int32 [B] (= T), band_weights float32
        [B, T, 3], layer_weights float32 [B, T, 2, L].
    """

    def __init__(self, encoder_chunk_frames, **kwargs):
        super().__init__(**kwargs)
        if int(encoder_chunk_frames) < 1:
            raise ValueError(f"FullSequenceModel encoder_chunk_frames must be >= 1, got {encoder_chunk_frames}")
        self.encoder_chunk_frames = int(encoder_chunk_frames)

    def encode_all_frames(self, eeg, face):
        """Time-major `GlimpseEncoder` features: (band_features [T, B, 3, F], face [T, B, F]); [T, B, 0] for a
        stream the model does not read."""
        import tensorflow as tf

        batch = tf.shape(eeg)[0]
        num_frames = tf.shape(eeg)[1]
        chunk = self.encoder_chunk_frames
        chunks = (num_frames + chunk - 1) // chunk
        padding = chunks * chunk - num_frames

        def chunked(stream):
            time_major = tf.transpose(stream, [1, 0, *range(2, stream.shape.rank)])
            time_major = tf.pad(time_major, [[0, padding]] + [[0, 0]] * (stream.shape.rank - 1))
            return tf.reshape(time_major, [chunks, chunk * batch, *stream.shape[2:]])

        @tf.autograph.experimental.do_not_convert  # plain TF ops: nothing for autograph to convert
        def encode(chunk_frames):
            return tuple(self.glimpse_encoder(*chunk_frames))

        eeg_chunks = chunked(eeg) if self.use_eeg else tf.zeros([chunks, chunk * batch, 1, 1, 3])
        face_chunks = chunked(face) if self.use_face else tf.zeros([chunks, chunk * batch, 1, 1, 3], face.dtype)
        band_shape = [3, self.band_feature_size] if self.use_eeg else [0]
        face_shape = [self.feature_size] if self.use_face else [0]
        band_features, face_features = tf.map_fn(
            encode,
            (eeg_chunks, face_chunks),
            fn_output_signature=(
                tf.TensorSpec([None, *band_shape], tf.float32),
                tf.TensorSpec([None, *face_shape], tf.float32),
            ),
            parallel_iterations=1,
        )

        def time_major(encoded, trailing):
            return tf.reshape(encoded, [chunks * chunk, batch, *trailing])[:num_frames]

        return time_major(band_features, band_shape), time_major(face_features, face_shape)

    def forward(self, inputs, training=False, with_losses=True):
        import tensorflow as tf

        eeg, face, face_present = self.read_inputs(inputs)
        batch = tf.shape(eeg)[0]
        num_frames = tf.shape(eeg)[1]
        band_features, face_features = self.encode_all_frames(eeg, face)
        present_time_major = tf.transpose(face_present, [1, 0])
        frame_locations = tf.linspace(-1.0, 1.0, num_frames)

        records_states = with_losses and self.step_classification_weight > 0.0

        def body(loop):
            step = loop["step"]
            state, band_weights, layer_weights = self.recurrent_step(
                band_features[step],
                face_features[step],
                present_time_major[step],
                tf.fill([batch], frame_locations[step]),
                loop["state"],
                training=training,
            )
            traces = {
                "band_weights": loop["traces"]["band_weights"].write(step, band_weights),
                "layer_weights": loop["traces"]["layer_weights"].write(step, layer_weights),
            }
            if records_states:
                traces["states"] = loop["traces"]["states"].write(
                    step, tf.concat([state.summary_hidden, state.summary_cell], axis=-1)
                )
            return {"step": step + 1, "state": state, "traces": traces}

        traces = {name: tf.TensorArray(tf.float32, size=num_frames) for name in ("band_weights", "layer_weights")}
        if records_states:
            traces["states"] = tf.TensorArray(tf.float32, size=num_frames)
        loop = {"step": tf.constant(0), "state": self.initial_state(batch), "traces": traces}
        loop = tf.while_loop(lambda loop: loop["step"] < num_frames, lambda loop: (body(loop),), (loop,))[0]
        summary_hidden, summary_cell = loop["state"].summary_hidden, loop["state"].summary_cell
        band_trace, layer_trace = loop["traces"]["band_weights"], loop["traces"]["layer_weights"]

        band_weights = tf.transpose(band_trace.stack(), [1, 0, 2])
        layer_weights = tf.transpose(layer_trace.stack(), [1, 0, 2, 3])
        glimpse_frames = tf.tile(tf.range(num_frames, dtype=tf.int32)[None, :], [batch, 1])
        glimpse_count = tf.fill([batch], num_frames)
        logits = self.classify_state(summary_hidden, summary_cell, training=training)
        outputs = self.model_outputs(logits, glimpse_frames, glimpse_count, band_weights, layer_weights)
        step_logits = None
        if records_states:
            step_states = tf.transpose(loop["traces"]["states"].stack(), [1, 0, 2])
            step_logits = self.classify_state(
                step_states[..., : self.hidden_size], step_states[..., self.hidden_size :], training=training
            )
        internals = {
            "logits": logits,
            "step_logits": step_logits,
            "step_mask": tf.ones([batch, num_frames]),
            "penalty": self.layer_penalty(layer_weights, tf.ones([batch, num_frames])),
            "glimpse_count": glimpse_count,
            "action_log_probs": None,
        }
        return outputs, internals

    def get_config(self):
        config = super().get_config()
        config.update({"encoder_chunk_frames": self.encoder_chunk_frames})
        return config
