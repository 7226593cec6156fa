"""Which build of kvstore runs (``compiled`` or ``pure``, decided once, when this is imported),
and which parsers: the one place both are decided.

The compiled build is the same pure-Python modules compiled with Cython (setup.py), installed
under other names in ``kvstore._speedups`` beside the pure ones, which stay the reference and
the fallback. The compiled build is used when every compiled module is there, is not older than
its source (in a checkout, after an edit) and the pure build is not forced with
``KVSTORE_PURE=1`` (the server's ``--pure`` sets it before anything is imported). Modules that
have a compiled twin load it through :func:`choose`; nothing else decides. See docs/builds.md.

The parser choice (``--parser``, the client's ``parser=``: auto, hiredis or python) is read
here too: :func:`parser_in_use` says which request parser the server runs (the compiled one,
hiredis, or the pure one), :func:`use_hiredis` whether hiredis reads the client's replies and
the log at start-up; hiredis is imported through :func:`load_hiredis` alone.

Standard library only, and nothing of kvstore: every layer may import this.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

#: The environment variable that forces the pure build (any of 1, yes, true, on).
PURE_ENV = "KVSTORE_PURE"
_TRUE = ("1", "yes", "true", "on")
#: Each pure module with a compiled twin, and the twin's name.
TWINS = {
    "kvstore.protocol.resp_requests": "kvstore._speedups.resp_requests",
    "kvstore.protocol.resp_replies": "kvstore._speedups.resp_replies",
    "kvstore.persistence.journal": "kvstore._speedups.journal",
    "kvstore.commands.session_fields": "kvstore._speedups.session_fields",
    "kvstore.commands.dispatch": "kvstore._speedups.dispatch",
}
_PACKAGE = Path(__file__).resolve().parent


def pure_forced(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``KVSTORE_PURE`` forces the pure build."""
    value = (os.environ if environ is None else environ).get(PURE_ENV, "")
    return value.strip().lower() in _TRUE


def _source_mtime(pure: str) -> float:
    base = _PACKAGE.parent.joinpath(*pure.split("."))
    return max(
        (
            base.with_suffix(s).stat().st_mtime
            for s in (".py", ".pxd")
            if base.with_suffix(s).exists()
        ),
        default=0.0,
    )


def _decide() -> tuple[str, str]:
    """(build, why it is pure: "" for the compiled build)."""
    if pure_forced():
        return "pure", f"forced by {PURE_ENV}"
    in_checkout = _PACKAGE.parent.name == "src"
    for pure, twin in TWINS.items():
        try:
            spec = importlib.util.find_spec(twin)
        except ImportError:
            spec = None
        if spec is None or spec.origin is None:
            return "pure", "the compiled modules are not built"
        # A checkout's compiled module older than its source would run the old code.
        if in_checkout and os.stat(spec.origin).st_mtime < _source_mtime(pure):
            return "pure", f"{twin} is older than its source (rebuild: pip install -e .)"
    return "compiled", ""


BUILD, WHY_PURE = _decide()
COMPILED = BUILD == "compiled"


def choose(pure: ModuleType) -> ModuleType:
    """The module to use for ``pure``: its compiled twin in the compiled build, else itself."""
    twin = TWINS.get(pure.__name__)
    if not COMPILED or twin is None:
        return pure
    return importlib.import_module(twin)


def event_loop_name() -> str:
    """The running event loop's package (``uvloop``, ``asyncio``); ``none`` outside one."""
    import asyncio  # noqa: PLC0415 - only where a loop runs

    try:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]
    except RuntimeError:
        return "none"


# -- the parsers ------------------------------------------------------------------------------

#: The parser choices (``--parser``, the client's ``parser=``).
PARSER_CHOICES = ("auto", "hiredis", "python")


class HiredisMissingError(LookupError):
    """``hiredis`` was asked for by name, and is not installed."""


def load_hiredis() -> ModuleType:
    """The ``hiredis`` module (ImportError when it is not installed); imported on first use."""
    return importlib.import_module("hiredis")


def hiredis_available() -> bool:
    try:
        load_hiredis()
    except ImportError:
        return False
    return True


def use_hiredis(choice: str) -> bool:
    """Whether a parser ``choice`` means hiredis for the client's replies and for the log's
    replay at start-up (``python``: the standard library only, the logs too). ``auto``:
    hiredis when installed. HiredisMissingError when ``hiredis`` is chosen and not installed;
    ValueError for a choice not in :data:`PARSER_CHOICES`."""
    if choice == "auto":
        return hiredis_available()
    if choice == "hiredis":
        if not hiredis_available():
            raise HiredisMissingError("the hiredis package is not installed")
        return True
    if choice == "python":
        return False
    raise ValueError(f"parser must be 'auto', 'hiredis' or 'python', not {choice!r}")


def parser_in_use(choice: str) -> str:
    """What ``--parser`` ``choice`` (auto, python, hiredis) runs for the server's requests:
    ``hiredis``, ``compiled`` (kvstore's own parser, compiled) or ``python`` (the same,
    interpreted).

    ``auto`` is the compiled parser in the compiled build (measured in docs/builds.md: faster
    than the hiredis path for single requests, within a few per cent for pipelines, and no
    second parser's rules); in the pure build, hiredis when installed."""
    if choice == "hiredis" or (choice == "auto" and not COMPILED and hiredis_available()):
        return "hiredis"
    return "compiled" if COMPILED else "python"
