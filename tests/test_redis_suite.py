"""Redis 7.0's own Tcl suite against kvstore (scripts/redis-test-suite, docs/compatibility.md).

The suite runs only where REDIS_SRC names a Redis source tree (CI has none); the parsing of
runtest's output is checked everywhere, on output of the shape runtest prints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import redis_suite
from redis_suite import DEFAULT_UNITS, parse_runtest_output, run_suite, skip_names

RUNTEST_OUTPUT = """\
Testing unit/type/string
[\x1b[0;32;49mok\x1b[0m]: SET and GET an item (1 ms)
[ignore]: GETDEL propagate as DEL command to replica: Tag: needs:repl denied
[skip]: MGET against non-string key
[err]: SETRANGE with huge offset in tests/unit/type/string.tcl
n command 'nosuch', with args beginning with: 'a'
ERR unknown command 'nosuch', with args beginning with: 'a'
    while executing
"r nosuch a"
[err]: GETEX syntax errors in tests/unit/type/string.tcl
Expected 'ERR*syntax*' to equal or match 'OK'
[ok]: GETEX no option (0 ms)
[1/1 done]: unit/type/string (3 seconds)
"""


def test_runtest_output_is_sorted_by_outcome() -> None:
    result = parse_runtest_output("unit/type/string", RUNTEST_OUTPUT)
    assert result.passed == ["SET and GET an item", "GETEX no option"]
    assert result.failed == {
        # runtest cut the first ten characters off: the next line has the whole error
        "SETRANGE with huge offset": "ERR unknown command 'nosuch', with args beginning with: 'a'",
        "GETEX syntax errors": "Expected 'ERR*syntax*' to equal or match 'OK'",
    }
    assert result.skipped == ["MGET against non-string key"]
    assert result.ignored == ["GETDEL propagate as DEL command to replica: Tag: needs:repl denied"]
    assert result.aborted is None
    assert result.summary().startswith("unit/type/string: 2 passed, 2 failed, 1 skipped")


def test_an_error_outside_a_test_is_reported() -> None:
    text = "[ok]: first (1 ms)\n[exception]: Executing test client: I/O error reading reply\n"
    assert parse_runtest_output("unit/x", text).aborted == (
        "Executing test client: I/O error reading reply"
    )


def test_the_skip_list_names_tests_only() -> None:
    names = skip_names()
    assert "MGET against non-string key" in names
    assert len(names) == len(set(names))
    assert not any(name.startswith("#") or not name.strip() for name in names)
    # a test is skipped, left out or a known difference: never two of these
    assert not set(names) & set(redis_suite.LEFT_OUT)
    assert not (set(names) | set(redis_suite.LEFT_OUT)) & set(redis_suite.KNOWN_DIFFERENCES)


def test_a_test_left_out_is_counted_apart() -> None:
    name = next(iter(redis_suite.LEFT_OUT))
    text = f"[skip]: {name}\n[skip]: MGET against non-string key\n[ok]: PING (0 ms)\n"
    result = parse_runtest_output("unit/pause", text)
    assert (result.left_out, result.skipped) == ([name], ["MGET against non-string key"])
    assert "1 skipped (needs another data type), 1 left out" in result.summary()
    assert f"  left out: {name}: " in redis_suite.report([result])


REDIS_SRC = os.environ.get("REDIS_SRC")


@pytest.mark.skipif(
    not REDIS_SRC,
    reason="REDIS_SRC does not name a Redis 7.0.15 source tree (docs/compatibility.md)",
)
@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed")
@pytest.mark.timeout(900)
@pytest.mark.parametrize("build", ["default", "pure"])
def test_redis_suite_passes_but_for_other_data_types(build: str) -> None:
    assert REDIS_SRC is not None
    results = run_suite(Path(REDIS_SRC), DEFAULT_UNITS, ["--pure"] if build == "pure" else [])
    report = redis_suite.report(results)
    assert not redis_suite.unexpected(results), report
    assert all(result.passed for result in results), report
