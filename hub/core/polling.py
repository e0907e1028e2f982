"""Polling: waiting on state another task fills (the benchmarks and the connector test
kit poll for what they expect to arrive, so a runtime install with no test packages can
run both ``hub bench`` and the hub), and the pause of the hub's own polling loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(ready: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait until ``ready()`` holds; raises TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not ready():  # noqa: ASYNC110 - another task fills the state; nothing to await
            await asyncio.sleep(0.05)


RESTING_PAUSE_S = 2.0
"""The longest pause of the hub's polling loops (the relay, the retry loops): what they
look for is found at most this late, and a hub at rest wakes for it this seldom."""


def next_pause(pause: float, shortest: float, *, busy: bool) -> float:
    """A polling loop's next pause: ``shortest`` after a round that found work (or
    failed), else twice the last, up to RESTING_PAUSE_S. At a fixed half second the
    loops were most of the hub's CPU at rest."""
    return shortest if busy else min(pause * 2, max(shortest, RESTING_PAUSE_S))
