"""Starting the harness's child processes so that a Ctrl-C or SIGTERM never orphans one.

A signal that lands while ``subprocess.Popen`` is starting a child raises before the caller
holds the ``Popen``, so nothing can stop the child later: a redis-benchmark left that way spins
on its vanished server at full CPU. So the two signals are held back while a child starts and
its ``Popen`` is stored, and delivered once it is (``pthread_sigmask`` raises a pending one as
it unblocks); the child itself gets the usual signal mask back before it runs.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for the block; one that came meanwhile raises on leaving."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def popen(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` whose child starts with the stop signals unblocked: call it inside
    ``stop_signals_held()`` and store the result before the block ends."""
    return subprocess.Popen(argv, preexec_fn=_unblock_stop_signals, **options)  # noqa: PLW1509


def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """Run a child to its end and return its exit status, output and error output. Whatever
    interrupts the wait (a time-out, a Ctrl-C) kills the child first."""
    process: subprocess.Popen[str] | None = None
    try:
        with stop_signals_held():
            process = popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        if process is not None:
            process.kill()
            process.wait()
        raise
    return process.returncode, stdout, stderr
