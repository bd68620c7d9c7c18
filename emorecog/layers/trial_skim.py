"""A cheap skim of every frame of a trial: where in the trial something happens (the policy's global memory)."""

import keras


def segment_of_frames(num_frames, num_segments):
    """The segment each frame belongs to: frame t at location f_t = 2t / (T - 1) - 1 lies in segment
    floor((f_t + 1) / 2 * K), the last frame in segment K - 1.

    Segments are equal parts of the location range [-1, 1], so a segment's centre is
    c_k = -1 + (2k + 1) / K and `location_to_frame(c_k)` is a frame inside it. With T < K some segments
    hold no frame.

    Args:
        num_frames: T, a Python int or an int scalar tensor (T >= 1).
        num_segments: K, a Python int.

    Returns:
        int32 tensor [T] with values in [0, K - 1].
    """
    frames = keras.ops.cast(keras.ops.arange(num_frames), "float32")
    last_frame = keras.ops.maximum(keras.ops.cast(num_frames, "float32") - 1.0, 1.0)
    segments = keras.ops.floor(frames / last_frame * num_segments)
    return keras.ops.cast(keras.ops.minimum(segments, num_segments - 1), "int32")


def segment_centres(num_segments):
    """Locations of the K segment centres in [-1, 1]: c_k = -1 + (2k + 1) / K, float32 [K]."""
    return (2.0 * keras.ops.cast(keras.ops.arange(num_segments), "float32") + 1.0) / num_segments - 1.0


def _standardised(values, weights):
    """(values - mean) / std over the frames (axis 1), with per-frame weights [B, T, 1] (0 = not counted and
    set to 0 in the result)."""
    import tensorflow as tf

    total = tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(values * weights, axis=1, keepdims=True) / total
    variance = tf.reduce_sum(tf.square(values - mean) * weights, axis=1, keepdims=True) / total
    return (values - mean) * tf.math.rsqrt(variance + 1e-4) * weights


