"""Latency samples, their percentiles, and an open-loop pacer for fixed offered loads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile; NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class LoadResult:
    """One measured run: what was offered, what arrived, and how long each took."""

    name: str
    offered_per_s: float | None
    """None for a run at the maximum (everything sent at once)."""
    sent: int
    arrived: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @classmethod
    def of(
        cls,
        name: str,
        rate_per_s: float | None,
        keys: Sequence[str],
        sent: Mapping[str, float],
        arrived: Mapping[str, float],
        started: float,
        *,
        gave_up: float | None = None,
    ) -> LoadResult:
        """The run from when each key was sent and arrived (one clock, in seconds).

        With ``gave_up`` (when the wait for arrivals ended), a key that never arrived
        counts as arriving then: a lower bound of its latency, so that a run cut short
        cannot show a better percentile than it had. ``arrived`` counts only real ones."""
        there = [k for k in keys if k in arrived]
        last = max((arrived[k] for k in there), default=started)
        latencies = [(arrived[k] - sent[k]) * 1000 for k in there]
        if gave_up is not None:
            latencies += [
                (gave_up - sent[k]) * 1000 for k in keys if k in sent and k not in arrived
            ]
        return cls(
            name=name,
            offered_per_s=rate_per_s,
            sent=len(keys),
            arrived=len(there),
            seconds=last - started,
            latencies_ms=tuple(latencies),
        )

    @property
    def per_s(self) -> float:
        return self.arrived / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)


async def paced(
    rate_per_s: float, count: int, send: Callable[[int], Awaitable[None]], *, in_flight: int = 256
) -> None:
    """Start ``send(i)`` at ``i / rate`` seconds: an open loop, so a slow system meets
    the load it was offered instead of slowing the sender down (coordinated omission).
    At most ``in_flight`` sends wait at once."""
    gate = asyncio.Semaphore(in_flight)
    started = time.perf_counter()
    tasks = []

    async def one(index: int) -> None:
        try:
            await send(index)
        finally:
            gate.release()

    for index in range(count):
        delay = started + index / rate_per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)


async def at_once(count: int, send: Callable[[int], Awaitable[None]], *, in_flight: int) -> None:
    """Send ``count`` as fast as ``in_flight`` concurrent senders can."""
    queue = iter(range(count))

    async def lane() -> None:
        for index in queue:
            await send(index)

    await asyncio.gather(*(lane() for _ in range(in_flight)))
