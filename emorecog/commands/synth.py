"""`emorecog synth`: write a synthetic dataset in DEAP's or MAHNOB-HCI's on-disk layout with a planted, known
signal."""

import os
import time

import click


@click.command(name="synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to create (written atomically: it appears only when complete).",
)
@click.option(
    "--format",
    "layout_format",
    type=click.Choice(["deap", "mahnob"]),
    default="deap",
    show_default=True,
    help="On-disk layout: DEAP's, or MAHNOB-HCI's (Sessions/<id>/session.xml, a BDF recording with "
    "Status events, a colour face video).",
)
@click.option(
    "--pre-stimulus",
    "pre_stimulus_s",
    type=int,
    default=30,
    show_default=True,
    help="MAHNOB-HCI layout: seconds recorded before each stimulus (the baseline).",
)
@click.option(
    "--post-stimulus",
    "post_stimulus_s",
    type=int,
    default=30,
    show_default=True,
    help="MAHNOB-HCI layout: seconds recorded after each stimulus.",
)
@click.option(
    "--sessions-without-ratings",
    type=int,
    default=1,
    show_default=True,
    help="MAHNOB-HCI layout: extra sessions whose session.xml has no felt ratings (reported by ingest).",
)
@click.option("--subjects", type=int, default=None, help="Number of subjects s01.. [default: 6].")
@click.option(
    "--trials",
    type=int,
    default=None,
    help="Trials (MAHNOB-HCI: rated sessions) per subject [default: 16; --deap-size: 40].",
)
@click.option(
    "--duration",
    "duration_s",
    type=int,
    default=None,
    help="Seconds of each trial's stimulus part; a 3 s baseline is added [default: 20; --deap-size: 60].",
)
@click.option("--fps", type=int, default=None, help="Face video frame rate [default: 10; --deap-size: 50].")
@click.option("--width", type=int, default=None, help="Face video width [default: 160; --deap-size: 720].")
@click.option("--height", type=int, default=None, help="Face video height [default: 120; --deap-size: 576].")
@click.option(
    "--difficulty",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="0 = strongest label effects .. 1 = event windows without label information [default: 0.3].",
)
@click.option("--seed", type=int, default=None, help="Random seed; the same seed writes the same bytes [default: 0].")
@click.option(
    "--event-window",
    "event_window_s",
    type=float,
    default=None,
    help="Seconds of the hidden event window in each trial (the shortest, with --event-window-max) [default: 3].",
)
@click.option(
    "--event-window-max",
    "event_window_max_s",
    type=float,
    default=None,
    help="Draw each trial's event window length uniformly between --event-window and this "
    "[default: every window is --event-window long].",
)
@click.option(
    "--subjects-without-video",
    type=int,
    default=None,
    help="The last N subjects get no face video, as s23-s32 in DEAP [default: 0].",
)
@click.option(
    "--missing-trial-videos",
    type=int,
    default=None,
    help="Leave out N trial videos of the other subjects [default: 0].",
)
@click.option(
    "--deap-size",
    is_flag=True,
    help="DEAP-sized trials (40 trials, 60 s + 3 s, video 50 fps 720x576), for benchmarks; slow to "
    "generate: combine with e.g. --subjects 1 --trials 1.",
)
@click.option(
    "--workers",
    type=int,
    default=0,
    show_default=True,
    help="Processes writing subjects in parallel (0: one per CPU core).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace --out if it is a synthetic DEAP directory written by emorecog synth (never another folder).",
)
def command(
    out_dir,
    layout_format,
    pre_stimulus_s,
    post_stimulus_s,
    sessions_without_ratings,
    deap_size,
    workers,
    force,
    **options,
):
    """Write a synthetic DEAP directory (or, with --format mahnob, a synthetic MAHNOB-HCI folder) to OUT.

    DEAP: data_preprocessed_python/sXX.dat (Python 2 pickles as in DEAP), face_video/sXX/sXX_trialYY.avi
    (MJPEG, YY = presentation order), metadata_csv/participant_ratings.csv (shuffled presentation
    order). MAHNOB-HCI: Sessions/<id>/session.xml (felt ratings), Part_N_S_TrialK_emotion.bdf (32 EEG
    channels at 256 Hz, peripheral channels, Status events at the stimulus start and end), the colour face
    video; stimulus lengths differ by up to 1.5 s (ingest with --trial-seconds). Both: ground_truth.json (the
    planted event windows and labels; never read by training). Inside each trial's hidden event window only,
    EEG and face carry the valence/arousal labels.
    """
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    chosen = {name: value for name, value in options.items() if value is not None}
    try:
        config = SynthConfig.deap_size(**chosen) if deap_size else SynthConfig(**chosen)
        if layout_format == "mahnob":
            from emorecog.datasets.synthetic.mahnob import MahnobLayout

            layout = MahnobLayout(
                pre_stimulus_s=pre_stimulus_s,
                post_stimulus_s=post_stimulus_s,
                sessions_without_ratings=sessions_without_ratings,
            )
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    baseline = f"{pre_stimulus_s} s before and {post_stimulus_s} s after" if layout_format == "mahnob" else "3 s"
    click.echo(
        f"synthetic {layout_format.upper()}: {config.subjects} subjects x {config.trials} trials, "
        f"{config.duration_s} s, {baseline} baseline, video {config.width}x{config.height} at {config.fps} fps, "
        f"difficulty {config.difficulty}, seed {config.seed}"
    )
    started = time.monotonic()

    def progress(done, total):
        click.echo(f"  {done}/{total} trials ({time.monotonic() - started:.1f} s)")

    if layout_format == "mahnob":
        from emorecog.datasets.synthetic.mahnob import write_synthetic_mahnob

        path = write_synthetic_mahnob(out_dir, config, layout, overwrite=force, progress=progress)
    else:
        path = write_synthetic_deap(
            out_dir, config, overwrite=force, progress=progress, workers=None if workers == 0 else workers
        )
    size = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    click.echo(f"wrote {path} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
