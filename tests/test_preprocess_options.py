"""Every PreprocessConfig field is an `ingest` / `pipeline` flag (generated from the dataclass), validated,
recorded in stats.json and in the config hash; the video and EEG alignment the new fields control."""

import dataclasses
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.components import component
from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor
from emorecog.preprocessing.video_frames import select_frame_indices


def _flag(name):
    return f"--{name.replace('_', '-')}"


@pytest.mark.parametrize("command", ["ingest", "pipeline"])
def test_help_shows_every_preprocess_field_with_its_default(command):
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for field in dataclasses.fields(PreprocessConfig):
        [line] = [index for index, text in enumerate(lines) if text.strip().startswith(_flag(field.name) + " ")]
        end = next((index for index in range(line + 1, len(lines)) if lines[index].strip().startswith("-")), len(lines))
        text = " ".join(" ".join(lines[line:end]).split())
        if field.default is not None:
            shown = (
                "(" + ",".join(f"{edge:g}" for edge in field.default) + ")"
                if isinstance(field.default, tuple)
                else str(field.default)
            )
            assert f"[default: {shown}]" in text, (field.name, text)
    for choice in PreprocessConfig.CHOICES["baseline_normalisation"]:
        assert choice in result.output


@pytest.mark.parametrize(
    "arguments, flag",
    [
        (["--theta-hz", "8,4"], "--theta-hz"),
        (["--beta-hz", "13,80"], "--beta-hz"),
        (["--alpha-hz", "eight"], "--alpha-hz"),
        (["--face-min-confidence", "2"], "--face-min-confidence"),
        (["--denoise-rule", "median"], "--denoise-rule"),
        (["--trial-seconds", "-1"], "--trial-seconds"),
        (["--fps", "0"], "--fps"),
    ],
)
def test_bad_preprocess_values_are_usage_errors_naming_the_flag(arguments, flag, tiny_synthetic_deap, tmp_path):
    result = CliRunner().invoke(
        cli, ["ingest", "--deap", tiny_synthetic_deap, "--out", str(tmp_path / "o"), *arguments]
    )
    assert result.exit_code == 2, result.output
    assert flag in result.output and not os.path.exists(tmp_path / "o")


def test_ingest_flags_reach_stats_and_the_config_hash(tiny_synthetic_deap, tmp_path):
    chosen = {
        "fps": 4,
        "image_size": 8,
        "face_size": 16,
        "denoise_rule": "none",
        "baseline_normalisation": "zscore",
        "outside_hull_fill": "nearest",
        "video_alignment": "start",
        "video_fps": 5.0,
        "face_min_confidence": 0.4,
        "theta_hz": (4.0, 7.0),
        "trial_seconds": 3.0,
        "eeg_rate_hz": 64,
    }
    arguments = []
    for name, value in chosen.items():
        arguments += [_flag(name), ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)]
    out = tmp_path / "records"
    result = CliRunner().invoke(
        cli, ["ingest", "--deap", tiny_synthetic_deap, "--out", str(out), "--workers", "1", *arguments]
    )
    assert result.exit_code == 0, result.output
    expected = PreprocessConfig(**chosen)
    stats = json.load(open(out / "stats.json"))
    assert PreprocessConfig.from_dict(stats["preprocess"]) == expected
    assert stats["preprocess_config_hash"] == expected.config_hash() != PreprocessConfig().config_hash()
    assert stats["source_format"] == "deap"
    assert stats["sample_shape"]["num_frames"] == 12  # 3 of the 4 s at 4 fps
    metadata = component.read_metadata(out)
    assert metadata["parameters"]["preprocess_config_hash"] == expected.config_hash()
    assert metadata["config_hash"] == component.config_hash("ExampleGen", metadata["parameters"])


def test_a_known_stimulus_onset_places_the_video_frames_without_an_alignment_rule():
    # 10 s of video at 10 fps, the trial's 2 s start 3 s in: frames centred at 3.25 s, 3.75 s, ...
    indices = select_frame_indices(100, 10.0, 2, 2.0, alignment="end", start_seconds=3.0)
    np.testing.assert_array_equal(indices, [32, 37, 42, 47])
    # keeping the first 2 s of a 6 s trial aligned to the video's end starts at 10 - 6 = 4 s
    np.testing.assert_array_equal(select_frame_indices(100, 10.0, 2, 2.0, trial_seconds=6.0), [42, 47, 52, 57])
    with pytest.raises(ValueError, match="shorter than the trial.*starts 9 s into the video"):
        select_frame_indices(100, 10.0, 2, 2.0, start_seconds=9.0)


def test_eeg_at_another_rate_is_resampled_and_bands_follow_the_config():
    rate, seconds = 256, 4
    times = np.arange(rate * (seconds + 1)) / rate
    signal = np.sin(2 * np.pi * 6.0 * times)  # 6 Hz: theta by default, alpha with theta_hz 4,5.5 / alpha 5.5,13
    channels = ("Fp1", "Fp2", "Cz")
    eeg = np.tile(signal, (3, 1))
    with TrialPreprocessor(
        PreprocessConfig(fps=4, image_size=8, denoise_rule="none", baseline_normalisation="log_db")
    ) as default:
        energy, _ = default.process_eeg(eeg[:, rate:], eeg[:, :rate], rate, channels)
    with TrialPreprocessor(
        PreprocessConfig(
            fps=4,
            image_size=8,
            denoise_rule="none",
            baseline_normalisation="log_db",
            theta_hz=(4.0, 5.5),
            alpha_hz=(5.5, 13.0),
        )
    ) as moved:
        shifted, _ = moved.process_eeg(eeg[:, rate:], eeg[:, :rate], rate, channels)
    assert energy.shape == shifted.shape == (seconds * 4, 3, 3)
    assert energy[:, :, 0].mean() > energy[:, :, 1].mean() + 10  # theta holds the 6 Hz power
    assert shifted[:, :, 1].mean() > shifted[:, :, 0].mean() + 10  # now alpha does
