"""The clients' state as a batch found it: one query per table for every client of the
batch, read before any event is decided.

An event that changes a client's state (a case, consent, detention or label event)
marks that client; a later event of the same client in the batch reads the client
again (the same queries, for one client, inside the batch's transaction), so it sees
what the earlier one changed. The state changes themselves are written by the state
modules, once; nothing here repeats their logic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from hub.routing.core import Inputs
from hub.schemas.case import KedoLookupResult
from hub.state import cases, consents, detentions, labels
from hub.state.cases import Case
from hub.state.consents import PolicyFacts
from hub.state.detentions import Stay


class Snapshot:
    def __init__(self, now: dt.datetime):
        self._now = now
        self._cases: dict[str, Case] = {}
        self._facts: dict[str, PolicyFacts] = {}
        self._stays: dict[str, Stay] = {}
        self._references: dict[str, dict[str, str]] = {}
        self._changed: set[str] = set()

    @classmethod
    async def load(
        cls, session: AsyncSession, subjects: Collection[str], now: dt.datetime
    ) -> Snapshot:
        snapshot = cls(now)
        await snapshot._read(session, subjects)
        return snapshot

    async def _read(self, session: AsyncSession, subjects: Collection[str]) -> None:
        for subject in subjects:
            self._cases.pop(subject, None)
            self._stays.pop(subject, None)
        self._cases.update(await cases.cases_among(session, subjects))
        self._facts.update(await consents.policy_facts_among(session, subjects, self._now))
        self._stays.update(await detentions.stays_among(session, subjects))
        self._references.update(await labels.references_among(session, subjects))

    def changed(self, subject: str) -> None:
        """An event changed ``subject``'s state: read it again before the next one."""
        self._changed.add(subject)

    async def inputs(
        self, session: AsyncSession, subject: str, found: KedoLookupResult | None
    ) -> Inputs:
        """The decision's inputs for ``subject``, as earlier events of the batch left it."""
        if subject in self._changed:
            await self._read(session, [subject])
            self._changed.discard(subject)
        return Inputs(
            case=self._cases.get(subject),
            found=found,
            facts=self._facts[subject],
            stay=self._stays.get(subject),
            references=self._references[subject],
        )
