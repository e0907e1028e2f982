"""Moving clients' state to their new pseudonym after the pseudonym key rotated.

A rotation changes every client's pseudonym, while the hub's state (case, team,
consents, titles, detention, label, data keys, queued and parked work) is keyed by the
old one. Each client is moved once, by whoever meets them first:

- the router, for an event under an old pseudonym (records still in flight) or under the
  new one while the state is still under the old (``Rekeyer.canonical``);
- ``hub keys rotate``, for every client in the identity vault (``rekey_all``).

The move leaves an alias, old → new, so that records still on Kafka, the outbound
runtime's BSN look-up and ``hub audit report`` find the client afterwards. The audit
trail itself is never rewritten: its records keep the pseudonym they were made under,
and its hash chain stays whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.identity.keyring import Keyring
from hub.identity.pseudonym import Pseudonymiser, key_id_of
from hub.identity.vault import IdentityVault
from hub.logs import get_logger
from hub.state import activity
from hub.state.tables import (
    CLIENT_STATE,
    Base,
    HeldItem,
    IdentityVaultEntry,
    PseudonymAlias,
)

log = get_logger(__name__)
ATTEMPTS = 3
T = TypeVar("T")

MOVED: tuple[type[Base], ...] = (*CLIENT_STATE, HeldItem)
"""The tables whose rows follow the client to the new pseudonym. The audit trail, the
outbox, the receipts and the dead letters are records of what happened under the old
one and stay as they were; the alias leads from them to the client."""


@dataclass(frozen=True)
class RekeyReport:
    moved: int
    remaining: int


class Rekeyer:
    def __init__(self, pseudonymiser: Pseudonymiser, vault: IdentityVault, keyring: Keyring):
        self._pseudonymiser = pseudonymiser
        self._vault = vault
        self._keyring = keyring

    def rotating(self, subject: str) -> bool:
        """Whether ``subject`` may need a move: never while one key is all there is."""
        keys = self._pseudonymiser.key_set()
        return len(keys.keys) > 1 or key_id_of(subject) != keys.active_id

    async def resolve(self, sessions: async_sessionmaker[AsyncSession], subject: str) -> str:
        """:meth:`canonical` in a transaction of its own."""

        async def work() -> str:
            async with sessions.begin() as session:
                return await self.canonical(session, subject)

        return await _retried(work)

    async def canonical(self, session: AsyncSession, subject: str) -> str:
        """The pseudonym the client's state lives under now, moving it there first when
        it is still under an older one (in ``session``'s transaction)."""
        alias = await session.get(PseudonymAlias, subject)
        if alias is not None:
            return alias.current
        if not self.rotating(subject):
            return subject
        bsn = await self._vault.reveal(session, subject)
        if bsn is None:
            return subject
        pseudonyms = self._pseudonymiser.all_pseudonyms(bsn)
        target = pseudonyms[0]
        for older in pseudonyms[1:]:
            if await session.get(IdentityVaultEntry, older) is not None:
                await self._move(session, older, target, bsn)
        return target

    async def _move(self, session: AsyncSession, old: str, new: str, bsn: str) -> None:
        await activity.follow(session, old, new)
        for table in MOVED:
            column = table.__table__.c.subject
            await session.execute(update(table).where(column == old).values(subject=new))
        keys = await self._keyring.move(session, old, new)
        entry = await session.get(IdentityVaultEntry, old)
        if entry is not None:
            await session.delete(entry)
            await session.flush()
        await self._vault.remember(session, new, bsn)
        now = dt.datetime.now(dt.UTC)
        await session.execute(
            update(PseudonymAlias).where(PseudonymAlias.current == old).values(current=new)
        )
        if await session.get(PseudonymAlias, old) is None:
            session.add(PseudonymAlias(subject=old, current=new, rekeyed_at=now))
        log.debug("subject_rekeyed", old=old, new=new, data_keys=keys)

    async def rekey_all(
        self, sessions: async_sessionmaker[AsyncSession], *, batch: int = 200
    ) -> RekeyReport:
        """Move every client in the identity vault that is not under the active key yet;
        one transaction per batch, so the hub keeps routing meanwhile."""
        moved, last = 0, ""
        old = IdentityVaultEntry.subject.not_like(f"psn-{self._pseudonymiser.active_key_id}-%")
        while True:

            async def work(after: str = last) -> tuple[list[str], int]:
                async with sessions.begin() as session:
                    todo = list(
                        await session.scalars(
                            select(IdentityVaultEntry.subject)
                            .where(old, IdentityVaultEntry.subject > after)
                            .order_by(IdentityVaultEntry.subject)
                            .limit(batch)
                        )
                    )
                    return todo, sum([await self.canonical(session, s) != s for s in todo])

            todo, count = await _retried(work)
            moved += count
            if not todo:
                break
            last = todo[-1]
        async with sessions() as session:
            remaining = await session.scalar(
                select(func.count()).select_from(IdentityVaultEntry).where(old)
            )
        return RekeyReport(moved=moved, remaining=int(remaining or 0))


async def current_pseudonyms(session: AsyncSession, subjects: Sequence[str]) -> list[str]:
    """The pseudonyms the clients' state lives under now (an old one leads to its new)."""
    rows = await session.execute(
        select(PseudonymAlias.subject, PseudonymAlias.current).where(
            PseudonymAlias.subject.in_(subjects)
        )
    )
    aliases = {old: new for old, new in rows}
    return list(dict.fromkeys(aliases.get(s, s) for s in subjects))


async def earlier_pseudonyms(session: AsyncSession, subjects: Collection[str]) -> dict[str, str]:
    """Every pseudonym the clients ``subjects`` (current ones) had before a rotation,
    leading to the current one."""
    rows = await session.execute(
        select(PseudonymAlias.subject, PseudonymAlias.current).where(
            PseudonymAlias.current.in_(list(subjects))
        )
    )
    return {str(old): str(new) for old, new in rows}


async def with_history(session: AsyncSession, subjects: Sequence[str]) -> list[str]:
    """The clients' current pseudonyms and every one they had before a rotation: what
    the audit trail knows them by."""
    current = await current_pseudonyms(session, subjects)
    older = await session.scalars(
        select(PseudonymAlias.subject).where(PseudonymAlias.current.in_(current))
    )
    return list(dict.fromkeys([*subjects, *current, *older]))


async def _retried(work: Callable[[], Awaitable[T]]) -> T:
    """Another process may move the same client at the same moment; the loser's
    transaction fails on the alias or the BSN link, and a second try finds it moved."""
    for _ in range(ATTEMPTS - 1):
        with contextlib.suppress(IntegrityError):
            return await work()
    return await work()
