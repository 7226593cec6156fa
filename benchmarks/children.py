"""Starting the harness's child processes so that a Ctrl-C or SIGTERM never orphans one.

A signal that lands while ``subprocess.Popen`` is starting a child raises before the caller
holds the ``Popen``, so nothing can stop the child later: a redis-benchmark left that way spins
on its vanished server at full CPU. Blocking the two signals until the ``Popen`` is held closes
that gap; the child gets the usual signal mask back before it runs.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from typing import Any

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def spawn(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **options)``, with a stop signal held back until it returns."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return subprocess.Popen(argv, preexec_fn=_unblock_stop_signals, **options)  # noqa: PLW1509
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """Run a child to its end and return its exit status, output and error output. Whatever
    interrupts the wait (a time-out, a Ctrl-C) kills the child first."""
    process = spawn(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process.returncode, stdout, stderr
