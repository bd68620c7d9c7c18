"""Click options that several commands share, defined once so their names, defaults and help agree."""

import dataclasses
import functools
import re

import click

from emorecog.models.model_config import ABLATIONS


def model_options(function):
    """--ablation and --config (a JSON object of ModelConfig fields); the command receives `model_config`."""

    @functools.wraps(function)
    def wrapper(**kwargs):
        kwargs["model_config"] = _model_config_from_options(kwargs.pop("ablation"), kwargs.pop("config_file"))
        return function(**kwargs)

    wrapper = click.option(
        "--ablation",
        type=click.Choice(ABLATIONS),
        default="full",
        show_default=True,
        help="Model variant of the paper's ablations (LSTM depth: core_layers in --config).",
    )(wrapper)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        help="JSON object of ModelConfig fields overriding the paper's defaults.",
    )(wrapper)


def training_options(function):
    """One flag per `TrainingConfig` field (--target, --epochs, --batch-size, --learning-rate, ...), generated
    from the dataclass; the command receives `training_config` (a validated `TrainingConfig`)."""
    from emorecog.training.training_config import TrainingConfig

    return _config_options(function, TrainingConfig, "training_config", _TRAINING_HELP_OVERRIDES)


def source_options(function):
    """--deap DIR | --mahnob DIR | --manifest FILE, exactly one (-> source = (format, path))."""
    sources = (
        (
            "deap",
            "--deap",
            click.Path(exists=True, file_okay=False),
            "DEAP directory (data_preprocessed_python/ or _matlab/, face_video/, metadata_csv/), real or written by "
            "`emorecog synth`.",
        ),
        (
            "mahnob",
            "--mahnob",
            click.Path(exists=True, file_okay=False),
            "MAHNOB-HCI folder holding Sessions/<id>/ (session.xml, the .bdf recording, the colour video), real or "
            "written by `emorecog synth --format mahnob`.",
        ),
        (
            "manifest",
            "--manifest",
            click.Path(exists=True, dir_okay=False),
            "CSV manifest of your own recordings (EDF/BDF/FIF/BrainVision/EEGLAB, optional videos; columns in the "
            "README).",
        ),
    )

    @functools.wraps(function)
    def wrapper(**kwargs):
        given = [(name, kwargs.pop(f"{name}_source")) for name, *_ in sources]
        given = [(name, path) for name, path in given if path is not None]
        if len(given) != 1:
            raise click.UsageError(
                "give exactly one input: --deap DIR, --mahnob DIR or --manifest FILE"
                + (f" (got {', '.join('--' + name for name, _ in given)})" if given else "")
            )
        kwargs["source"] = given[0]
        return function(**kwargs)

    for name, flag, path_type, help_text in reversed(sources):
        wrapper = click.option(flag, f"{name}_source", type=path_type, default=None, help=help_text)(wrapper)
    return wrapper


def _model_config_from_options(ablation, config_file):
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
            raise click.BadParameter(
                f"{config_file} must hold a JSON object of ModelConfig fields", param_hint="--config"
            )
    try:
        return ModelConfig.for_ablation(ablation, **overrides)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from error


# Config fields whose flag keeps an older, shorter help than the field's docstring.
_PREPROCESS_HELP_OVERRIDES = {
    "fps": "Frames per second of a sample (T = trial seconds x fps).",
}
_TRAINING_HELP_OVERRIDES = {
    "target": "Which binary label to learn.",
    "epochs": "Total epochs (a resumed run continues up to this number).",
}


def preprocess_options(function):
    """One flag per `PreprocessConfig` field (--fps, --denoise-rule, --theta-hz, ...), generated from the
    dataclass; the command receives `preprocess_config` (a validated `PreprocessConfig`)."""
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    return _config_options(function, PreprocessConfig, "preprocess_config", _PREPROCESS_HELP_OVERRIDES)


def _config_options(function, config_class, parameter, help_overrides):
    """Wrap `function` with one flag per field of the dataclass `config_class`: its defaults, its choices
    (`config_class.CHOICES`) and the field help of its docstring; `function` receives the validated config
    as `parameter` instead of the single values."""
    fields = dataclasses.fields(config_class)
    helps = _docstring_arguments(config_class.__doc__)

    @functools.wraps(function)
    def wrapper(**kwargs):
        values = {field.name: kwargs.pop(field.name) for field in fields}
        try:
            kwargs[parameter] = config_class(**values)
        except (TypeError, ValueError) as error:
            flag = next(
                (f"--{field.name.replace('_', '-')}" for field in fields if f".{field.name} " in str(error)), None
            )
            raise click.BadParameter(str(error), param_hint=flag) from None
        return function(**kwargs)

    for field in reversed(fields):
        shown = ",".join(f"{edge:g}" for edge in field.default) if isinstance(field.default, tuple) else True
        wrapper = click.option(
            f"--{field.name.replace('_', '-')}",
            field.name,
            show_default=shown,
            default=field.default,
            **_option_type(field, config_class.CHOICES),
            help=help_overrides.get(field.name, helps.get(field.name, "")),
        )(wrapper)
    return wrapper


class BandEdges(click.ParamType):
    """LOW,HIGH in Hz -> (low, high)."""

    name = "LOW,HIGH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            low, high = (float(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not two numbers LOW,HIGH in Hz (e.g. 4,8)", param, ctx)
        return (low, high)


def _option_type(field, choices):
    if field.name in choices:
        return {"type": click.Choice(choices[field.name])}
    if isinstance(field.default, tuple):
        return {"type": BandEdges()}
    if field.type in ("int", int):
        return {"type": int}
    if field.type in ("float", float):
        return {"type": float}
    return {"type": str}


def _docstring_arguments(docstring):
    """{argument: its help text} from a Google-style `Args:` section (continuation lines joined)."""
    helps, current = {}, None
    in_args = False
    for line in (docstring or "").splitlines():
        stripped = line.strip()
        if stripped == "Args:":
            in_args = True
            continue
        if not in_args:
            continue
        if not stripped:
            current = None
            continue
        match = re.match(r"^(\w+(?:, \w+)*): (.*)$", stripped)
        if match and len(line) - len(line.lstrip()) <= 8:
            names = match.group(1).split(", ")
            for name in names:
                helps[name] = match.group(2)
            current = names
        elif current:
            for name in current:
                helps[name] += " " + stripped
    return helps
