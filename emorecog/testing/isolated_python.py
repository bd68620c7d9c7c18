"""Command lines that run Python with emorecog NOT importable (the "other TensorFlow app" check)."""

import os
import site
import sys

STANDALONE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standalone_predict.py")


def third_party_site_packages():
    """The interpreter's site-packages folders (where TensorFlow lives)."""
    return [path for path in site.getsitepackages() if os.path.isdir(path)]


def isolated_python_command(script_args):
    """`python -I -S standalone_predict.py --site-packages ... <script_args>` as an argv list.

    -I drops PYTHONPATH, the user site and the current directory from sys.path; -S skips `site`, so no
    .pth file runs (emorecog's editable install is such a hook); the script then appends the plain
    site-packages folders for TensorFlow and NumPy and verifies that `import emorecog` fails.
    """
    command = [sys.executable, "-I", "-S", STANDALONE_SCRIPT]
    for path in third_party_site_packages():
        command += ["--site-packages", path]
    return command + list(script_args)
