"""``python -m benchmarks.instructions``: instructions per request of ``benchmarks.micro`` cases.

Runs each case under ``valgrind --tool=callgrind`` twice, with one and with three repeats, and
divides the difference by the requests of two repeats: the start-up and the set-up cancel out.
Unlike a timing, the count is the same run after run whatever else the machine is doing, so a
change of a few per cent on the request path shows::

    .venv/bin/python -m benchmarks.instructions p16-get c1-set [--no-persist] [--no-uvloop]
        [--parser auto|python|hiredis] [--pure]

(``--parser python`` is kvstore's own parser: compiled in the compiled build, unless ``--pure``.)

(About half a minute per case; valgrind is Debian's package of that name.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.micro import CASES

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def collected(case: str, repeat: int, options: list[str]) -> int:
    """Instructions callgrind counted for one run of the micro-benchmark."""
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            [
                *("valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out"),
                *(sys.executable, "-m", "benchmarks.micro", "--only", case),
                *("--repeat", str(repeat), *options),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    match = _COLLECTED.search(result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind run of {case} failed:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def per_request(case: str, options: list[str]) -> int:
    requests = CASES[case][1]
    return (collected(case, 3, options) - collected(case, 1, options)) // (2 * requests)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("cases", nargs="+", choices=sorted(CASES), metavar="CASE")
    parser.add_argument("--no-persist", action="store_true", help="run without the log")
    parser.add_argument("--no-uvloop", action="store_true", help="run on asyncio's own loop")
    parser.add_argument(
        "--parser", default="auto", choices=("auto", "python", "hiredis"), help="request parser"
    )
    parser.add_argument("--pure", action="store_true", help="run the pure build (KVSTORE_PURE)")
    args = parser.parse_args()
    os.environ["KVSTORE_PURE"] = "1" if args.pure else "0"  # the runs inherit it
    if shutil.which("valgrind") is None:
        print("valgrind is needed (Debian: valgrind)")
        return 2
    options = (
        ([] if args.no_uvloop else ["--uvloop"])
        + (["--no-persist"] if args.no_persist else [])
        + ["--parser", args.parser]
    )
    for case in args.cases:
        print(f"{case:10} {per_request(case, options):8,} instructions/request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
