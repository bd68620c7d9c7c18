"""Progress of a running Beam pipeline, told through marker files: one per finished trial.

Workers drop a marker file per trial into a progress folder (`mark_trial`); the main process counts them
(`ProgressWatcher`) and reads the messages of failed ones (`error_messages`). Files are the only coupling,
so it works for any local runner mode (in-process, threads or processes); on a remote runner the folder is
not there and nothing is shown.
"""

import os
import threading

DONE = "done"
SKIPPED = "skipped"
ERROR = "error"


def mark_trial(progress_dir, subject, trial, status, message=""):
    """Drop the marker of (subject, trial) with `status` (DONE, SKIPPED or ERROR) and an optional message."""
    try:
        with open(os.path.join(progress_dir, f"{subject}-{trial:03d}.{status}"), "w") as handle:
            handle.write(message)
    except OSError:
        pass  # a remote worker cannot see the folder: no display, but the trial itself is fine


def error_messages(progress_dir):
    """The messages of the trials marked ERROR, in (subject, trial) order."""
    messages = []
    if os.path.isdir(progress_dir):
        for name in sorted(os.listdir(progress_dir)):
            if name.endswith(f".{ERROR}"):
                with open(os.path.join(progress_dir, name)) as handle:
                    messages.append(handle.read())
    return messages


class ProgressWatcher:
    """Calls `callback(done, total)` about twice a second while the pipeline runs (from a thread).

    Args:
        progress_dir: the folder the workers mark their trials in.
        total: the number of planned trials.
        callback: a function (done, total), or None (then the watcher does nothing).
        interval: seconds between calls.
    """

    def __init__(self, progress_dir, total, callback, interval=0.5):
        self.progress_dir = progress_dir
        self.total = total
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.callback is not None:
            self._thread = threading.Thread(target=self._watch, name="example-gen-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.callback(self._count(), self.total)

    def _count(self):
        try:
            return len(os.listdir(self.progress_dir))
        except OSError:
            return 0

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.callback(self._count(), self.total)
