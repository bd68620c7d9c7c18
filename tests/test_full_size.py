"""The EEG of a full-size DEAP (32 subjects x 40 trials of 63 s, `emorecog synth --deap-size`) ingests with
bounded memory (slow: about 5 minutes on 2 cores; `make test-all`)."""

import json
import os
import sys

import pytest

pytestmark = pytest.mark.slow

FULL_SIZE_EEG_TRIALS = 32 * 40
PEAK_LIMIT_BYTES = 1.5e9


def test_full_size_deap_eeg_ingests_with_two_workers_under_the_memory_limit(tmp_path):
    from click.testing import CliRunner

    from benchmarks import process_tree
    from emorecog.cli import main as cli

    deap = tmp_path / "deap"
    result = CliRunner().invoke(
        cli, ["synth", "--out", str(deap), "--deap-size", "--subjects", "32", "--subjects-without-video", "32"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "tfrecords"
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
    assert summary["trials"]["written"] == FULL_SIZE_EEG_TRIALS
    assert peak < PEAK_LIMIT_BYTES
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records"]["stored_bytes_per_trial"]["max"] < 2_000_000
