"""`OutputLock`: one process at a time writes an output; a second one stops instead of sharing it."""

import fcntl
import os
import socket
import sys

from emorecog.output_folders import OutputBusyError


class OutputLock:
    """An exclusive, non-blocking lock on an output path, held while a process writes it.

    The lock is an `flock` on a hidden sibling file `.<name>.lock`: the kernel releases it when the holder
    exits, however it exits, so a killed run never leaves a lock that blocks the next one, and anything a
    dead holder left behind (its staging folder) is provably abandoned once the lock is taken. The file
    holds the holder's pid and command for the message of a process that finds it busy, and is removed on
    release.

    Args:
        path: the output folder (or file) to lock; its parent folder is created.

    Raises (on entering):
        OutputBusyError: another process holds the lock (the message names its pid and command).

    Example:
        >>> with OutputLock("runs/full-valence"):
        ...     ...  # write the run
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        parent, name = os.path.split(self.path)
        self.lock_path = os.path.join(parent, f".{name}.lock")
        self._descriptor = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.lock_path), exist_ok=True)
        while True:
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 400).decode("utf-8", "replace").strip()
                os.close(descriptor)
                raise OutputBusyError(
                    f"{self.path} is being written by another emorecog process ({holder or 'starting'}); wait for "
                    "it to finish or choose another output (two runs never share an output)"
                ) from None
            # The holder before us may have removed the file after we opened it: then we locked a file that
            # is gone, and must lock the current one.
            try:
                current = os.stat(self.lock_path)
            except FileNotFoundError:
                os.close(descriptor)
                continue
            opened = os.fstat(descriptor)
            if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                os.close(descriptor)
                continue
            os.ftruncate(descriptor, 0)
            command = " ".join(
                os.path.basename(part) if index == 0 else part for index, part in enumerate(sys.argv[:4])
            )
            os.write(descriptor, f"pid {os.getpid()} on {socket.gethostname()}: {command}".encode())
            self._descriptor = descriptor
            return self

    def release(self):
        if self._descriptor is None:
            return
        try:
            os.remove(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(self._descriptor)
        self._descriptor = None

    @property
    def held(self):
        return self._descriptor is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
