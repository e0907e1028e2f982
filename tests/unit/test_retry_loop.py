"""The outbound connectors' retry loop at rest: a round that tried nothing doubles the
pause, up to two seconds; a round that tried something, or failed, looks again soon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from hub.connectors.runtime import outbound
from hub.connectors.runtime.outbound import run_retries
from hub.core.polling import RESTING_PAUSE_S


class Stopped(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) == 8:
            raise Stopped


class Runtime:
    def __init__(self) -> None:
        self._clock = Clock()


async def test_the_pause_grows_while_nothing_is_due_and_resets_after_a_try(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds: list[Any] = [[], [], [], ["tried"], [], RuntimeError("store away"), [], []]

    async def retry_round(runtimes: Sequence[Any]) -> list[Any]:
        answer = rounds.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    monkeypatch.setattr(outbound, "retry_round", retry_round)
    runtime = Runtime()
    with pytest.raises(Stopped):
        await run_retries([runtime])  # type: ignore[list-item]
    assert runtime._clock.pauses == [1.0, 2.0, 2.0, 0.5, 1.0, 0.5, 1.0, 2.0]
    assert RESTING_PAUSE_S == 2.0
