"""The case look-up the router asks before it routes a detention event (KEDO in flow A).

The router depends only on :class:`CaseLookup`. The KEDO connector implements it against
``GET /regie/{bsn}`` and re-identifies at its own edge; until a look-up connector is
configured, :class:`LocalCaseLookup` answers from the case state the ZVHs reported to
the hub, which is the same answer for every client the hub has seen included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.calendar import local_day
from hub.core.errors import RetryableError
from hub.schemas.case import KedoLookupResult, TeamRole
from hub.state.cases import Case, cases_among

LookUp = KedoLookupResult | RetryableError
"""A case, or why it cannot be known for now."""


class CaseLookup(Protocol):
    async def lookup_all(self, subjects: Collection[str]) -> dict[str, LookUp]:
        """The current case of every one of ``subjects``, asked at once: a batch's
        look-ups share their reads. A look-up that fails while the source is down is
        its RetryableError; any other error raises."""
        ...


async def each(
    subjects: Collection[str], ask: Callable[[str], Awaitable[KedoLookupResult]]
) -> dict[str, LookUp]:
    """``ask`` for every subject at once; a RetryableError as its answer, any other
    error raised."""
    ordered = sorted(subjects)
    answers = await asyncio.gather(*(ask(subject) for subject in ordered), return_exceptions=True)
    found: dict[str, LookUp] = {}
    for subject, answer in zip(ordered, answers, strict=True):
        if isinstance(answer, BaseException) and not isinstance(answer, RetryableError):
            raise answer
        found[subject] = answer
    return found


def not_found(now: dt.datetime | None = None) -> KedoLookupResult:
    return KedoLookupResult(found=False, looked_up_at=now or dt.datetime.now(dt.UTC))


class LocalCaseLookup:
    """Answers from the hub's own case state."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def lookup_all(self, subjects: Collection[str]) -> dict[str, LookUp]:
        async with self._sessions() as session:
            cases = await cases_among(session, subjects)
        now = dt.datetime.now(dt.UTC)
        return {subject: self._answer(cases.get(subject), now) for subject in subjects}

    @staticmethod
    def _answer(case: Case | None, now: dt.datetime) -> KedoLookupResult:
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

    async def lookup_all(self, subjects: Collection[str]) -> dict[str, LookUp]:
        return await each(subjects, self.lookup)

    async def lookup(self, subject: str) -> KedoLookupResult:
        self.asked.append(subject)
        return self.answers.get(subject) or not_found()