@keras.saving.register_keras_serializable(package="emorecog")
class TrialSkim(keras.layers.Layer):
    """Read every frame once, coarsely, and summarise each of K segments of the trial for the policy.

    Per frame t (cheap statistics, no learned image encoder):

        e_t = regional means of the normalised band images on a G x G grid      [G * G * 3]
        v_t = grey levels of the face crop on a 4 x 4 grid (/255)                [16]
        x_t = [z(e_t) ; z(v_t) ; present_t]

    where z standardises each statistic over the trial's frames (the face's over the frames that have a
    face; frames without one get 0, the trial's mean). Then a small temporal network and a pooling per
    segment:

        y_t   = ReLU(conv1d_k(ReLU(W_x x_t + b_x)))_t                     per-frame projection, temporal conv
        s_k   = ReLU(W_s [mean_{t in k} y_t ; max_{t in k} y_t] + b_s)     segment k of K
        nu_k  = log mean_{t in k} mean_d z_d(t)^2                           novelty of segment k

    Standardising over the trial's own frames makes the skim see *changes within the trial* rather than a
    subject's overall level, which is what "where should I look" needs. The novelty nu_k (about 0 for a
    segment like the rest of the trial, larger where the EEG or the face departs from the trial's usual
    state) is a parameter-free prior the location policy starts from, so the first glimpses go to what stands
    out even before the policy has learned anything; the learned features s_k refine it. The skim is the
    global memory of AdaFrame (Wu et al., CVPR 2019) and OCSampler (CVPR 2022): it informs the location
    policy only; the classifier of the glimpse model never reads it (the `skim_only` ablation does).

    The face statistics read an 8 x 8 lattice of the crop's pixels (then 2 x 2 averages), so the skim's cost
    per frame does not grow with the crop size.

    Args:
        skim_size: D, the width of the learned features.
        num_segments: K, the number of segments of the trial.
        grid_size: G, the side of the EEG region grid (the image side must be a multiple of it).
        kernel_size: the temporal convolution's width, in frames.
        use_eeg: read the EEG band images.
        use_face: read the face crops and the face-present flags.
        band_mean: per-band mean of the raw EEG band energies (training split).
        band_std: per-band standard deviation of the raw EEG band energies (training split).

    Call arguments:
        eeg: float tensor [B, T, H, W, 3], raw band images.
        face: uint8 tensor [B, T, S, S, 3], face crops.
        face_present: float tensor [B, T], 1 where a face was found.

    Returns:
        A tuple (segment_features float32 [B, K, D], segment_novelty float32 [B, K], segment_available
        float32 [B, K]: 1 for segments that hold at least one frame; empty segments have features and novelty 0).

    Example:
        >>> skim = TrialSkim(skim_size=8, num_segments=4)
        >>> features, novelty, available = skim(keras.ops.ones((2, 20, 32, 32, 3)),
        ...                                     keras.ops.zeros((2, 20, 64, 64, 3), "uint8"), keras.ops.ones((2, 20)))
        >>> features.shape, novelty.shape, available.shape
        ((2, 4, 8), (2, 4), (2, 4))

    Reference:
        Wu et al., "AdaFrame: Adaptive Frame Selection for Fast Video Recognition", CVPR 2019.
    """

    FACE_GRID = 4

    def __init__(
        self,
        skim_size=32,
        num_segments=16,
        grid_size=4,
        kernel_size=5,
        use_eeg=True,
        use_face=True,
        band_mean=(0.0, 0.0, 0.0),
        band_std=(1.0, 1.0, 1.0),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (use_eeg or use_face):
            raise ValueError("TrialSkim needs at least one stream: use_eeg and use_face are both False")
        self.skim_size = int(skim_size)
        self.num_segments = int(num_segments)
        self.grid_size = int(grid_size)
        self.kernel_size = int(kernel_size)
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)
        self.band_mean = tuple(float(value) for value in band_mean)
        self.band_std = tuple(float(value) for value in band_std)
        if min(self.skim_size, self.num_segments, self.grid_size, self.kernel_size) < 1:
            raise ValueError(
                f"TrialSkim sizes must be >= 1, got skim_size={skim_size}, num_segments={num_segments}, "
                f"grid_size={grid_size}, kernel_size={kernel_size}"
            )
        if len(self.band_mean) != 3 or len(self.band_std) != 3 or min(self.band_std) <= 0.0:
            raise ValueError(f"TrialSkim needs 3 band means and 3 positive band stds, got {band_mean}, {band_std}")
        # The same band normalisation as the glimpse encoder's (the train split's statistics as constants).
        self.eeg_normalization = keras.layers.Normalization(
            axis=-1, mean=list(self.band_mean), variance=[std * std for std in self.band_std], name="eeg_normalization"
        )
        self.frame_projection = keras.layers.Dense(self.skim_size, activation="relu", name="frame_projection")
        self.temporal_convolution = keras.layers.Conv1D(
            self.skim_size, self.kernel_size, padding="same", activation="relu", name="temporal_convolution"
        )
        self.segment_projection = keras.layers.Dense(self.skim_size, activation="relu", name="segment_projection")

    @property
    def frame_statistics_size(self):
        """Size of x_t."""
        size = self.grid_size * self.grid_size * 3 if self.use_eeg else 0
        return size + (self.FACE_GRID * self.FACE_GRID + 1 if self.use_face else 0)

    def build(self, eeg_shape, face_shape, face_present_shape):
        if len(eeg_shape) != 5 or len(face_shape) != 5:
            raise ValueError(
                f"TrialSkim expects eeg [B, T, H, W, 3] and face [B, T, S, S, 3], got {eeg_shape} and {face_shape}"
            )
        if self.use_eeg and (eeg_shape[2] % self.grid_size or eeg_shape[3] % self.grid_size):
            raise ValueError(
                f"TrialSkim: EEG images {tuple(eeg_shape[2:4])} are not multiples of grid_size {self.grid_size}"
            )
        if self.use_face and (face_shape[2] < 2 * self.FACE_GRID or face_shape[3] < 2 * self.FACE_GRID):
            raise ValueError(
                f"TrialSkim: face crops {tuple(face_shape[2:4])} are smaller than "
                f"{2 * self.FACE_GRID} x {2 * self.FACE_GRID}"
            )
        self.eeg_normalization.build((None, 3))
        self.frame_projection.build((None, None, self.frame_statistics_size))
        self.temporal_convolution.build((None, None, self.skim_size))
        self.segment_projection.build((None, None, 2 * self.skim_size))
        self.built = True

    def frame_statistics(self, eeg, face, face_present):
        """x_t: float32 [B, T, frame_statistics_size] (standardised statistics, then the presence flag)."""
        import tensorflow as tf

        batch, num_frames = tf.shape(face_present)[0], tf.shape(face_present)[1]
        present = tf.cast(face_present, tf.float32)[:, :, None]
        parts = []
        if self.use_eeg:
            grid = self.grid_size
            height, width = eeg.shape[2], eeg.shape[3]
            # Region means of the raw images in two contiguous reductions (rows, then columns): reading the
            # [B, T, H, W, 3] tensor once is the skim's main cost, and a 7-D reduce_mean over axes (3, 5) is
            # several times slower. The normalisation is linear, so it is applied to the region means.
            rows = tf.reduce_mean(tf.reshape(tf.cast(eeg, tf.float32), [-1, height // grid, width * 3]), axis=1)
            regions = tf.reduce_mean(tf.reshape(rows, [-1, width // grid, 3]), axis=1)
            regions = self.eeg_normalization(regions)
            regions = tf.reshape(regions, [batch, num_frames, grid * grid * 3])
            parts.append(_standardised(regions, tf.ones_like(present)))
        if self.use_face:
            # A fixed 8 x 8 lattice of pixels (gathered: a strided slice of a 5-D uint8 tensor is ~15x slower),
            # averaged 2 x 2 into the 4 x 4 grid.
            lattice = 2 * self.FACE_GRID
            rows = [int((index + 0.5) * face.shape[2] / lattice) for index in range(lattice)]
            columns = [int((index + 0.5) * face.shape[3] / lattice) for index in range(lattice)]
            sampled = tf.gather(tf.gather(face, rows, axis=2), columns, axis=3)
            grey = tf.reduce_mean(tf.cast(sampled, tf.float32), axis=-1) / 255.0
            cells = tf.reshape(grey, [batch, num_frames, self.FACE_GRID, 2, self.FACE_GRID, 2])
            face_grid = tf.reshape(tf.reduce_mean(cells, axis=[3, 5]), [batch, num_frames, self.FACE_GRID**2])
            parts.extend([_standardised(face_grid, present), present])
        return tf.concat(parts, axis=-1)

    def call(self, eeg, face, face_present):
        import tensorflow as tf

        statistics = self.frame_statistics(eeg, face, face_present)
        frame_features = self.temporal_convolution(self.frame_projection(statistics))
        # The presence flag is last and not standardised: it is not a measure of novelty.
        standardised = statistics[:, :, :-1] if self.use_face else statistics
        frame_novelty = tf.reduce_mean(tf.square(standardised), axis=-1)

        num_frames = tf.shape(face_present)[1]
        membership = tf.one_hot(segment_of_frames(num_frames, self.num_segments), self.num_segments)  # [T, K]
        counts = tf.reduce_sum(membership, axis=0)  # [K]
        segment_mean = tf.einsum("btd,tk->bkd", frame_features, membership) / tf.maximum(counts, 1.0)[:, None]
        # Features are ReLU outputs (>= 0), so masking non-members with 0 gives the segment's max.
        segment_max = tf.reduce_max(frame_features[:, :, None, :] * membership[None, :, :, None], axis=1)
        available = tf.tile(tf.cast(counts > 0, tf.float32)[None], [tf.shape(face_present)[0], 1])
        segment_features = (
            self.segment_projection(tf.concat([segment_mean, segment_max], axis=-1)) * available[..., None]
        )
        novelty = tf.math.log(tf.einsum("bt,tk->bk", frame_novelty, membership) / tf.maximum(counts, 1.0) + 1e-3)
        return segment_features, novelty * available, available

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "skim_size": self.skim_size,
                "num_segments": self.num_segments,
                "grid_size": self.grid_size,
                "kernel_size": self.kernel_size,
                "use_eeg": self.use_eeg,
                "use_face": self.use_face,
                "band_mean": list(self.band_mean),
                "band_std": list(self.band_std),
            }
        )
        return config

    def compute_output_shape(self, eeg_shape, face_shape, face_present_shape):
        batch = eeg_shape[0]
        return (batch, self.num_segments, self.skim_size), (batch, self.num_segments), (batch, self.num_segments)
