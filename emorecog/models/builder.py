"""`build_model`: the one place a `ModelConfig` becomes a built, compiled Keras model."""

import inspect

from emorecog import features


def model_class(config):
    """The model class `config.variant` selects."""
    from emorecog.models.full_sequence_model import FullSequenceModel
    from emorecog.models.glimpse_model import GlimpseModel
    from emorecog.models.skim_only_model import SkimOnlyModel

    return {"glimpse": GlimpseModel, "full_sequence": FullSequenceModel, "skim_only": SkimOnlyModel}[config.variant]


def model_kwargs(config, model_type, eeg_band_mean=(0.0, 0.0, 0.0), eeg_band_std=(1.0, 1.0, 1.0)):
    """The constructor kwargs of `model_type` from `config` (config flows one way).

    Every constructor argument of the class and its emorecog bases that names a `ModelConfig` field is taken
    from the config, so a new hyper-parameter needs no copying here; the EEG statistics come from the data.
    """
    accepted = set()
    for klass in model_type.__mro__:
        if klass.__module__.startswith("emorecog.") and "__init__" in vars(klass):
            accepted.update(
                name
                for name, parameter in inspect.signature(klass.__init__).parameters.items()
                if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and name != "self"
            )
    values = config.to_dict()
    kwargs = {name: values[name] for name in sorted(accepted) if name in values}
    kwargs["band_mean"] = tuple(float(value) for value in eeg_band_mean)
    kwargs["band_std"] = tuple(float(value) for value in eeg_band_std)
    return kwargs


def build_model(
    config, sample_shape, eeg_band_mean=(0.0, 0.0, 0.0), eeg_band_std=(1.0, 1.0, 1.0), training_config=None
):
    """Build and compile the model a `ModelConfig` describes, for samples of `sample_shape`.

    The global Keras/NumPy/TF seeds are set from `config.seed` first, so the same config gives the same
    initial weights (and, with the model's own seed generator, the same training run on the same data).

    Args:
        config: a `ModelConfig`.
        sample_shape: the `emorecog.features.SampleShape` of the data.
        eeg_band_mean: per-band (theta, alpha, beta) mean of the raw EEG band energies, training split only.
        eeg_band_std: per-band standard deviation, training split only (positive).
        training_config: the `TrainingConfig` whose optimiser settings to compile with (None: its defaults).

    Returns:
        A `GlimpseModel` (variant "glimpse"), a `FullSequenceModel` ("full_sequence") or a `SkimOnlyModel`
        ("skim_only"), called once on zeros (so every weight exists) and compiled with Adam (learning rate
        and gradient clipping from `training_config`). Not XLA-compiled: the glimpse loop's data-dependent length
        is not.
    """
    import keras
    import numpy as np

    from emorecog.training.training_config import TrainingConfig

    training_config = TrainingConfig() if training_config is None else training_config
    if not isinstance(sample_shape, features.SampleShape):
        raise TypeError(f"sample_shape must be an emorecog.features.SampleShape, got {type(sample_shape).__name__}")
    keras.utils.set_random_seed(config.seed)
    model_type = model_class(config)
    model = model_type(
        **model_kwargs(config, model_type, eeg_band_mean, eeg_band_std),
        name=f"emorecog_{config.variant}_{config.ablation}",
    )
    zeros = {
        features.EEG_KEY: np.zeros((1, *sample_shape.eeg_shape), "float32"),
        features.FACE_KEY: np.zeros((1, *sample_shape.face_shape), "uint8"),
        features.FACE_PRESENT_KEY: np.zeros((1, sample_shape.num_frames), "float32"),
    }
    model(zeros, training=False)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=training_config.learning_rate, clipnorm=training_config.gradient_clip_norm
        ),
        jit_compile=False,
    )
    # Create the optimizer's slots now, so a weights checkpoint carries them and resuming restores them.
    model.optimizer.build(model.trainable_variables)
    return model
