"""Which build of kvstore runs: ``compiled`` or ``pure``. Decided once, when this is imported.

The compiled build is the same pure-Python modules compiled with Cython (setup.py), installed
under other names in ``kvstore._speedups`` beside the pure ones, which stay the reference and
the fallback. The compiled build is used when every compiled module is there, is not older than
its source (in a checkout, after an edit) and the pure build is not forced with
``KVSTORE_PURE=1`` (the server's ``--pure`` sets it before anything is imported). Modules that
have a compiled twin load it through :func:`choose`; nothing else decides. See docs/builds.md.

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
