"""Run a command in a child process and measure its wall time and the peak memory of its process tree.

Beam's multi-process runner starts worker processes, so the peak resident memory that matters is the sum
over the command's process and all its descendants, sampled while it runs (/proc, Linux). Sampling every
0.1 s can miss a peak shorter than that; the figures are a lower bound of the true peak.
"""

import json
import os
import subprocess
import sys
import threading
import time

SAMPLE_SECONDS = 0.1


def _children(pid):
    children = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(child) for child in handle.read().split())
    except OSError:
        pass
    return children


def _rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss_bytes(pid):
    """Resident bytes of `pid` and all its descendants, now."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _rss_bytes(current)
        pending.extend(_children(current))
    return total


def run_python(code, env=None, cwd=None):
    """Run `python -c code` (this interpreter); its last stdout line must be JSON.

    Returns:
        (parsed last line, wall seconds, peak process-tree RSS in bytes).

    Raises:
        RuntimeError: with the tail of stderr when the command fails.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(SAMPLE_SECONDS):
            peak[0] = max(peak[0], tree_rss_bytes(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({process.returncode}): {stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), seconds, peak[0]
