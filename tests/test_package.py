"""The package skeleton: cheap import, the CLI's lazy commands, the installed component mapping."""

import subprocess
import sys

from click.testing import CliRunner

from emorecog import cli


def test_import_and_help_do_not_load_tensorflow():
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import emorecog, emorecog.cli, emorecog.features\n"
        "result = CliRunner().invoke(emorecog.cli.main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'mediapipe', 'apache_beam') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


def test_every_listed_command_exists_and_has_help():
    runner = CliRunner()
    for name in cli.COMMANDS:
        command = cli.main.get_command(None, name)
        assert command is not None, f"command {name} is listed but its module is missing"
        result = runner.invoke(cli.main, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_components_and_pipelines_install_under_emorecog():
    import emorecog.components.component as component
    import emorecog.pipelines

    assert component.__name__ == "emorecog.components.component"
    assert emorecog.pipelines.__name__ == "emorecog.pipelines"


def test_cli_silences_tensorflow_logging():
    """The CLI module quiets TensorFlow's C++ start-up logging before any command loads TensorFlow: in a clean
    environment (none of the variables the tests' conftest sets), importing the CLI and then TensorFlow, as
    every model command does, and running an op prints no CUDA, oneDNN or CPU-feature lines on stderr."""
    import os

    probe = "import emorecog.cli\nimport tensorflow as tf\nprint(float(tf.reduce_sum(tf.constant([1.0, 2.0]))))\n"
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "GLOG_minloglevel", "CUDA_VISIBLE_DEVICES"}
    }
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=clean, check=True)
    assert completed.stdout.strip() == "3.0"
    noise = [
        line
        for line in completed.stderr.splitlines()
        if any(word in line for word in ("cuda", "CUDA", "oneDNN", "cpu_feature_guard", "TensorRT", "cuDNN"))
    ]
    assert noise == [], noise
