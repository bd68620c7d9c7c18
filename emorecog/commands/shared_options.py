"""Click options that several commands share, defined once so their names, defaults and help agree."""

import click

from emorecog.models.model_config import ABLATIONS


def model_training_options(function):
    """--target, --epochs, --ablation, --config (-> target, epochs, ablation, config_file)."""
    options = (
        click.option("--target", type=click.Choice(["valence", "arousal"]), default="valence", show_default=True,
                     help="Which binary label to learn."),
        click.option("--epochs", type=int, default=20, show_default=True,
                     help="Total epochs (a resumed run continues up to this number)."),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                     help="JSON object of ModelConfig fields overriding the paper's defaults."),
        click.option("--ablation", type=click.Choice(ABLATIONS), default="full", show_default=True,
                     help="Model variant of the paper's ablations (LSTM depth: core_layers in --config)."),
    )
    for option in reversed(options):
        function = option(function)
    return function


def sample_shape_options(function):
    """--fps, --image-size, --face-size (-> fps, image_size, face_size)."""
    options = (
        click.option("--fps", type=int, default=8, show_default=True,
                     help="Frames per second of a sample (T = 60 s x fps)."),
        click.option("--image-size", type=int, default=32, show_default=True, help="H = W of the EEG band images."),
        click.option("--face-size", type=int, default=64, show_default=True, help="Side S of the face crops."),
    )
    for option in reversed(options):
        function = option(function)
    return function


def model_config_from_options(ablation, config_file):
    """The ModelConfig of --ablation with the fields of --config (a JSON object) on top."""
    import json

    from emorecog.models.model_config import ModelConfig

    overrides = {}
    if config_file:
        with open(config_file) as handle:
            try:
                overrides = json.load(handle)
            except json.JSONDecodeError as error:
                raise click.BadParameter(f"{config_file} is not JSON: {error}", param_hint="--config") from None
        if not isinstance(overrides, dict):
            raise click.BadParameter(f"{config_file} must hold a JSON object of ModelConfig fields",
                                     param_hint="--config")
    try:
        return ModelConfig.for_ablation(ablation, **overrides)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from error
