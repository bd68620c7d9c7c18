"""`emorecog ingest`: the ExampleGen component from the command line."""

import os
import sys
import tempfile

import click
import tqdm

from emorecog.commands.shared_options import preprocess_options, source_options


@click.command(name="ingest")
@source_options
@click.option(
    "--out",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output directory: Split-{train,eval,test}/*.gz, schema.json, stats.json (appears atomically). "
    "New, empty, or an earlier ingest output holding nothing else; never inside the input.",
)
@preprocess_options
@click.option(
    "--split",
    "split_mode",
    type=click.Choice(["trial", "subject"]),
    default="trial",
    show_default=True,
    help="trial: trial-disjoint within each subject, 5:1:1; subject: subject-disjoint, 5:1:1.",
)
@click.option(
    "--fold",
    type=int,
    default=None,
    help="Cross-validation fold used as test (0-based; eval is the next fold). Needs --folds.",
)
@click.option("--folds", default=None, help="Cross-validation: 'loso' (leave one subject out) or a number >= 3.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split shuffles.")
@click.option(
    "--label-threshold", type=float, default=5.0, show_default=True, help="A rating above this is 'high' (label 1)."
)
@click.option("--label-inclusive", is_flag=True, help="A rating equal to --label-threshold counts as high.")
@click.option(
    "--on-error",
    type=click.Choice(["skip", "stop"]),
    default="skip",
    show_default=True,
    help="Bad trial input (corrupt or short video, NaN EEG, unreadable file): skip it and list it in "
    "stats.json, or stop the run and write nothing.",
)
@click.option(
    "--skip-eeg-only",
    is_flag=True,
    help="Leave out trials without face video (default: write them with face_present = 0).",
)
@click.option(
    "--runner",
    default="DirectRunner",
    show_default=True,
    help="Beam runner (DirectRunner runs locally in --workers processes and downloads nothing).",
)
@click.option("--workers", type=int, default=None, help="DirectRunner worker processes [default: CPU cores].")
@click.option(
    "--beam-option",
    "beam_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra Beam pipeline option, repeatable (e.g. --beam-option project=my-gcp-project).",
)
@click.option(
    "--records-per-shard", type=click.IntRange(min=1), default=32, show_default=True, help="Trials per TFRecord file."
)
@click.option(
    "--beam-log",
    type=click.Path(dir_okay=False),
    help="File for the Beam workers' log output [default: a file in the temp folder].",
)
@click.option("--force", is_flag=True, help="Rerun even if OUT was made from the same inputs and options.")
def command(
    source,
    output_dir,
    preprocess_config,
    split_mode,
    fold,
    folds,
    seed,
    label_threshold,
    label_inclusive,
    on_error,
    skip_eeg_only,
    runner,
    workers,
    beam_options,
    records_per_shard,
    beam_log,
    force,
):
    """Turn a dataset into TFRecords of EEG band images and face crops (ExampleGen, on Beam).

    Reads one of: a DEAP directory (--deap), a MAHNOB-HCI folder (--mahnob) or a CSV manifest of your own
    recordings (--manifest): EEG, ratings, face videos. Writes OUT/Split-{train,eval,test}/data_tfrecord-*.gz,
    OUT/schema.json, OUT/stats.json and OUT/emorecog_metadata.json. A rerun with the same inputs and
    options is skipped. Every preprocessing option below is recorded in stats.json and the config hash.
    """
    from emorecog import splits
    from emorecog.components import beam_runner, example_gen
    from emorecog.datasets.dataset_reader import LabelRule

    source_format, source_path = source
    try:
        split_config = splits.SplitConfig(mode=split_mode, seed=seed, fold=fold, folds=_parse_folds(folds))
        label_rule = LabelRule(threshold=label_threshold, inclusive=label_inclusive)
        flags = beam_runner.beam_pipeline_flags(runner, workers, beam_options)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    display = ProgressDisplay()
    click.echo(f"ExampleGen: {source_path} ({source_format}) -> {output_dir} ({' '.join(flags)})")
    with BeamLog(beam_log, "emorecog-ingest-") as log_file:
        try:
            run = example_gen.run_example_gen(
                source_path,
                output_dir,
                source_format=source_format,
                preprocess_config=preprocess_config,
                split_config=split_config,
                label_rule=label_rule,
                on_error=on_error,
                skip_eeg_only=skip_eeg_only,
                records_per_shard=records_per_shard,
                runner=runner,
                num_workers=workers,
                beam_options=beam_options,
                force=force,
                progress=display.update,
                beam_log=log_file.path,
            )
        finally:
            display.finish()
    if run.skipped:
        click.echo(f"unchanged: {output_dir} was made from the same inputs and options (--force to rerun)")
    from emorecog.datasets import tfrecord_reader

    for line in summary_lines(tfrecord_reader.read_stats(output_dir), output_dir):
        click.echo(line)
    if log_file.kept and not run.skipped:
        click.echo(f"Beam log: {log_file.path}")


class BeamLog:
    """Where the Beam and worker logs of one run go: the file the user named, or a new one in the temporary folder.

    Use as a context manager around the run: an `ExampleGenError` leaving it names the log; after a run that
    succeeded, a log made here that nothing was written to is removed again (`kept` is then False).

    Args:
        path: the user's log file, or None to make one.
        prefix: the name prefix of a made log file.
    """

    def __init__(self, path, prefix):
        self.made_here = path is None
        if self.made_here:
            handle, path = tempfile.mkstemp(prefix=prefix, suffix=".log")
            os.close(handle)
        self.path = path
        self.kept = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, error, traceback):
        from emorecog.components.example_gen import ExampleGenError

        if isinstance(error, ExampleGenError):
            raise ExampleGenError(f"{error} (Beam log: {self.path})") from error
        if error is None and self.made_here and _is_empty_file(self.path):
            os.remove(self.path)
            self.kept = False
        return False


def _is_empty_file(path):
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _parse_folds(folds):
    if folds is None or folds == "loso":
        return folds
    try:
        return int(folds)
    except ValueError:
        raise ValueError(f"--folds must be 'loso' or a number >= 3, got {folds!r}") from None


class ProgressDisplay:
    """Trials done / total, rate, elapsed time and ETA as a tqdm progress bar.

    On a terminal the bar is rewritten in place. A pipe or log file (`emorecog ingest > log`, CI) would
    collect every redraw on one line of carriage returns, so there the same line is printed on a line of its
    own each time another tenth of the trials is done.

    Args:
        stream: where the bar goes (default: standard output when the display is made).
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.bar = None
        self.finished = False

    def update(self, done, total):
        # the pipeline's watcher keeps reporting the last count until Beam has stopped its workers
        if self.finished:
            return
        if self.bar is None:
            interactive = self.stream.isatty()
            self.bar = tqdm.tqdm(
                total=total,
                unit=" trials",
                bar_format=_BAR_FORMAT,
                ascii=not interactive,
                leave=True,
                file=self.stream if interactive else _LinePerRedraw(self.stream),
                mininterval=0.5 if interactive else 0,
                miniters=1 if interactive else max(1, total // 10),
            )
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)
        if done >= total:
            self.finish()

    def finish(self):
        """Close the bar (done by the update that reaches the total); later updates are ignored."""
        self.finished = True
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_BAR_FORMAT = "  {n_fmt}/{total_fmt} trials |{bar:20}| {rate_fmt}  elapsed {elapsed}  ETA {remaining}"


class _LinePerRedraw:
    """A file for tqdm that turns each redraw ("\r" + line) into a line of its own, one per count of trials.

    tqdm redraws the last state when it closes (with the overall rate); that count was printed already.
    """

    def __init__(self, stream):
        self.stream = stream
        self.last_count = None

    def write(self, text):
        line = text.replace("\r", "").rstrip()
        count = line.split("|", 1)[0]
        if line and count != self.last_count:
            self.last_count = count
            click.echo(line, file=self.stream)

    def flush(self):
        self.stream.flush()


def summary_lines(stats, output_dir):
    """The closing table of `emorecog ingest` from a stats.json dict."""
    trials = stats["trials"]
    lines = [
        "",
        f"{'split':<6} {'samples':>7} {'subjects':>8} {'valence 0/1':>12} {'arousal 0/1':>12} {'EEG-only':>8}",
    ]
    for name, split in stats["splits"].items():
        valence = f"{split['labels']['valence']['0']}/{split['labels']['valence']['1']}"
        arousal = f"{split['labels']['arousal']['0']}/{split['labels']['arousal']['1']}"
        lines.append(
            f"{name:<6} {split['samples']:>7} {len(split['subjects']):>8} {valence:>12} {arousal:>12} "
            f"{split['eeg_only']:>8}"
        )
    lines.append(f"{'total':<6} {trials['written']:>7}")
    detection = stats["face_detection"]
    rate = detection["mean_detection_rate"]
    lines += [
        "",
        f"trials written {trials['written']} of {trials['listed']} listed; skipped {trials['skipped']}; "
        f"EEG-only written {trials['eeg_only_written']} ({stats['eeg_only_policy']['policy']} policy)",
        f"face detection {'n/a' if rate is None else f'{rate:.1%} of frames'} over "
        f"{detection['trials_with_video']} trials with video",
        "EEG normalisation (train split) mean "
        + ", ".join(
            f"{band} {mean:.3g}"
            for band, mean in zip(stats["eeg_normalization"]["bands"], stats["eeg_normalization"]["mean"])
        )
        + "; std "
        + ", ".join(f"{std:.3g}" for std in stats["eeg_normalization"]["std"]),
        f"time {stats['seconds']:.1f} s ({stats['trials_per_second'] or 0:.2f} trials/s); output {output_dir}",
    ]
    for record in stats["skipped"][:10]:
        where = record["subject"] + (f" trial {record['trial']}" if record["trial"] is not None else "")
        lines.append(f"skipped {where}: {record['reason']}")
    if len(stats["skipped"]) > 10:
        lines.append(f"... and {len(stats['skipped']) - 10} more skipped (see {output_dir}/stats.json)")
    return lines
