"""`emorecog inspect`: read every trial of a DEAP directory through the safe reader and summarise it."""

import time

import click


@click.command(name="inspect")
@click.option("--deap", "deap_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="DEAP directory (data_preprocessed_python/ or data_preprocessed_matlab/, face_video/, "
                   "metadata_csv/).")
@click.option("--label-threshold", type=float, default=5.0, show_default=True,
              help="A rating above this is 'high' (binary labels).")
@click.option("--inclusive", is_flag=True, help="Count a rating equal to the threshold as high (>=).")
@click.option("--keys-only", is_flag=True, help="List labels and videos only; do not read the EEG samples.")
def command(deap_dir, label_threshold, inclusive, keys_only):
    """Read every trial of a DEAP directory and print a summary.

    Reads the data files through the restricted unpickler (or scipy for .mat), checks every trial
    (shapes, channel count, finite samples, ratings in 1..9), and prints subjects, trials, EEG shape, label
    balance and face videos found or missing. Writes nothing. Exits non-zero on the first bad file,
    naming it.
    """
    from emorecog.datasets.deap import DeapDataset, LabelRule

    started = time.monotonic()
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
        click.echo(f"EEG shape        {list(eeg)} stimulus + {list(baseline)} baseline at 128 Hz; "
                   f"peripheral {list(peripheral)}")
    if not keys_only:
        click.echo(f"read             {trials_read} trials, all finite, in {time.monotonic() - started:.1f} s")
