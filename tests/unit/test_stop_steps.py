"""A stop always ends: a step that hangs is left behind after its bound, named in a
warning, and the steps after it still run (CI once waited 300 s on a stop's teardown)."""

from __future__ import annotations

import asyncio
import time

import pytest
import structlog

from hub import app


async def test_a_step_that_hangs_is_left_behind_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The shipped bound is 30 s; a tenth of a second keeps the test short.
    monkeypatch.setattr(app, "STOP_STEP_S", 0.1)

    released = asyncio.Event()

    async def deaf() -> None:
        while not released.is_set():  # swallows its cancellation, as a hung call can
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    hung = asyncio.ensure_future(deaf())
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        await app._bounded("consumers", hung)
        await app._bounded("database", asyncio.sleep(0))
    assert time.monotonic() - started < 5
    released.set()
    await hung
    assert [(e["event"], e.get("step")) for e in logs] == [("stop_step_timed_out", "consumers")]


async def test_a_step_that_fails_is_named_and_the_stop_goes_on() -> None:
    async def broken() -> None:
        raise OSError("connection reset")

    with structlog.testing.capture_logs() as logs:
        await app._bounded("sources", broken())
    assert [(e["event"], e["step"], e["error"]) for e in logs] == [
        ("stop_step_failed", "sources", "OSError")
    ]
