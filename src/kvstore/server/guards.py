"""Defences against hostile or careless clients that need no command logic: how many clients the
open-files limit allows, spotting HTTP sent to the server, and logging that a flood cannot turn
into a flood of log lines."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
import time
from collections.abc import Callable

try:
    import resource
except ImportError:  # not on Windows: the open-files limit is then left alone
    resource = None  # type: ignore[assignment]

log = logging.getLogger("kvstore.server")

#: Descriptors kept for the server itself: listeners, the event loop, logs, files later on.
RESERVED_FDS = 32

MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"


def fit_maxclients(wanted: int) -> int:
    """How many clients the process can hold: raise the soft open-files limit toward the hard
    one as far as ``wanted`` needs, and lower ``wanted`` (with a log line) if that is not
    enough."""
    if resource is None:
        return wanted
    need = wanted + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the soft limit we have
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    allowed = max(soft - RESERVED_FDS, 1)
    log.warning(
        "maxclients lowered from %d to %d: the open-files limit is %d (hard limit %s); "
        "raise it with 'ulimit -n' to allow more",
        wanted,
        allowed,
        soft,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
    )
    return allowed


_malloc_trim: Callable[[int], int] | None = None
_trim_looked_up = False


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system (glibc's ``malloc_trim``).

    A long argument is collected from the reads that carried it, and glibc serves those from its
    heap; once freed, the pages stay in the process for the next ones (other allocations end up
    between them, so the heap cannot shrink). Elsewhere than glibc, nothing is done. The cost
    grows with the heap (tens of milliseconds for a few GB of keys), so callers space it out."""
    global _malloc_trim, _trim_looked_up
    if not _trim_looked_up:
        _trim_looked_up = True
        name = ctypes.util.find_library("c")
        try:
            _malloc_trim = None if name is None else ctypes.CDLL(name).malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = None
    if _malloc_trim is not None:
        _malloc_trim(0)


# An HTTP request line ("GET / HTTP/1.1": methods are upper case, the version ends the line), or
# the words Redis also refuses, "POST" and "Host:" (any case). The text protocol's "get KEY" is
# lower case or has no version at its end, so it never matches.
_HTTP_REQUEST = re.compile(
    rb"(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S+ HTTP/\d(\.\d)?\r?"
)
_HTTP_WORD = re.compile(rb"(post|host:)(\s|$)", re.IGNORECASE)


def looks_like_http(first_line: bytes) -> bool:
    """Whether a connection's first line is HTTP: a cross-protocol attack from a web page (or a
    lost browser), never a text-protocol request."""
    return (
        _HTTP_REQUEST.fullmatch(first_line) is not None or _HTTP_WORD.match(first_line) is not None
    )


class RateLimitedLog:
    """Log at most one line per ``interval`` seconds for one kind of event, so an attack that
    repeats itself cannot fill the disk. The events not logged are counted: the next line
    logged says how many (``... (N similar messages suppressed)``), and :meth:`flush` logs the
    last of them with the count once the interval is over, so a burst's size is never lost.
    Each line logged stands for itself and the N it names."""

    def __init__(
        self, level: int, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.level = level
        self.interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.suppressed = 0
        self._last: tuple[str, tuple[object, ...]] = ("", ())

    def __call__(self, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            self._last = (message, args)
            return
        self._emit(now, message, args, self.suppressed)

    def flush(self, force: bool = False) -> None:
        """Log the last event not logged, with the count of the others, if the interval is over
        (or ``force``: at shutdown). Cheap when there is nothing to do."""
        if not self.suppressed:
            return
        now = self._clock()
        if force or now >= self._next:
            message, args = self._last
            self._emit(now, message, args, self.suppressed - 1)

    def _emit(self, now: float, message: str, args: tuple[object, ...], others: int) -> None:
        self._next = now + self.interval
        self.suppressed = 0
        self._last = ("", ())
        if others:
            message += f" ({others} similar messages suppressed)"
        log.log(self.level, message, *args)
