"""How an error reaches a user of the command line: one line, naming what is wrong.

`one_line_message(error)` is what `emorecog` prints after "Error: " for any exception a command raises (the
`--debug` flag shows the traceback instead). Errors that describe bad input (ValueError and its subclasses
such as `DeapFormatError`, OSError, refused or unreadable data files, TensorFlow op errors such as a failed
shape check) keep their own message; anything else is reported as an internal error with its type, since it
is a bug rather than a problem of the input. TensorFlow is not imported here: its errors are recognised by
their module.
"""

import pickle
import re

from emorecog.datasets.dataset_reader import RefusedFileError

MAX_MESSAGE_CHARACTERS = 2000


class DataWarning(UserWarning):
    """Something about the input a user should know that does not stop the command; the CLI prints it
    as one "Warning: ..." line on stderr."""


def warning_line(message):
    """The line the CLI prints for a `DataWarning`."""
    return "Warning: " + " ".join(str(message).split())


INPUT_ERRORS = (ValueError, OSError, pickle.UnpicklingError, RefusedFileError, EOFError)
_TENSORFLOW_ASSERTION = re.compile(r"assertion failed: \[(?P<message>[^\]]*)\]")


def one_line_message(error):
    """The message of `error` on one line (see the module docstring)."""
    if _is_tensorflow_op_error(error):
        message = _tensorflow_message(error)
    elif isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    elif isinstance(error, INPUT_ERRORS) or _is_emorecog_error(error):
        message = str(error)
    else:
        message = (
            f"internal error ({type(error).__name__}: {error}); please report it, with the traceback that --debug shows"
        )
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE_CHARACTERS:
        message = message[:MAX_MESSAGE_CHARACTERS] + " ..."
    return message or type(error).__name__


def _is_emorecog_error(error):
    """An exception class of emorecog's own (e.g. ExampleGenError, NotBlessedError): its message is for users."""
    return type(error).__module__.split(".")[0] == "emorecog"


def _is_tensorflow_op_error(error):
    return type(error).__module__.startswith("tensorflow") and hasattr(error, "message")


def _tensorflow_message(error):
    """The part of a TensorFlow op error a user can act on: an assertion's own text, or the first line."""
    text = str(error.message)
    assertion = _TENSORFLOW_ASSERTION.search(text)
    if assertion:
        return assertion.group("message")
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", first_line)
