"""The event loop the hub's long-running commands run on: uvloop where it is installed
(it is a dependency on every platform it builds for), else asyncio's own. uvloop's loop
costs the hub less CPU per intake (docs/performance.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop, as :func:`asyncio.run` does."""
    try:
        import uvloop
    except ImportError:  # no build for this platform (Windows)
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    """The running loop's kind, for the start-up log: ``uvloop`` or ``asyncio``."""
    return (
        "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
    )
