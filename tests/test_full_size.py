"""A full-size DEAP (32 subjects x 40 trials of 63 s, `emorecog synth --deap-size`) ingests with memory
bounded by the work in flight, not by the dataset (slow; `make test-all`): the EEG of all 1280 trials (about
5 minutes on 2 cores), and the 880 trials with face video of s01-s22 (about 25 minutes)."""

import glob
import json
import os
import sys

import pytest

pytestmark = pytest.mark.slow

FULL_SIZE_EEG_TRIALS = 32 * 40
SUBJECTS_WITH_VIDEO = 22  # s01..s22 in DEAP
PEAK_LIMIT_BYTES = 1.5e9
# Peak of the full size over the peak of one subject: memory must not grow with the number of trials.
PEAK_GROWTH_LIMIT = 1.2
# Distinct face videos rendered for the with-face set (each 63 s of 720 x 576 MJPEG at 50 fps, ~290 MB).
DISTINCT_VIDEOS = 8


def synth_deap_size(out, subjects, subjects_without_video, trials=None):
    from click.testing import CliRunner

    from emorecog.cli import main as cli

    arguments = ["synth", "--out", str(out), "--deap-size", "--subjects", str(subjects)]
    arguments += ["--subjects-without-video", str(subjects_without_video), "--workers", "0"]
    if trials is not None:
        arguments += ["--trials", str(trials)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    return out


def ingest_with_two_workers(deap, out):
    """Run ExampleGen in a child process; returns (its summary, the peak RSS of its process tree)."""
    from benchmarks import process_tree

    code = (
        f"import json, sys; from emorecog.components import example_gen; "
        f"run = example_gen.run_example_gen({str(deap)!r}, {str(out)!r}, num_workers=2); "
        f"print(json.dumps(run.metadata['summary']))"
    )
    summary, seconds, peak = process_tree.run_python(code, cwd=os.path.dirname(os.path.dirname(__file__)))
    print(
        json.dumps({"trials": summary["trials"], "seconds": round(seconds, 1), "peak_tree_rss_mb": round(peak / 1e6)}),
        file=sys.stderr,
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records"]["stored_bytes_per_trial"]["max"] < 2_000_000
    return summary, peak


def link_face_videos(deap, videos, subjects):
    """Give every trial of `subjects` a face video: hard links to `videos`, in turn.

    Rendering 880 DEAP-size videos would take hours and ~255 GB; a hard link costs no disk, and ingest still
    demuxes, decodes, detects and crops every trial's video on its own.
    """
    for number in range(1, subjects + 1):
        subject = f"s{number:02d}"
        os.makedirs(deap / "face_video" / subject, exist_ok=True)
        for trial in range(1, 41):
            link = deap / "face_video" / subject / f"{subject}_trial{trial:02d}.avi"
            os.link(videos[(number * 40 + trial) % len(videos)], link)


def test_full_size_deap_eeg_ingests_with_two_workers_under_the_memory_limit(tmp_path):
    deap = synth_deap_size(tmp_path / "deap", subjects=32, subjects_without_video=32)
    summary, peak = ingest_with_two_workers(deap, tmp_path / "tfrecords")
    assert summary["trials"]["written"] == FULL_SIZE_EEG_TRIALS
    assert peak < PEAK_LIMIT_BYTES


def test_full_size_deap_with_face_ingests_with_memory_bounded_by_the_trials_in_flight(tmp_path):
    rendered = synth_deap_size(tmp_path / "rendered", subjects=2, subjects_without_video=0, trials=DISTINCT_VIDEOS // 2)
    videos = sorted(glob.glob(str(rendered / "face_video" / "*" / "*.avi")))
    assert len(videos) == DISTINCT_VIDEOS

    one_subject = synth_deap_size(tmp_path / "one-subject", subjects=1, subjects_without_video=1)
    link_face_videos(one_subject, videos, subjects=1)
    small_summary, small_peak = ingest_with_two_workers(one_subject, tmp_path / "tfrecords-1")
    assert small_summary["trials"]["written"] == 40

    full = synth_deap_size(tmp_path / "deap", subjects=32, subjects_without_video=32)
    link_face_videos(full, videos, subjects=SUBJECTS_WITH_VIDEO)
    summary, peak = ingest_with_two_workers(full, tmp_path / "tfrecords")
    assert summary["trials"]["written"] == FULL_SIZE_EEG_TRIALS
    assert summary["trials"]["eeg_only_written"] == FULL_SIZE_EEG_TRIALS - SUBJECTS_WITH_VIDEO * 40
    stats = json.loads((tmp_path / "tfrecords" / "stats.json").read_text())
    assert stats["face_detection"]["trials_with_video"] == SUBJECTS_WITH_VIDEO * 40
    assert stats["face_detection"]["min_detection_rate"] > 0.9
    print(json.dumps({"peak_over_one_subject": round(peak / small_peak, 3)}), file=sys.stderr)
    assert peak < PEAK_LIMIT_BYTES
    assert peak <= PEAK_GROWTH_LIMIT * small_peak
