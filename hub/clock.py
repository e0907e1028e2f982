"""The clock the outbound retry path reads: when a delivery is due again, how long a
partner's circuit breaker stays open, and the pause between rounds of the retry loop.

One seam, so a test can run a partner outage of minutes or hours in seconds by handing
the hub a clock it moves itself; the hub runs on :data:`SYSTEM_CLOCK`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Aware UTC wall time: what the retry queue stores (first failure, next attempt)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back: how long a breaker has been open."""
        ...

    async def sleep(self, seconds: float) -> None:
        """The pause between two rounds of the retry loop."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
