"""The case look-up the router asks before it routes a detention event (KEDO in flow A).

The router depends only on :class:`CaseLookup`. The KEDO connector implements it against
``GET /regie/{bsn}`` and re-identifies at its own edge; until a look-up connector is
configured, :class:`LocalCaseLookup` answers from the case state the ZVHs reported to
the hub, which is the same answer for every client the hub has seen included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.calendar import local_day
from hub.schemas.case import KedoLookupResult, TeamRole
from hub.state.cases import load_case


class CaseLookup(Protocol):
    async def lookup(self, subject: str) -> KedoLookupResult:
        """The current case of ``subject``; raises RetryableError while the source is down."""
        ...


def not_found(now: dt.datetime | None = None) -> KedoLookupResult:
    return KedoLookupResult(found=False, looked_up_at=now or dt.datetime.now(dt.UTC))


class LocalCaseLookup:
    """Answers from the hub's own case state."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def lookup(self, subject: str) -> KedoLookupResult:
        async with self._sessions() as session:
            case = await load_case(session, subject)
        now = dt.datetime.now(dt.UTC)
        if case is None or not case.open_on(local_day(now)):
            return not_found(now)
        return KedoLookupResult(
            found=True,
            zvh=case.zvh,
            included=True,
            included_since=case.included_since,
            llc=case.contacts.get(TeamRole.LEVENSLOOPCOORDINATOR),
            casusregisseur=case.contacts.get(TeamRole.CASUSREGISSEUR),
            looked_up_at=now,
        )


class StaticCaseLookup:
    """Fixed answers per subject: the look-up double for tests and demonstrations."""

    def __init__(self, answers: Mapping[str, KedoLookupResult] | None = None):
        self.answers: dict[str, KedoLookupResult] = dict(answers or {})
        self.asked: list[str] = []

    async def lookup(self, subject: str) -> KedoLookupResult:
        self.asked.append(subject)
        return self.answers.get(subject) or not_found()
