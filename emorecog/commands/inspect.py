"""`emorecog inspect`: read every trial of a DEAP directory (or MAHNOB-HCI folder) and summarise it."""

import time

import click


@click.command(name="inspect")
@click.option(
    "--deap",
    "deap_dir",
    type=click.Path(exists=True, file_okay=False),
    help="DEAP directory (data_preprocessed_python/ or data_preprocessed_matlab/, face_video/, metadata_csv/).",
)
@click.option(
    "--mahnob",
    "mahnob_dir",
    type=click.Path(exists=True, file_okay=False),
    help="MAHNOB-HCI folder holding Sessions/ (instead of --deap): sessions, subjects, sessions without "
    "ratings, EEG or video.",
)
@click.option(
    "--label-threshold",
    type=float,
    default=5.0,
    show_default=True,
    help="A rating above this is 'high' (binary labels).",
)
@click.option("--inclusive", is_flag=True, help="Count a rating equal to the threshold as high (>=).")
@click.option("--keys-only", is_flag=True, help="List labels and videos only; do not read the EEG samples.")
def command(deap_dir, mahnob_dir, label_threshold, inclusive, keys_only):
    """Read every trial of a DEAP directory (or MAHNOB-HCI folder) and print a summary.

    Reads the data files through the restricted unpickler (or scipy for .mat), checks every trial
    (shapes, channel count, finite samples, ratings in 1..9), and prints subjects, trials, EEG shape, label
    balance and face videos found or missing. Writes nothing. Exits non-zero on the first bad file,
    naming it. With --mahnob: the sessions, those that cannot be used and why, and (unless --keys-only)
    each usable session's stimulus and baseline read through MNE.
    """
    from emorecog.datasets.dataset_reader import LabelRule
    from emorecog.datasets.deap import DeapDataset

    if (deap_dir is None) == (mahnob_dir is None):
        raise click.UsageError("give exactly one of --deap DIR or --mahnob DIR")
    started = time.monotonic()
    if mahnob_dir is not None:
        _inspect_mahnob(mahnob_dir, LabelRule(label_threshold, inclusive), keys_only, started)
        return
    dataset = DeapDataset(deap_dir, label_rule=LabelRule(label_threshold, inclusive))
    report = dataset.layout_report()
    shapes = set()
    trials_read = 0
    if not keys_only:
        for subject in dataset.subjects():
            for trial in dataset.trials(subject):
                shapes.add((trial.eeg.shape, trial.eeg_baseline.shape, trial.peripheral.shape))
                trials_read += 1
    for line in report.lines():
        click.echo(line)
    for eeg, baseline, peripheral in sorted(shapes):
        click.echo(
            f"EEG shape        {list(eeg)} stimulus + {list(baseline)} baseline at 128 Hz; "
            f"peripheral {list(peripheral)}"
        )
    if not keys_only:
        click.echo(f"read             {trials_read} trials, all finite, in {time.monotonic() - started:.1f} s")


def _inspect_mahnob(mahnob_dir, label_rule, keys_only, started):
    from emorecog.datasets.mahnob import MahnobDataset

    dataset = MahnobDataset(mahnob_dir, label_rule=label_rule)
    for line in dataset.layout_report():
        click.echo(line)
    if keys_only:
        return
    keys = dataset.list_trials().keys
    for key in keys:
        trial = dataset.load_trial(key)
        click.echo(
            f"session {key.trial:<7} {key.subject}: {trial.duration_s:.1f} s stimulus + "
            f"{0 if trial.eeg_baseline is None else trial.eeg_baseline.shape[1] / trial.sampling_rate:.1f} s "
            f"baseline at {trial.sampling_rate:g} Hz, {trial.eeg.shape[0]} EEG channels"
        )
    click.echo(f"read             {len(keys)} sessions, all finite, in {time.monotonic() - started:.1f} s")
