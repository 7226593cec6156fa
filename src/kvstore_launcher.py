"""Run ``./server`` and ``./client`` from a checkout on the fast build, preparing it once.

The first run makes ``.venv`` in the checkout (the environment ``scripts/test`` uses too),
installs kvstore into it in editable mode with the ``fast`` extra, which compiles the compiled
build (setup.py), and says so on one line with its progress. Every run then starts the program
with ``.venv/bin/python``: the check is a few ``stat`` calls. Where the environment cannot be
prepared (no ``venv`` module, no package index, a read-only checkout) or has no compiled build
(no C compiler), one line says what is missing and what it costs, and the program runs on the
pure build. ``KVSTORE_NO_PREPARE=1`` skips all of this (the program runs on the interpreter
that started it). See docs/builds.md.

Standard library only, and as little of it as possible before the program starts: this runs
before every ``./server``.
"""

from __future__ import annotations

import os
import sys

ENV_DIR = ".venv"
#: Written into the environment once it is prepared, one per line: the key it was prepared for
#: (source_key), the extras installed, and the outcome ("compiled", "pure <why>" or
#: "failed <why>").
STAMP = "kvstore-prepared"
SKIP_ENV = "KVSTORE_NO_PREPARE"
LOG = "kvstore-prepare.log"
_TRUE = ("1", "yes", "true", "on")

#: What each missing piece costs, measured with benchmarks.micro (docs/builds.md).
COST_PURE = "about 1.1 to 1.3x slower"
COST_STDLIB = "about 2 to 3x slower"


def launch(script: str, program: str) -> None:
    """Call before importing the program: returns to run it here, or execs it in ``.venv``."""
    if program == "server" and "--pure" in sys.argv[1:]:
        os.environ["KVSTORE_PURE"] = "1"  # before any module is imported: no restart
    if os.environ.get(SKIP_ENV, "").strip().lower() in _TRUE:
        return
    root = os.path.dirname(os.path.realpath(script))
    env = os.path.join(root, ENV_DIR)
    if os.path.realpath(sys.prefix) == os.path.realpath(env):
        return  # already running in it
    python = os.path.join(env, "bin", "python")
    key = source_key(root)
    outcome = _read_stamp(env, key, "fast")
    if outcome is None or not os.path.exists(python):
        outcome = prepare(root, key, "fast")
    if outcome.startswith("failed"):
        _note(outcome.partition(" ")[2], COST_STDLIB, "on the standard library")
        return
    if outcome.startswith("pure") and not _pure_forced():
        _note(outcome.partition(" ")[2], COST_PURE, "the pure build")
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        # The environment's interpreter is this one: use its packages here, and save the
        # start of a second interpreter (about 30 ms). Its packages come first.
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        site_packages = os.path.join(env, "lib", version, "site-packages")
        if os.path.isdir(site_packages):
            sys.path.insert(1, site_packages)  # after src/
            return
    os.execv(python, [python, script, *sys.argv[1:]])


def _pure_forced() -> bool:
    return os.environ.get("KVSTORE_PURE", "").strip().lower() in _TRUE


def _note(why: str, cost: str, what: str) -> None:
    print(f"kvstore: running {what} ({why}): {cost}", file=sys.stderr)


def source_key(root: str) -> str:
    """What the environment was prepared from: the build's files and the compiled sources
    (each ``.pxd`` and the ``.py`` beside it), by modification time."""
    paths = [os.path.join(root, name) for name in ("pyproject.toml", "setup.py")]
    for directory, _, files in os.walk(os.path.join(root, "src", "kvstore")):
        for name in files:
            if name.endswith(".pxd"):
                base = os.path.join(directory, name[:-4])
                paths += [base + ".pxd", base + ".py"]
    stamps = []
    for path in sorted(paths):
        try:
            stamps.append(str(os.stat(path).st_mtime_ns))
        except OSError:
            stamps.append("-")
    return ",".join(stamps)


def _read_stamp(env: str, key: str, extras: str) -> str | None:
    """The outcome of preparing ``env`` for ``key`` with at least ``extras``; None if it was
    not prepared so."""
    try:
        with open(os.path.join(env, STAMP), encoding="utf-8") as stamp:
            saved, installed, outcome = [*stamp.read().split("\n"), "", ""][:3]
    except OSError:
        return None
    if saved != key or not outcome or not set(extras.split(",")) <= set(installed.split(",")):
        return None
    if outcome == "compiled" and not os.path.isdir(
        os.path.join(os.path.dirname(env), "src", "kvstore", "_speedups")
    ):
        return None  # the compiled modules were removed
    return outcome


