"""Statistics over rounds: medians, spreads, and the paired kvstore/Redis ratio.

Rounds are interleaved (Redis, kvstore, Redis, kvstore, ...), so round i of one server ran next
to round i of the other under the same machine load: the ratio is computed per round and its
median is the headline figure, with the min-max and interquartile range of the per-round ratios
as its spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: Decimal places kept in the JSON results.
DIGITS = 4


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        ordered = sorted(values)
        q1, q3 = quartiles(ordered)
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3)

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, DIGITS) for name, value in asdict(self).items()}


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """First and third quartiles, interpolated between ranks (one value: itself)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0]
    q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, q3


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Round-by-round ``numerator / denominator``; rounds with a zero denominator are left out
    (a latency that rounded to 0 ms has no meaningful ratio)."""
    if len(numerators) != len(denominators):
        raise ValueError("paired series must have the same length")
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d > 0]


@dataclass(frozen=True)
class Comparison:
    """One metric for both servers over the same rounds."""

    redis: list[float]
    kvstore: list[float]

    def ratio(self) -> Spread | None:
        ratios = paired_ratios(self.kvstore, self.redis)
        return Spread.of(ratios) if ratios else None

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio()
        return {
            "redis": {"rounds": _rounded(self.redis), **Spread.of(self.redis).as_dict()},
            "kvstore": {"rounds": _rounded(self.kvstore), **Spread.of(self.kvstore).as_dict()},
            "ratio": ratio.as_dict() if ratio else None,
        }


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(value, DIGITS) for value in values]
