"""`emorecog synth`: write a synthetic dataset in DEAP's on-disk layout with a planted, known signal."""

import os
import time

import click


@click.command(name="synth")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to create (written atomically: it appears only when complete).")
@click.option("--subjects", type=int, default=None, help="Number of subjects s01.. [default: 6].")
@click.option("--trials", type=int, default=None, help="Trials per subject [default: 16; --deap-size: 40].")
@click.option("--duration", "duration_s", type=int, default=None,
              help="Seconds of each trial's stimulus part; a 3 s baseline is added [default: 20; --deap-size: 60].")
@click.option("--fps", type=int, default=None, help="Face video frame rate [default: 10; --deap-size: 50].")
@click.option("--width", type=int, default=None, help="Face video width [default: 160; --deap-size: 720].")
@click.option("--height", type=int, default=None, help="Face video height [default: 120; --deap-size: 576].")
@click.option("--difficulty", type=click.FloatRange(0.0, 1.0), default=None,
              help="0 = strongest label effects .. 1 = event windows without label information [default: 0.3].")
@click.option("--seed", type=int, default=None, help="Random seed; the same seed writes the same bytes [default: 0].")
@click.option("--event-window", "event_window_s", type=float, default=None,
              help="Seconds of the hidden event window in each trial (the shortest, with --event-window-max) "
                   "[default: 3].")
@click.option("--event-window-max", "event_window_max_s", type=float, default=None,
              help="Draw each trial's event window length uniformly between --event-window and this "
                   "[default: every window is --event-window long].")
@click.option("--subjects-without-video", type=int, default=None,
              help="The last N subjects get no face video, as s23-s32 in DEAP [default: 0].")
@click.option("--missing-trial-videos", type=int, default=None,
              help="Leave out N trial videos of the other subjects [default: 0].")
@click.option("--deap-size", is_flag=True,
              help="DEAP-sized trials (40 trials, 60 s + 3 s, video 50 fps 720x576), for benchmarks; slow to "
                   "generate: combine with e.g. --subjects 1 --trials 1.")
@click.option("--workers", type=int, default=0, show_default=True,
              help="Processes writing subjects in parallel (0: one per CPU core).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def command(out_dir, deap_size, workers, force, **options):
    """Write a synthetic DEAP directory to OUT.

    Writes data_preprocessed_python/sXX.dat (Python 2 pickles as in DEAP), face_video/sXX/sXX_trialYY.avi
    (MJPEG, YY = presentation order), metadata_csv/participant_ratings.csv (shuffled presentation
    order) and ground_truth.json (the planted event windows, labels and no-face frames; never read by
    training). Inside each trial's hidden event window only, EEG and face carry the valence/arousal labels.
    """
    from emorecog.datasets.synthetic import SynthConfig, write_synthetic_deap

    chosen = {name: value for name, value in options.items() if value is not None}
    try:
        config = SynthConfig.deap_size(**chosen) if deap_size else SynthConfig(**chosen)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    click.echo(f"synthetic DEAP: {config.subjects} subjects x {config.trials} trials, {config.duration_s} s + 3 s "
               f"baseline, video {config.width}x{config.height} at {config.fps} fps, difficulty "
               f"{config.difficulty}, seed {config.seed}")
    started = time.monotonic()

    def progress(done, total):
        click.echo(f"  {done}/{total} trials ({time.monotonic() - started:.1f} s)")

    try:
        path = write_synthetic_deap(out_dir, config, overwrite=force, progress=progress,
                                    workers=None if workers == 0 else workers)
    except FileExistsError as error:
        raise click.ClickException(str(error)) from error
    size = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    click.echo(f"wrote {path} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
