"""`hub up --store postgres` runs the router in a child process: the hub must never run
on without it. When the child ends first, the wait for a stop signal ends with an error
that says so; a stop signal ends it without one."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from hub.cli import serve
from hub.core.errors import HubError


class Child:
    def __init__(self, exit_code: int | None) -> None:
        self.exit_code = exit_code
        self.gone = asyncio.Event()

    async def ended(self) -> None:
        await self.gone.wait()


async def test_the_hub_stops_with_an_error_when_the_routers_process_ends_first() -> None:
    child = Child(exit_code=-9)
    waiting = asyncio.create_task(serve._wait_for_stop_signal(child))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not waiting.done(), "the hub runs while its router does"
    child.gone.set()
    with pytest.raises(HubError, match=r"router's process stopped \(killed by SIGKILL\)"):
        await waiting


@pytest.mark.parametrize(
    ("exit_code", "said"),
    [
        (-9, "killed by SIGKILL"),
        (-15, "killed by SIGTERM"),
        (1, "exit code 1; its error is in the log lines above"),
    ],
)
def test_how_the_router_ended_is_said_in_words(exit_code: int, said: str) -> None:
    """A router killed by a signal wrote no log lines: the error must not send the
    operator looking for them (an outside look's finding)."""
    assert serve._ending(exit_code) == said


async def test_a_stop_signal_ends_the_wait_without_an_error() -> None:
    child = Child(exit_code=None)
    waiting = asyncio.create_task(serve._wait_for_stop_signal(child))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(waiting, 5)
