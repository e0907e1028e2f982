"""Waiting on state another task fills: the benchmarks and the connector test kit poll
for what they expect to arrive, so a runtime install (no test packages) can run both
``hub bench`` and the hub."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(ready: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait until ``ready()`` holds; raises TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not ready():  # noqa: ASYNC110 - another task fills the state; nothing to await
            await asyncio.sleep(0.05)
