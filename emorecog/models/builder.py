"""`build_model`: the one place a `ModelConfig` becomes a built, compiled Keras model."""

from emorecog import features


def model_kwargs(config, eeg_band_mean=(0.0, 0.0, 0.0), eeg_band_std=(1.0, 1.0, 1.0)):
    """The plain constructor kwargs of the model class `config.variant` selects (config flows one way)."""
    shared = {
        "use_eeg": config.use_eeg,
        "use_face": config.use_face,
        "use_layer_attention": config.use_layer_attention,
        "core_layers": config.core_layers,
        "hidden_size": config.hidden_size,
        "glimpse_hidden_size": config.glimpse_hidden_size,
        "feature_size": config.feature_size,
        "band_feature_size": config.band_feature_size,
        "band_pool_size": config.band_pool_size,
        "face_filters": config.face_filters,
        "face_patch_size": config.face_patch_size,
        "location_embedding_size": config.location_embedding_size,
        "attention_size": config.attention_size,
        "dropout": config.dropout,
        "penalty_weight": config.penalty_weight,
        "step_classification_weight": config.step_classification_weight,
        "reward_scale": config.reward_scale,
        "reward_correct": config.reward_correct,
        "reward_wrong": config.reward_wrong,
        "sparsity_weight": config.sparsity_weight,
        "band_mean": tuple(float(value) for value in eeg_band_mean),
        "band_std": tuple(float(value) for value in eeg_band_std),
        "seed": config.seed,
    }
    if config.variant == "glimpse":
        shared.update({
            "max_glimpses": config.max_glimpses,
            "location_std": config.location_std,
            "baseline_hidden_size": config.baseline_hidden_size,
        })
    return shared


def build_model(config, sample_shape, eeg_band_mean=(0.0, 0.0, 0.0), eeg_band_std=(1.0, 1.0, 1.0)):
    """Build and compile the model a `ModelConfig` describes, for samples of `sample_shape`.

    The global Keras/NumPy/TF seeds are set from `config.seed` first, so the same config gives the same
    initial weights (and, with the model's own seed generator, the same training run on the same data).

    Args:
        config: a `ModelConfig`.
        sample_shape: the `emorecog.features.SampleShape` of the data.
        eeg_band_mean: per-band (theta, alpha, beta) mean of the raw EEG band energies, training split only.
        eeg_band_std: per-band standard deviation, training split only (positive).

    Returns:
        An `EmoRecogModel` (variant "glimpse") or a `FullSequenceModel` (variant "full_sequence"), called
        once on zeros (so every weight exists) and compiled with Adam (learning rate and global gradient
        clipping from the config). Not XLA-compiled: the glimpse loop's data-dependent length is not.
    """
    import keras
    import numpy as np

    from emorecog.models.emo_recog_model import EmoRecogModel
    from emorecog.models.full_sequence_model import FullSequenceModel

    if not isinstance(sample_shape, features.SampleShape):
        raise TypeError(f"sample_shape must be an emorecog.features.SampleShape, got {type(sample_shape).__name__}")
    keras.utils.set_random_seed(config.seed)
    model_class = EmoRecogModel if config.variant == "glimpse" else FullSequenceModel
    model = model_class(**model_kwargs(config, eeg_band_mean, eeg_band_std),
                        name=f"emorecog_{config.variant}_{config.ablation}")
    zeros = {
        features.EEG_KEY: np.zeros((1, *sample_shape.eeg_shape), "float32"),
        features.FACE_KEY: np.zeros((1, *sample_shape.face_shape), "uint8"),
        features.FACE_PRESENT_KEY: np.zeros((1, sample_shape.num_frames), "float32"),
    }
    model(zeros, training=False)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.gradient_clip_norm),
        jit_compile=False,
    )
    # Create the optimizer's slots now, so a weights checkpoint carries them and resuming restores them.
    model.optimizer.build(model.trainable_variables)
    return model