def prepare(root: str, key: str, extras: str) -> str:
    """Make ``.venv`` and install kvstore with ``extras`` into it; return the outcome."""
    import fcntl  # noqa: PLC0415 - only on the first run

    if not os.access(root, os.W_OK):
        return "failed the checkout is read-only"
    env = os.path.join(root, ENV_DIR)
    with open(os.path.join(root, ".venv.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run preparing it at the same time: wait
        outcome = _read_stamp(env, key, extras)
        if outcome is not None and os.path.exists(os.path.join(env, "bin", "python")):
            return outcome
        outcome = _install(root, env, extras)
        try:
            with open(os.path.join(env, STAMP), "w", encoding="utf-8") as stamp:
                stamp.write(f"{key}\n{extras}\n{outcome}")
        except OSError:
            pass  # no environment at all: tried again next time
        return outcome


def _install(root: str, env: str, extras: str) -> str:
    import shlex  # noqa: PLC0415 - only on the first run
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sysconfig  # noqa: PLC0415

    progress = _Progress(f"kvstore: preparing the fast build in {ENV_DIR} (once)")
    python = os.path.join(env, "bin", "python")
    log_path = os.path.join(root, LOG)
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            if not os.path.exists(python):
                progress.stage("making the environment")
                made = subprocess.run(
                    [sys.executable, "-m", "venv", env], stdout=log, stderr=log, check=False
                )
                if made.returncode != 0:
                    progress.done("failed")
                    shutil.rmtree(env, ignore_errors=True)
                    return f"failed no venv module to make {ENV_DIR} (Debian: python3-venv)"
            compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
            has_compiler = bool(compiler) and shutil.which(compiler[0]) is not None
            progress.stage(f"installing {extras}" + (" and compiling" if has_compiler else ""))
            installed = subprocess.run(
                [
                    python,
                    *("-m", "pip", "install", "--disable-pip-version-check"),
                    *("--timeout", "20", "--retries", "1"),
                    *("-e", f".[{extras}]"),
                ],
                cwd=root,
                stdout=log,
                stderr=log,
                check=False,
                env={**os.environ, **({} if has_compiler else {"KVSTORE_NO_EXTENSIONS": "1"})},
            )
            if installed.returncode != 0:
                progress.done("failed")
                return (
                    f"failed pip could not install kvstore[{extras}]: no package index? see {LOG}"
                )
            checked = subprocess.run(
                [python, "-c", "from kvstore import build; print(build.BUILD, build.WHY_PURE)"],
                capture_output=True,
                text=True,
                check=False,
            )
    except OSError as exc:
        progress.done("failed")
        return f"failed {exc.strerror or exc}"
    build = checked.stdout.strip() or "pure the compiled build did not load"
    if build == "compiled":
        progress.done("done")
        return "compiled"
    progress.done("done, pure")
    if not has_compiler:
        return f"pure no C compiler: {shlex.join(compiler)} not found"
    return f"pure the compiled build failed to build: see {LOG}"


class _Progress:
    """One line on stderr: a terminal sees it change as stages pass and seconds go by."""

    def __init__(self, head: str) -> None:
        import threading  # noqa: PLC0415 - only on the first run
        import time  # noqa: PLC0415

        self._time = time.monotonic
        self._start = self._time()
        self._head = head
        self._stage = ""
        self._tty = sys.stderr.isatty()
        self._stop = threading.Event()
        if self._tty:
            threading.Thread(target=self._tick, daemon=True).start()
        else:
            print(head + "...", end="", file=sys.stderr, flush=True)

    def stage(self, name: str) -> None:
        self._stage = name
        if self._tty:
            self._draw()
        else:
            print(f" {name}...", end="", file=sys.stderr, flush=True)

    def _elapsed(self) -> str:
        return f"{self._time() - self._start:.0f}s"

    def _draw(self) -> None:
        line = f"{self._head}: {self._stage}... {self._elapsed()}"
        print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._draw()

    def done(self, result: str) -> None:
        self._stop.set()
        if self._tty:
            print(f"\r{self._head}: {result} in {self._elapsed()}\033[K", file=sys.stderr)
        else:
            print(f" {result} in {self._elapsed()}", file=sys.stderr)


def main() -> int:
    """``python3 src/kvstore_launcher.py [EXTRAS]``: prepare the environment (scripts/test)."""
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    extras = sys.argv[1] if len(sys.argv) > 1 else "fast"
    key = source_key(root)
    outcome = _read_stamp(os.path.join(root, ENV_DIR), key, extras) or prepare(root, key, extras)
    print(f"kvstore: {ENV_DIR}: {outcome}")
    return 1 if outcome.startswith("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
