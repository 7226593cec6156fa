"""Server-wide statistics that need sampling over time (INFO's instantaneous rates)."""

from __future__ import annotations

from collections import deque

#: Samples averaged, as Redis does: 16 samples 100 ms apart, so the rate of the last 1.6 s.
OPS_SAMPLES = 16


class OpsMeter:
    """A rate from a monotonic counter sampled at intervals."""

    def __init__(self) -> None:
        self._rates: deque[float] = deque(maxlen=OPS_SAMPLES)
        self._last_ms: int | None = None
        self._last_count = 0

    def sample(self, now_ms: int, count: int) -> None:
        last_ms = self._last_ms
        if last_ms is not None and now_ms > last_ms:
            self._rates.append((count - self._last_count) * 1000 / (now_ms - last_ms))
        self._last_ms = now_ms
        self._last_count = count

    def per_second(self) -> int:
        """The average rate over the samples held, 0 before there are any."""
        rates = self._rates
        return round(sum(rates) / len(rates)) if rates else 0
