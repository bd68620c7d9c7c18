"""Open a data file only if it is a regular file: a FIFO would block the reader, `/dev/zero` never ends,
and a directory or a dangling symbolic link deserves a message that says so."""

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotARegularFileError(OSError):
    """A path that should be a data file is a directory, FIFO, device, socket or dangling symbolic link."""


def open_regular_file(path):
    """`open(path, "rb")`, but only for a regular file (symbolic links to one are followed).

    The file is opened without blocking (a FIFO's open would wait for a writer) and checked on the open
    descriptor, so a path swapped after the check cannot slip through.

    Raises:
        NotARegularFileError: `path` is a directory, FIFO, device or socket, or a dangling symbolic link.
        FileNotFoundError, PermissionError: as `open` (the message names `path`).
    """
    path = os.fspath(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.islink(path):
            raise NotARegularFileError(
                f"{path}: dangling symbolic link to {os.readlink(path)!r} (expected a file)"
            ) from None
        raise FileNotFoundError(f"{path}: no such file") from None
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (cannot read it)") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise NotARegularFileError(f"{path}: is {kind}, expected a regular file")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")
