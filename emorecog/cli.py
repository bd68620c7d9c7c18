"""The `emorecog` command line: a thin click layer; each command lives in `emorecog.commands.<name>`.

Commands are imported only when they run, so `emorecog --help` answers without TensorFlow.
"""

import importlib
import os
import warnings

# TensorFlow reads these at import: silence its CUDA/oneDNN start-up chatter on CPU-only machines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# MediaPipe logs through glog/absl: keep its INFO/WARNING start-up lines out of the user's terminal.
os.environ.setdefault("GLOG_minloglevel", "2")

import click  # noqa: E402

# name -> (module under emorecog.commands, one-line help shown by `emorecog --help`)
COMMANDS = {
    "synth": ("synth", "Write a synthetic dataset in DEAP's on-disk layout with a planted signal."),
    "inspect": ("inspect", "Read every trial of a DEAP directory through the safe reader and summarise it."),
    "ingest": ("ingest", "ExampleGen: DEAP directory -> EEG band images + face crops as TFRecords (Beam)."),
    "show-images": ("show_images", "Write PNGs of EEG band images and face crops from TFRecords."),
    "train": ("train", "Trainer: fit the model on Split-train, select by eval F1, checkpoint, resume."),
    "evaluate": ("evaluate", "Evaluator: metrics.json and plots of a run on a split; decides the blessing."),
    "export": ("export", "Pusher: write a blessed run as a SavedModel version for TF Serving."),
    "predict": ("predict", "Run a SavedModel on one trial (DEAP directory or TFRecord), or write a REST body."),
    "cv": ("cv", "Cross-validation (leave-one-subject-out or k folds): mean and spread of the metrics."),
    "pipeline": ("pipeline", "Run ExampleGen -> Trainer -> Evaluator -> Pusher, skipping unchanged steps."),
    "demo": ("demo", "Synthetic DEAP -> ingest -> train -> evaluate -> export -> serve check, then a table."),
}


class LazyCommandGroup(click.Group):
    """A click group that imports a command's module only when that command is invoked."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module_name, _ = COMMANDS[name]
        try:
            module = importlib.import_module(f"emorecog.commands.{module_name}")
        except ModuleNotFoundError as error:
            if error.name != f"emorecog.commands.{module_name}":
                raise
            return None
        return module.command

    def invoke(self, ctx):
        # Every failure of a command ends in one "Error: ..." line (click prints ClickException so);
        # --debug lets the original exception and its traceback through instead.
        try:
            with warnings.catch_warnings():
                _show_data_warnings_as_lines()
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            from emorecog.user_errors import one_line_message

            raise click.ClickException(one_line_message(error)) from error

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _show_data_warnings_as_lines():
    """Inside `warnings.catch_warnings()`: every emorecog `DataWarning` becomes one "Warning: ..." line on
    stderr, each time it is raised; other warnings keep Python's own handling."""
    from emorecog.user_errors import DataWarning, warning_line

    python_showwarning = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            click.echo(warning_line(message), err=True)
        else:
            python_showwarning(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", DataWarning)
    warnings.showwarning = show


@click.group(cls=LazyCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="On an error, show the Python traceback instead of one Error: line.")
@click.version_option(package_name="emorecog")
def main(debug):
    """emorecog: valence/arousal recognition from face video + EEG (DEAP layout).

    Typical use: `emorecog ingest --deap DIR --out tfrecords/`, `emorecog train --data tfrecords/`,
    `emorecog evaluate --run runs/NAME`, `emorecog export --run runs/NAME`. Any failure ends in one
    "Error: ..." line naming the file, trial or field; `emorecog --debug COMMAND ...` shows the traceback.
    """


if __name__ == "__main__":
    main()
