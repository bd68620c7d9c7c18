"""Face crop -> feature vector x_v: a small convolutional stem, then the paper's fully connected layer."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class FaceEncoder(keras.layers.Layer):
    """Encode a face crop into the feature vector x_v of the glimpse (paper Fig. 2, "FC algorithm").

    x = pixels / 255;  z = conv_k(... conv_1(x));  x_v = ReLU(W vec(z) + b)

    conv_1 embeds non-overlapping patch_size x patch_size patches (kernel = stride = patch_size, a
    "patchify" stem); each further conv is 3x3, stride 2; all ReLU. Why a stem before the FC (a deviation
    from the paper's pure FC on 227x227 crops): an FC on raw pixels of a 64x64x3 crop already needs
    12288 x F weights, scales with the crop area, and is not tolerant to the small shifts a face detector's
    box has from frame to frame; the stem shrinks a 64x64 crop to 8x8 (patch 4, then one stride-2 conv)
    with a few thousand weights, and the FC then sees local features. The patchify first layer keeps the
    per-glimpse cost low (it runs once per glimpse, often at batch 1 when serving).

    Args:
        filters: number of filters of each conv (one conv per entry; the first is the patch embedding).
        feature_size: F, size of x_v.
        patch_size: side of the first conv's patches (its kernel and stride).

    Call arguments:
        face: uint8 or float tensor [B, S, S, 3], pixel values 0..255.

    Returns:
        float32 tensor [B, F].

    Example:
        >>> FaceEncoder(filters=(8, 16), feature_size=32)(keras.ops.zeros((4, 64, 64, 3), "uint8")).shape
        (4, 32)
    """

    def __init__(self, filters=(16, 32), feature_size=64, patch_size=4, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(value) for value in filters)
        self.feature_size = int(feature_size)
        self.patch_size = int(patch_size)
        if not self.filters or self.patch_size < 1:
            raise ValueError(
                f"FaceEncoder needs at least one conv and patch_size >= 1, got filters={self.filters}, "
                f"patch_size={self.patch_size}"
            )
        self.convolutions = [
            keras.layers.Conv2D(
                self.filters[0],
                self.patch_size,
                strides=self.patch_size,
                padding="valid",
                activation="relu",
                name="convolution_0",
            )
        ] + [
            keras.layers.Conv2D(count, 3, strides=2, padding="same", activation="relu", name=f"convolution_{index}")
            for index, count in enumerate(self.filters[1:], start=1)
        ]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.projection = keras.layers.Dense(self.feature_size, activation="relu", name="projection")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(f"FaceEncoder expects face crops [B, S, S, 3], got shape {input_shape}")
        if input_shape[1] < self.patch_size or input_shape[2] < self.patch_size:
            raise ValueError(f"FaceEncoder: crops {input_shape[1:3]} are smaller than patch_size {self.patch_size}")
        shape = (None, *input_shape[1:])
        for convolution in self.convolutions:
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
        self.projection.build((None, shape[1] * shape[2] * shape[3]))
        self.built = True

    def call(self, face):
        features = keras.ops.cast(face, "float32") / 255.0
        for convolution in self.convolutions:
            features = convolution(features)
        return self.projection(self.flatten(features))

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters), "feature_size": self.feature_size, "patch_size": self.patch_size})
        return config

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.feature_size)
