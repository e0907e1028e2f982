"""A clock the test moves (a ``hub.clock.Clock``): time stands still until the test
advances it, and whatever sleeps on it (the outbound retry loops) wakes once the time has
passed its pause, so minutes of a partner outage run in milliseconds and the test knows
when each round at the new time is over."""

from __future__ import annotations

import asyncio
import datetime as dt

START = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


class ManualClock:
    def __init__(self, start: dt.datetime = START) -> None:
        self.start = start
        self.elapsed = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._slept = asyncio.Condition()

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self.elapsed + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        async with self._slept:
            self._slept.notify_all()
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def sleeping(self) -> int:
        """How many tasks wait for the time to move."""
        return sum(not future.done() for _, future in self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move the time on, and wake every sleeper whose pause has passed."""
        self.elapsed += seconds
        for end, future in self._sleepers:
            if end <= self.elapsed and not future.done():
                future.set_result(None)

    async def until_sleeping(self, count: int, timeout_s: float = 30.0) -> None:
        """Wait until ``count`` tasks sleep on the clock: every loop finished its round."""
        async with asyncio.timeout(timeout_s), self._slept:
            await self._slept.wait_for(lambda: self.sleeping() >= count)

    async def tick(self, seconds: float) -> None:
        """Advance, then wait until every loop it woke ran its round and sleeps again."""
        sleeping = self.sleeping()
        self.advance(seconds)
        await self.until_sleeping(sleeping)
