"""What one ``Dispatcher.execute`` costs, in process: nanoseconds per GET and per SET.

Used to weigh what the dispatcher does per command (counting, timing for INFO commandstats and
the slow log). On a busy machine single runs vary a lot, so it reports the fastest of many
short runs, which is the figure least disturbed by other processes. To compare two versions,
run it against each source tree and alternate the runs::

    PYTHONPATH=src python -m benchmarks.dispatch_cost
    PYTHONPATH=/path/to/other/src python -m benchmarks.dispatch_cost
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from kvstore.commands import CommandStats, Dispatcher, ServerState, Session
from kvstore.protocol import encode_reply, make_request_parser

WORKLOADS = {
    "get": [b"GET", b"key:000000000001"],
    "set": [b"SET", b"key:000000000001", b"x" * 32],
}


def fastest_ns(call: object, iterations: int, runs: int) -> float:
    """The fastest of ``runs`` runs of ``iterations`` calls, per call."""
    assert callable(call)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter_ns()
        for _ in range(iterations):
            call()
        best = min(best, (time.perf_counter_ns() - started) / iterations)
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument(
        "--slowlog-off", action="store_true", help="as --slowlog-log-slower-than -1: untimed"
    )
    options = parser.parse_args(argv)
    stats = CommandStats()
    dispatcher = Dispatcher(
        stats=stats, slowlog_log_slower_than=-1 if options.slowlog_off else 10_000
    )
    session = Session(ServerState(stats=stats, runner=dispatcher))
    execute = dispatcher.execute
    execute(session, WORKLOADS["set"])
    request_parser = make_request_parser(use_hiredis=False)
    frame = b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"

    def whole_path() -> None:  # what a connection does per request, socket I/O aside
        for args in request_parser.feed(frame):
            encode_reply(execute(session, args), 2)

    for name, args in WORKLOADS.items():
        ns = fastest_ns(lambda args=args: execute(session, args), options.iterations, options.runs)
        print(f"execute {name}: {ns:.0f} ns")
    ns = fastest_ns(whole_path, options.iterations, options.runs)
    print(f"parse + execute + encode get: {ns:.0f} ns")


if __name__ == "__main__":
    main()
