"""`hub up` and `hub run` run on uvloop where it is installed, on asyncio's loop where not."""

from __future__ import annotations

import sys

import pytest

from hub.event_loop import loop_name, run


async def _kind() -> str:
    return loop_name()


def test_the_hub_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop has no build for this platform")
    assert run(_kind()) == "uvloop"


def test_without_uvloop_the_hub_runs_on_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it cannot be installed
    assert run(_kind()) == "asyncio"
