"""The checkout's launchers (src/kvstore_launcher.py): ``./server`` and ``./client`` prepare
``.venv`` once, start in it after that, and say in one line what is missing where they cannot.

Run with the interpreter the virtual environment was made from, as a user's ``python3`` would
run them; preparing a full environment (a minute) is left to scripts/test, which does it first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from kvstore import __version__

BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
sys.path.insert(0, str(ROOT / "src"))
import kvstore_launcher  # noqa: E402


def _checkout(tmp_path: Path) -> Path:
    """A copy of what a clone holds (no .venv, no compiled build)."""
    root = tmp_path / "kvstore"
    root.mkdir()
    for name in ("server", "client", "pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copytree(
        ROOT / "src", root / "src", ignore=shutil.ignore_patterns("_speedups", "__pycache__")
    )
    return root


def _run(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTORE_", "PIP_"))}
    return subprocess.run(
        [BASE_PYTHON, str(root / "server"), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_skipped_on_request(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    result = _run(root, "--version", env={"KVSTORE_NO_PREPARE": "1"})
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"kvstore-server {__version__}\n",
        "",
    )
    assert not (root / ".venv").exists()


def test_without_a_package_index_it_says_what_is_missing_once_and_runs(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    no_index = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    first = _run(root, "--version", env=no_index)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"kvstore-server {__version__}\n"
    progress, note = first.stderr.splitlines()
    assert progress.startswith("kvstore: preparing the fast build in .venv (once)")
    assert progress.endswith("failed in " + progress.rsplit(" ", 1)[1])
    assert note == (
        "kvstore: running on the standard library (pip could not install kvstore[fast]: "
        f"no package index? see {kvstore_launcher.LOG}): {kvstore_launcher.COST_STDLIB}"
    )
    assert (root / kvstore_launcher.LOG).exists()
    again = _run(root, "--version", env=no_index)  # not tried again: the same line, at once
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, note + "\n")


def test_a_read_only_checkout_runs_on_what_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda *_args, **_kwargs: False)
    outcome = kvstore_launcher.prepare(str(_checkout(tmp_path)), "key", "fast")
    assert outcome == "failed the checkout is read-only"


def test_the_key_follows_the_compiled_sources(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    before = kvstore_launcher.source_key(str(root))
    assert before == kvstore_launcher.source_key(str(root))
    source = root / "src" / "kvstore" / "protocol" / "resp_requests.py"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert kvstore_launcher.source_key(str(root)) != before


def test_the_prepared_checkout_starts_at_once() -> None:
    """This checkout's .venv, as scripts/test prepared it: no line, no preparing."""
    key = kvstore_launcher.source_key(str(ROOT))
    outcome = kvstore_launcher._read_stamp(str(ROOT / ".venv"), key, "fast")
    if outcome is None:
        pytest.skip(".venv was not prepared for these sources (scripts/test prepares it)")
    result = _run(ROOT, "--version")
    assert (result.returncode, result.stdout) == (0, f"kvstore-server {__version__}\n")
    if outcome == "compiled":
        assert result.stderr == ""
    else:  # no C compiler, say: one line, and no preparing
        assert result.stderr.startswith("kvstore: running the pure build (")
        assert result.stderr.count("\n") == 1
